"""The peer-review tables: the review itself and each reviewer's assignment.

Read this file to know who may do what, when, and what crosses between nodes. Every move of a
review — from a page, the API or the federation inbox — goes through
:data:`REVIEW.check <peer_review.statemachine.Workflow.check>` or :data:`ASSIGNMENT.check`.

Review roles (peer_review.md, "Roles") and where they come from:

* ``validating_authority`` — an *admin* of the reviewed city (CuR): the only role whose actions
  commit the city's position (submit, revise, respond, follow-up, withdraw).
* ``focal_point`` — an *official* of the CuR: prepares, answers comments.
* ``observer`` — a *cso_partner* of the CuR (civil society, human-rights institution).
* ``reviewer`` — a *reviewer*, *official* or *admin* of a city on the panel.
* ``chair`` — staff of the home node (the secretariat's *secretariat* / *admin* users, or the
  *admin* / *official* of a lead city chairing from its own node).
* ``secretariat`` — staff of the network secretariat (when it is the home node).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from peer_review.refusal import WorkflowRefusal
from peer_review.statemachine import SAME, Workflow, row
from schemas.peer_review import REVIEW_ACTION_TYPE as REVIEW_ACTION

OPEN_STATES = (
    "draft",
    "requested",
    "panel_forming",
    "in_review",
    "consolidating",
    "revision_requested",
    "factual_check",
    "awaiting_response",
    "responded",
    "follow_up",
)
TERMINAL_STATES = ("closed", "withdrawn", "cancelled")
BEFORE_RESPONSE = OPEN_STATES[:7]  # withdrawal is possible until recommendations are issued
DISCUSSION = "requested panel_forming in_review consolidating revision_requested factual_check"


def _at_least(key: str, minimum_key: str, what: str) -> Any:
    def check(ctx: Mapping[str, Any]) -> str | None:
        have, need = ctx.get(key, 0), ctx.get(minimum_key, 1)
        return None if have >= need else f"{what}: {have} of the {need} needed."

    return check


def _flag(key: str, reason: str) -> Any:
    return lambda ctx: None if ctx.get(key) else reason


PRECONDITIONS = {
    "pinned_summary": _flag(
        "has_pinned_summary", "Pin at least one signed summary version (its envelope hash)."
    ),
    "scope": _flag("has_scope", "Say which themes or indicators the review covers."),
    "questions": _flag("questions_ok", "Ask at most three guiding questions."),
    "enough_reviewers": _at_least(
        "accepted_reviewers", "min_reviewers", "Accepted reviewers before a round can open"
    ),
    "reviews_in": _flag(
        "all_reviews_in",
        "Every accepted reviewer must submit (or be cancelled) before the round closes.",
    ),
    "newer_summary": _flag(
        "has_newer_summary", "A revision must pin a newer signed summary than the last round."
    ),
    "recommendations_cosigned": _flag(
        "recommendations_cosigned",
        "Issue at least one recommendation, co-signed by every city issuing it.",
    ),
    "every_position": _flag(
        "every_position", "Give a position on every recommendation; 'noted' needs an explanation."
    ),
    "follow_up_reported": _flag(
        "follow_up_reported", "The reviewed city has not reported on the follow-up yet."
    ),
    "round_open": _flag("round_open", "Reviews are submitted while a round is open."),
}

CUR_COMMIT = "validating_authority"
CUR_ANY = "validating_authority focal_point"
PANEL = "reviewer chair"

REVIEW = Workflow(
    name="review",
    states=(*OPEN_STATES, *TERMINAL_STATES),
    terminal=frozenset(TERMINAL_STATES),
    preconditions=PRECONDITIONS,
    refusal=WorkflowRefusal,
    # effect=: the handler (peer_review.reviews, bound with REVIEW.with_effects) that applies
    # the row when its event is folded; a row without one only moves the state.
    transitions=(
        row("submit", "draft", "requested", CUR_COMMIT,
            pre=["pinned_summary", "scope", "questions"], message=REVIEW_ACTION,
            effect="store_request",
            effects="creates the review on the home node; the CuR's summaries travel with it"),
        row("form_panel", "requested", "panel_forming", "chair", message=REVIEW_ACTION,
            effects="the chair accepts the request and starts inviting reviewers"),
        row("invite", "requested panel_forming in_review", SAME, "chair", message=REVIEW_ACTION,
            effect="add_to_panel",
            effects="adds a reviewing city to the panel; arms its 14-day answer deadline"),
        row("open_round", "panel_forming", "in_review", "chair", pre=["enough_reviewers"],
            message=REVIEW_ACTION, effect="open_first_round",
            effects="round 1 opens; arms the 6-week review deadline"),
        row("close_round", "in_review", "consolidating", "chair", pre=["reviews_in"],
            message=REVIEW_ACTION),
        row("request_revision", "consolidating", "revision_requested", "chair",
            message=REVIEW_ACTION),
        row("submit_revision", "revision_requested", "in_review", CUR_COMMIT,
            pre=["newer_summary"], message=REVIEW_ACTION, effect="open_next_round",
            effects="round k+1 on the newer summary; endorsements lapse; reviewers submit again"),
        row("draft_recommendation", "in_review consolidating", SAME, PANEL,
            message=REVIEW_ACTION, effect="add_recommendation",
            effects="the author's city co-signs it by sending it"),
        row("cosign_recommendation", "in_review consolidating", SAME, PANEL,
            message=REVIEW_ACTION, effect="cosign_recommendation",
            effects="another issuing city co-signs the same content hash"),
        row("start_factual_check", "consolidating", "factual_check", "chair",
            pre=["recommendations_cosigned"], message=REVIEW_ACTION,
            effects="the CuR sees the recommendations and checks facts"),
        row("issue", "factual_check", "awaiting_response", "chair", message=REVIEW_ACTION,
            effect="arm_response_deadline", effects="arms the 8-week response deadline"),
        row("respond", "awaiting_response", "responded", CUR_COMMIT, pre=["every_position"],
            message=REVIEW_ACTION, effect="record_positions",
            effects="the CuR's position on every recommendation"),
        row("adopt", "responded", "follow_up", "chair", message=REVIEW_ACTION,
            effect="arm_follow_up_deadline",
            effects="outcome public (unless the review chose otherwise); arms the 24-month "
            "follow-up deadline"),
        row("report_follow_up", "follow_up", SAME, CUR_COMMIT, message=REVIEW_ACTION,
            effect="record_follow_up",
            effects="implementation status per recommendation, pointing to newer summaries"),
        row("assess", "follow_up", SAME, "reviewer", message=REVIEW_ACTION,
            effect="record_follow_up", effects="a peer's own assessment beside the CuR's report"),
        row("close", "follow_up", "closed", "chair", pre=["follow_up_reported"],
            message=REVIEW_ACTION),
        row("comment", DISCUSSION, SAME, "reviewer chair focal_point validating_authority",
            message=REVIEW_ACTION, effect="add_comment"),
        row("comment", DISCUSSION, SAME, "observer", message=REVIEW_ACTION,
            effect="add_comment", effects="stakeholder input only"),
        row("resolve", DISCUSSION, SAME, "reviewer chair focal_point validating_authority",
            message=REVIEW_ACTION, effect="resolve_comment"),
        row("widen_readers", " ".join(OPEN_STATES[1:]), SAME, "chair", message=REVIEW_ACTION,
            effect="widen_comment_readers",
            effects="only the chair widens who may read a comment"),
        row("extend_deadline", " ".join(OPEN_STATES[1:]), SAME, "chair", message=REVIEW_ACTION,
            effect="move_deadline", effects="moves a due date on every node (reminders re-arm)"),
        row("withdraw", " ".join(BEFORE_RESPONSE), "withdrawn", CUR_COMMIT,
            message=REVIEW_ACTION),
        row("cancel", " ".join(OPEN_STATES[1:]), "cancelled", "secretariat",
            message=REVIEW_ACTION),
    ),
)  # fmt: skip

ASSIGNMENT = Workflow(
    name="reviewer assignment",
    states=("invited", "accepted", "declined", "submitted", "acknowledged", "cancelled"),
    terminal=frozenset({"acknowledged"}),
    preconditions=PRECONDITIONS,
    refusal=WorkflowRefusal,
    transitions=(
        row("reinvite", "declined cancelled", "invited", "chair", message=REVIEW_ACTION,
            effect="arm_invitation", effects="the invited city's 14-day answer deadline again"),
        row("accept", "invited", "accepted", "reviewer", message=REVIEW_ACTION,
            effect="answer_invitation", effects="the invitation's answer deadline is met"),
        row("decline", "invited", "declined", "reviewer", message=REVIEW_ACTION,
            effect="answer_invitation", effects="the invitation's answer deadline is met"),
        row("submit_review", "accepted", "submitted", "reviewer", pre=["round_open"],
            message=REVIEW_ACTION, effect="record_review",
            effects="verdict; an endorsement records the hash endorsed"),
        row("acknowledge", "submitted", "acknowledged", "chair", message=REVIEW_ACTION),
        row("send_back", "submitted", "accepted", "chair", message=REVIEW_ACTION),
        row("cancel_assignment", "invited accepted submitted", "cancelled", "chair",
            message=REVIEW_ACTION, effect="close_assignment",
            effects="the city's deadlines on this review close"),
    ),
)  # fmt: skip

ASSIGNMENT_ACTIONS = frozenset(ASSIGNMENT.actions)
REVIEW_ROLES = (
    "validating_authority",
    "focal_point",
    "observer",
    "reviewer",
    "chair",
    "secretariat",
)


def review_roles_of(
    local_role: str,
    *,
    this_city: str,
    node_role: str,
    review_home: str,
    review_cur: str,
    panel: bool,
) -> set[str]:
    """The review roles a user of ``this_city`` with ``local_role`` holds in one review.

    One mapping for pages, API and tests. City-level facts (is this node the CuR, the home,
    on the panel?) come from the review; the user's role on their own node decides the rest.
    """
    roles: set[str] = set()
    if this_city == review_cur:
        if local_role == "admin":
            roles |= {"validating_authority", "focal_point"}
        elif local_role == "official":
            roles.add("focal_point")
        elif local_role == "cso_partner":
            roles.add("observer")
    if panel and local_role in ("reviewer", "official", "admin"):
        roles.add("reviewer")
    if this_city == review_home:
        if node_role == "secretariat" and local_role in ("secretariat", "admin"):
            roles |= {"chair", "secretariat"}
        elif node_role != "secretariat" and local_role in ("admin", "official"):
            roles.add("chair")
    return roles


def city_may_claim(
    role: str, *, city: str, home: str, cur: str, panel_cities: set[str], home_is_secretariat: bool
) -> bool:
    """Whether an action envelope from ``city`` may claim review ``role`` (checked on the home).

    A city vouches for its own users' roles — its signature commits it — but it can only claim
    roles its *city* holds in this review: a reviewing city cannot act as the CuR or the chair.
    """
    if role in ("validating_authority", "focal_point", "observer"):
        return city == cur
    if role == "reviewer":
        return city in panel_cities
    if role == "chair":
        return city == home
    if role == "secretariat":
        return city == home and home_is_secretariat
    return False
