"""The mentoring tables: the relationship between two twinned cities, and each of its sessions.

```
proposed → scoping → active ⇄ paused → closing → closed(completed)
proposed → declined | expired · scoping → closed(abandoned) · any open → closed(ended_early)
```

One table (:data:`WORKFLOW`) declares every move: from, to, who (mentoring roles), the
preconditions, the effects and the federated message that carries it. Local actions (API, pages,
the expiry job) and messages from the partner city (``peer_review.mentoring.inbound``) go through
the same check (:func:`peer_review.mentoring.checks.check`) and the same effect handlers
(:data:`peer_review.mentoring.effects.EFFECTS`, bound to this table: a row naming an effect
without a handler does not load), so both nodes hold the same state.

Pure data and predicates: no database, no network.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from node.permissions import MENTORING_ROLES
from peer_review import deadlines
from peer_review.refusal import WorkflowRefusal
from peer_review.statemachine import SAME, TableError, Transition, Workflow, row
from schemas.mentoring import (
    DOCUMENT_TYPE,
    NOTE_TYPE,
    PROPOSED_TYPE,
    SESSION_STATES,
    SESSION_TYPE,
    SIGNATURE_TYPE,
    STATES,
    TRANSITION_TYPE,
)

LEADS = "mentor_lead mentee_lead"
ANYONE = "mentor_lead mentee_lead member"
OPEN = "scoping active paused closing"
TERMINAL = frozenset({"closed", "declined", "expired"})
ANSWER_PERIOD = deadlines.DEFAULT_PERIODS["mentoring_answer"]
AGREEMENT_PERIOD = deadlines.DEFAULT_PERIODS["mentoring_agreement"]
NOTES_PERIOD = deadlines.DEFAULT_PERIODS["session_notes"]
OUTCOME_OF = {"complete": "completed", "abandon": "abandoned", "end_early": "ended_early"}
# Preference when a user holds several roles that a row allows: the message says the most
# specific one (a lead who plans a session acts as the lead).
ROLE_ORDER = ("mentor_lead", "mentee_lead", "member", "system")


# --- the table --------------------------------------------------------------------------------


def _fed(
    action: str,
    sources: str,
    target: str,
    roles: str,
    message: str,
    *,
    pre: tuple[str, ...] = (),
    effect: str | None = None,
    effects: str = "",
) -> Transition:
    """A federated row: it is sent to the partner, so the partner must be an active twin."""
    return row(
        action,
        sources,
        target,
        roles,
        pre=("twinned", *pre),
        effects=effects,
        message=message,
        effect=effect,
    )


def _cosigned(ctx: Mapping[str, Any], kind: str) -> str | None:
    if ctx[f"{kind}_cosigned"]:
        return None
    what = "agreement (with at least one goal)" if kind == "agreement" else "closure report"
    return f"Both cities must first sign the current version of the {what}."


PRECONDITIONS = {
    "twinned": lambda c: (
        None
        if c["twinned"]
        else f"{c['partner']} is not an active twin of this city: mentoring is between twins."
    ),
    "invited_city_answers": lambda c: (
        None
        if c["actor_city"] != c["proposer"]
        else "The city that proposed cannot answer its own proposal."
    ),
    "proposer_node": lambda c: (
        None
        if c["actor_city"] == c["proposer"]
        else "Only the proposing city's node lets its proposal expire."
    ),
    "answer_overdue": lambda c: (
        None
        if c["now"] >= c["answer_due_at"]
        else f"The proposal may be answered until {c['answer_due_at']:%Y-%m-%d %H:%M} UTC."
    ),
    "has_goal": lambda c: (
        None if c.get("goals", 0) >= 1 else "An agreement needs at least one goal."
    ),
    "agreement_cosigned": lambda c: _cosigned(c, "agreement"),
    "closure_report_cosigned": lambda c: _cosigned(c, "closure_report"),
    "latest_version": lambda c: (
        None
        if c.get("latest_version")
        else "Only the current version can be signed (there is none, or a newer one)."
    ),
    "not_signed_yet": lambda c: (
        None
        if not c.get("already_signed")
        else f"{c['actor_city']} has already signed this version."
    ),
}

# fmt: off
# One row per move: action, from, to, who, message; then preconditions and effects (effect=:
# the handler in peer_review.mentoring.effects; a row without one only moves the state, its
# deadlines following the state it enters).
WORKFLOW = Workflow(
    name="mentoring relationship",
    states=STATES,
    terminal=TERMINAL,
    refusal=WorkflowRefusal,
    transitions=(
        _fed("propose", "new", "proposed", LEADS, PROPOSED_TYPE,
             effects="the invited city's answer is due in 21 days (mentoring_answer)"),
        _fed("accept", "proposed", "scoping", LEADS, TRANSITION_TYPE,
             pre=("invited_city_answers",), effect="record_acceptance",
             effects="answer deadline met; agreement due in 45 days (mentoring_agreement)"),
        _fed("decline", "proposed", "declined", LEADS, TRANSITION_TYPE,
             pre=("invited_city_answers",), effects="answer deadline met"),
        _fed("expire", "proposed", "expired", "system", TRANSITION_TYPE,
             pre=("proposer_node", "answer_overdue"),
             effects="taken by the proposing node's scheduler (job mentoring_expiry)"),
        _fed("propose_agreement", "scoping active paused", SAME, LEADS, DOCUMENT_TYPE,
             pre=("has_goal",), effect="add_document",
             effects="a new agreement version; both cities must sign it again"),
        _fed("sign_agreement", "scoping active paused", SAME, LEADS, SIGNATURE_TYPE,
             pre=("latest_version", "not_signed_yet"), effect="add_signature",
             effects="this city signs the version's hash in its own envelope"),
        _fed("activate", "scoping", "active", LEADS, TRANSITION_TYPE,
             pre=("agreement_cosigned",), effect="record_activation",
             effects="agreement deadline met"),
        _fed("update_action_plan", OPEN, SAME, ANYONE, DOCUMENT_TYPE, effect="add_document",
             effects="a new action plan version (every version is kept)"),
        _fed("plan_session", "scoping active paused", SAME, ANYONE, SESSION_TYPE,
             effect="plan_session", effects="a planned session (title, date, agenda)"),
        _fed("hold_session", OPEN, SAME, ANYONE, SESSION_TYPE, effect="hold_session",
             effects="shared notes due in 7 days (session_notes)"),
        _fed("document_session", OPEN, SAME, ANYONE, SESSION_TYPE, effect="document_session",
             effects="the shared notes; session_notes deadline met"),
        _fed("cancel_session", OPEN, SAME, ANYONE, SESSION_TYPE, effect="cancel_session",
             effects="session_notes deadline closed"),
        _fed("add_note", OPEN, SAME, ANYONE, NOTE_TYPE, effect="store_note",
             effects="a shared progress note"),
        _fed("midpoint_review", "active paused", SAME, LEADS, NOTE_TYPE, effect="store_note",
             effects="a shared note of kind midpoint"),
        row("add_private_note", [s for s in STATES if s != "new"], SAME, ANYONE,
            effect="store_note", effects="kept on this node only, never sent"),
        _fed("pause", "active", "paused", LEADS, TRANSITION_TYPE),
        _fed("resume", "paused", "active", LEADS, TRANSITION_TYPE),
        _fed("start_closing", "active paused", "closing", LEADS, TRANSITION_TYPE),
        _fed("propose_closure_report", "closing", SAME, LEADS, DOCUMENT_TYPE,
             effect="add_document",
             effects="a new closure report version; both cities must sign it again"),
        _fed("sign_closure_report", "closing", SAME, LEADS, SIGNATURE_TYPE,
             pre=("latest_version", "not_signed_yet"), effect="add_signature"),
        _fed("complete", "closing", "closed", LEADS, TRANSITION_TYPE,
             pre=("closure_report_cosigned",),
             effects="outcome completed; every deadline closed"),
        _fed("abandon", "scoping", "closed", LEADS, TRANSITION_TYPE,
             effects="outcome abandoned; every deadline closed"),
        _fed("end_early", OPEN, "closed", LEADS, TRANSITION_TYPE,
             effects="outcome ended_early; every deadline closed"),
    ),
    preconditions=PRECONDITIONS,
)
# fmt: on

SESSION_WORKFLOW = Workflow(
    name="mentoring session",
    states=SESSION_STATES,
    terminal=frozenset({"documented", "cancelled"}),
    refusal=WorkflowRefusal,
    transitions=(
        row("plan_session", "new", "planned", ANYONE),
        row("hold_session", "planned", "held", ANYONE),
        row("document_session", "held", "documented", ANYONE, pre=["has_notes"]),
        row("cancel_session", "planned", "cancelled", ANYONE),
    ),
    preconditions={
        "has_notes": lambda c: None if c.get("notes") else "Documenting a session needs notes.",
    },
)


def _check_outcomes(workflow: Workflow, outcomes: dict[str, str]) -> None:
    """Every move into ``closed`` says its outcome, and only those: an outcome is data of the
    table, read by the services with ``OUTCOME_OF.get(action)`` (None: the relationship is not
    closed by that action)."""
    closing = {t.action for t in workflow.transitions if t.target == "closed"}
    if closing != set(outcomes):
        raise TableError(
            f"{workflow.name}: outcomes for {sorted(outcomes)}, but {sorted(closing)} close it",
            code="outcome_mismatch",
        )


_check_outcomes(WORKFLOW, OUTCOME_OF)

SESSION_TARGETS = {t.action: t.target for t in SESSION_WORKFLOW.transitions}
STATE_ACTIONS = tuple(t.action for t in WORKFLOW.transitions if t.message == TRANSITION_TYPE)
DOCUMENT_ACTIONS = {
    "agreement": "propose_agreement",
    "closure_report": "propose_closure_report",
    "action_plan": "update_action_plan",
}
SIGN_ACTIONS = {"agreement": "sign_agreement", "closure_report": "sign_closure_report"}
SESSION_ACTIONS = {
    "plan": "plan_session",
    "hold": "hold_session",
    "document": "document_session",
    "cancel": "cancel_session",
}
NOTE_ACTIONS = {
    "progress": "add_note",
    "midpoint": "midpoint_review",
    "private": "add_private_note",
}


def local_roles_with(generic: str) -> list[str]:
    """Local roles that hold ``lead`` or ``member`` (deadline recipients)."""
    return sorted(role for role, held in MENTORING_ROLES.items() if generic in held)


def mentoring_roles(local_role: str, side: str) -> frozenset[str]:
    """The mentoring roles a user with ``local_role`` holds in a relationship where this city
    is ``side`` (``mentor`` or ``mentee``)."""
    return frozenset(
        f"{side}_lead" if generic == "lead" else generic
        for generic in MENTORING_ROLES.get(local_role, ())
    )
