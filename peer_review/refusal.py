"""The node's face of a workflow refusal: the table engine's own exception, and a ``DomainError``.

``peer_review.statemachine`` is pure (it imports nothing of ``node/``) and raises
:class:`~peer_review.statemachine.TransitionRefused`. The node's tables (``peer_review.workflow``,
``peer_review.mentoring.workflow``) are built with ``refusal=WorkflowRefusal``, so what they raise
is both: tests and callers may catch the engine's type, and the API, the pages and the inbox turn
it into problem+json / a readable message / a refusal like any other ``DomainError`` — no call
site has to remember to translate it.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from node.errors import DomainError
from node.refusals import Lead, Message
from peer_review.statemachine import TransitionRefused


class WorkflowRefusal(TransitionRefused, DomainError):
    """A move a node's table does not allow (status 409 unless the check says otherwise)."""


# The reviews' and mentoring's refusals in the reader's words (node.refusals): registered by both
# features' init_app (one table, so a code they share has one message). A precondition's message
# is keyed by its name (``precondition_failed:<name>``), with the workflow's context values.
PAGE_MESSAGES: dict[str, Message] = {
    "transition_refused": Lead(_l("This step is not possible in the current state.")),
    "precondition_failed": Lead(_l("This step cannot be taken yet.")),
    "undeclared_transition": _l(
        "This step is not possible at this stage of the work. Reload the page to see the steps "
        "open now."
    ),
    "review_ended": _l("This review has ended: its panel no longer changes."),
    # Review preconditions (peer_review.workflow).
    "precondition_failed:pinned_summary": _l(
        "Pin at least one signed summary of your figures to the review first."
    ),
    "precondition_failed:scope": _l("Say which themes or indicators the review covers."),
    "precondition_failed:questions": _l("Ask at most three guiding questions."),
    "precondition_failed:enough_reviewers": _l(
        "Not enough reviewers have accepted yet: %(accepted_reviewers)s of the "
        "%(min_reviewers)s needed before a round can open."
    ),
    "precondition_failed:reviews_in": _l(
        "Every accepted reviewer must submit their review (or be cancelled) before the round "
        "closes."
    ),
    "precondition_failed:newer_summary": _l(
        "A revision must pin a newer signed summary than the last round."
    ),
    "precondition_failed:recommendations_cosigned": _l(
        "Issue at least one recommendation, co-signed by every city issuing it."
    ),
    "precondition_failed:every_position": _l(
        "Give a position on every recommendation; “noted” needs an explanation."
    ),
    "precondition_failed:follow_up_reported": _l(
        "The reviewed city has not reported on the follow-up yet."
    ),
    "precondition_failed:round_open": _l("Reviews can only be submitted while a round is open."),
    # Mentoring preconditions (peer_review.mentoring.workflow).
    "precondition_failed:twinned": _l(
        "%(partner)s is not an active twin of this city: mentoring is between twins."
    ),
    "precondition_failed:invited_city_answers": _l(
        "The city that proposed cannot answer its own proposal."
    ),
    "precondition_failed:proposer_node": _l(
        "Only the proposing city's node lets its proposal expire."
    ),
    "precondition_failed:answer_overdue": Lead(_l("The proposal may still be answered.")),
    "precondition_failed:has_goal": _l("An agreement needs at least one goal."),
    "precondition_failed:agreement_cosigned": _l(
        "Both cities must first sign the current version of the agreement."
    ),
    "precondition_failed:closure_report_cosigned": _l(
        "Both cities must first sign the current version of the closure report."
    ),
    "precondition_failed:has_notes": _l("Documenting a session needs notes."),
    # Reviews.
    "no_such_review": _l("There is no such review, or you may not see it."),
    "no_such_object": Lead(_l("What this action refers to does not exist in this review.")),
    "not_your_assignment": _l("A city answers only its own invitation."),
    "not_on_panel": _l("This city is not on the review's panel."),
    "invalid_reviewer": _l("The reviewed city and the chair cannot be reviewers."),
    "already_invited": _l("This city is already on the panel: invite it again instead."),
    "duplicate_id": _l("This item was already recorded. Reload the page."),
    "invalid_issuers": _l(
        "The issuing cities must be panel cities (or the chair), yours among them."
    ),
    "not_an_issuer": _l("Only a city issuing a recommendation co-signs it."),
    "review_exists": _l("This review was already submitted."),
    "no_home_node": _l(
        "Join the network secretariat (or name a lead city twinned with you) first: a review "
        "is chaired from another node."
    ),
    "own_review": _l("A city cannot chair its own review."),
    "unknown_home": _l("This city cannot chair: it is not an active partner of this node."),
    "not_a_summary": _l("Only signed summaries of figures can be pinned to a review."),
    "no_such_deadline": _l("There is no such deadline."),
    "no_such_notification": _l("There is no such notification."),
    # Mentoring.
    "not_a_party": _l("This city takes no part in this mentoring relationship."),
    "not_a_city": _l("Mentoring is between two different cities."),
    "unknown_relationship": _l("There is no such mentoring relationship."),
    "relationship_exists": _l("This mentoring relationship already exists."),
    "session_exists": _l("This session already exists."),
    "unknown_session": _l("There is no such session in this relationship."),
    "unknown_document": _l("There is no such document."),
    "unknown_version": _l("There is no such version of this document."),
    "unknown_goal": _l("The closure report can only assess the agreement's goals."),
    "note_exists": _l("This note was already recorded."),
}
