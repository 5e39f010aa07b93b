"""The peer-review authorization matrix, written out here by hand from the rules.

The expected answers come from the design note (``../shared/design/peer_review.md``: roles,
states, "withdrawn (by the CuR, before awaiting_response) · cancelled (by the secretariat)",
"open_round needs at least two accepted reviewers", ...) and the rules of ``docs/peer_review.md``
("Who is who", "Recommendations and co-signatures"), typed in below — never read from
``peer_review.workflow``, the table :meth:`Workflow.check` itself reads. A change to the table
(a focal point allowed to adopt, a precondition dropped, a state added to a row) fails here.

The sweep takes every review role (and ``public``, who holds none) × every action × every state
and checks :meth:`Workflow.check` allows exactly what the table below allows (and leads to the
state it names), refuses every other role with ``role_not_allowed`` (403) and every undeclared
(state, action) pair with ``undeclared_transition`` (409). The precondition *facts* (how many
reviewers are accepted, who has co-signed) are pinned at their edges on a real database in
``test_review_preconditions.py``. The role mapping (local user role → review roles) and the home
node's rule on which city may claim which role are checked as tables too.
"""

from __future__ import annotations

from typing import Any

import pytest

from peer_review.statemachine import SAME, TransitionRefused, Workflow
from peer_review.workflow import ASSIGNMENT, REVIEW, city_may_claim, review_roles_of
from schemas.peer_review import ACTION_DATA, REVIEW_ROLES

ROLES = (*REVIEW_ROLES, "public")

# The review's states, from the design note's graph.
REVIEW_STATES = {
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
    "closed",
    "withdrawn",
    "cancelled",
}
REVIEW_FINAL = {"closed", "withdrawn", "cancelled"}
# Shared by the home node with every participant once the request is submitted: every open
# state but the CuR's local draft (the chair and the secretariat know nothing of a draft).
SHARED_OPEN = REVIEW_STATES - REVIEW_FINAL - {"draft"}
# Comments and threads: from the request until the recommendations leave the factual check.
DISCUSSION = {
    "requested",
    "panel_forming",
    "in_review",
    "consolidating",
    "revision_requested",
    "factual_check",
}
# "withdrawn (by the CuR, before awaiting_response)".
BEFORE_RESPONSE = {
    "draft",
    "requested",
    "panel_forming",
    "in_review",
    "consolidating",
    "revision_requested",
    "factual_check",
}
VA = {"validating_authority"}  # the only role whose actions commit the city's position
CUR = {"validating_authority", "focal_point"}
PANEL = {"reviewer", "chair"}

# action: (who may, from which states, to which state — SAME keeps it, preconditions)
REVIEW_MATRIX: dict[str, tuple[set[str], set[str], str, set[str]]] = {
    "submit": (VA, {"draft"}, "requested", {"pinned_summary", "scope", "questions"}),
    "form_panel": ({"chair"}, {"requested"}, "panel_forming", set()),
    "invite": ({"chair"}, {"requested", "panel_forming", "in_review"}, SAME, set()),
    "open_round": ({"chair"}, {"panel_forming"}, "in_review", {"enough_reviewers"}),
    "close_round": ({"chair"}, {"in_review"}, "consolidating", {"reviews_in"}),
    "request_revision": ({"chair"}, {"consolidating"}, "revision_requested", set()),
    "submit_revision": (VA, {"revision_requested"}, "in_review", {"newer_summary"}),
    "draft_recommendation": (PANEL, {"in_review", "consolidating"}, SAME, set()),
    "cosign_recommendation": (PANEL, {"in_review", "consolidating"}, SAME, set()),
    "start_factual_check": (
        {"chair"},
        {"consolidating"},
        "factual_check",
        {"recommendations_cosigned"},
    ),
    "issue": ({"chair"}, {"factual_check"}, "awaiting_response", set()),
    "respond": (VA, {"awaiting_response"}, "responded", {"every_position"}),
    "adopt": ({"chair"}, {"responded"}, "follow_up", set()),
    "report_follow_up": (VA, {"follow_up"}, SAME, set()),
    "assess": ({"reviewer"}, {"follow_up"}, SAME, set()),
    "close": ({"chair"}, {"follow_up"}, "closed", {"follow_up_reported"}),
    # Observers add stakeholder input (the kind is checked beside the table); they resolve nothing.
    "comment": (PANEL | CUR | {"observer"}, DISCUSSION, SAME, set()),
    "resolve": (PANEL | CUR, DISCUSSION, SAME, set()),
    "widen_readers": ({"chair"}, SHARED_OPEN, SAME, set()),  # nobody but the chair widens
    "extend_deadline": ({"chair"}, SHARED_OPEN, SAME, set()),
    "withdraw": (VA, BEFORE_RESPONSE, "withdrawn", set()),
    "cancel": ({"secretariat"}, SHARED_OPEN, "cancelled", set()),
}

# "invited → accepted | declined → submitted → acknowledged; the chair may cancel, re-invite, or
# send a submitted review back."
ASSIGNMENT_STATES = {"invited", "accepted", "declined", "submitted", "acknowledged", "cancelled"}
ASSIGNMENT_MATRIX: dict[str, tuple[set[str], set[str], str, set[str]]] = {
    "reinvite": ({"chair"}, {"declined", "cancelled"}, "invited", set()),
    "accept": ({"reviewer"}, {"invited"}, "accepted", set()),
    "decline": ({"reviewer"}, {"invited"}, "declined", set()),
    "submit_review": ({"reviewer"}, {"accepted"}, "submitted", {"round_open"}),
    "acknowledge": ({"chair"}, {"submitted"}, "acknowledged", set()),
    "send_back": ({"chair"}, {"submitted"}, "accepted", set()),
    "cancel_assignment": ({"chair"}, {"invited", "accepted", "submitted"}, "cancelled", set()),
}

Matrix = dict[str, tuple[set[str], set[str], str, set[str]]]
TABLES: dict[str, tuple[Workflow, Matrix, set[str]]] = {
    "review": (REVIEW, REVIEW_MATRIX, REVIEW_STATES),
    "assignment": (ASSIGNMENT, ASSIGNMENT_MATRIX, ASSIGNMENT_STATES),
}
# Every precondition holds: the sweep is about roles and states, the facts are tested apart.
SATISFIED: dict[str, Any] = {
    "has_pinned_summary": True,
    "has_scope": True,
    "questions_ok": True,
    "accepted_reviewers": 2,
    "min_reviewers": 2,
    "all_reviews_in": True,
    "has_newer_summary": True,
    "recommendations_cosigned": True,
    "every_position": True,
    "follow_up_reported": True,
    "round_open": True,
}
SWEEP = [
    (table, action, role)
    for table, (_w, matrix, _s) in TABLES.items()
    for action in matrix
    for role in ROLES
]


def test_the_states_and_actions_are_the_design_notes() -> None:
    for workflow, matrix, states in TABLES.values():
        assert set(workflow.states) == states, workflow.name
        assert set(workflow.actions) == set(matrix), workflow.name
    assert REVIEW.terminal == REVIEW_FINAL
    assert ASSIGNMENT.terminal == {"acknowledged"}


@pytest.mark.parametrize(("table", "action", "role"), SWEEP)
def test_every_role_every_transition(table: str, action: str, role: str) -> None:
    """Every state × this action × this role: allowed (to the right state) or refused, and why."""
    workflow, matrix, states = TABLES[table]
    who, sources, target, _pre = matrix[action]
    for state in sorted(states):
        if state not in sources:
            with pytest.raises(TransitionRefused) as refused:
                workflow.check(state, action, [role], SATISFIED)
            assert (refused.value.code, refused.value.status) == (
                "undeclared_transition",
                409,
            ), (state, action, role)
        elif role in who:
            transition = workflow.check(state, action, [role], SATISFIED)
            assert transition.action == action
            expected = state if target == SAME else target
            assert transition.target_from(state) == expected, (state, action)
        else:
            with pytest.raises(TransitionRefused) as refused:
                workflow.check(state, action, [role], SATISFIED)
            assert (refused.value.code, refused.value.status) == ("role_not_allowed", 403), (
                state,
                action,
                role,
            )


@pytest.mark.parametrize(
    ("table", "action"), [(t, a) for t, (_w, m, _s) in TABLES.items() for a in m]
)
def test_each_action_needs_exactly_its_preconditions(table: str, action: str) -> None:
    """Each precondition the rules name, broken alone, refuses the move; no other one does."""
    workflow, matrix, _states = TABLES[table]
    who, sources, _target, needed = matrix[action]
    state, role = sorted(sources)[0], sorted(who)[0]
    broken_one = {
        "pinned_summary": {"has_pinned_summary": False},
        "scope": {"has_scope": False},
        "questions": {"questions_ok": False},
        "enough_reviewers": {"accepted_reviewers": 1},
        "reviews_in": {"all_reviews_in": False},
        "newer_summary": {"has_newer_summary": False},
        "recommendations_cosigned": {"recommendations_cosigned": False},
        "every_position": {"every_position": False},
        "follow_up_reported": {"follow_up_reported": False},
        "round_open": {"round_open": False},
    }
    for name, broken in broken_one.items():
        context = {**SATISFIED, **broken}
        if name in needed:
            with pytest.raises(TransitionRefused) as refused:
                workflow.check(state, action, [role], context)
            assert refused.value.code == "precondition_failed", (action, name)
            assert refused.value.extra["precondition"] == name
        else:
            assert workflow.check(state, action, [role], context).action == action, (action, name)
    # A participant replaying the home's decision checks state and role, not the facts.
    nothing = {key: False for key in SATISFIED} | {"accepted_reviewers": 0}
    assert workflow.check(state, action, [role], nothing, enforce_preconditions=False)


def test_position_committing_moves_and_final_states() -> None:
    """The rules' own summary, as a cross-check of the table above."""
    committing = {a for a, (who, *_rest) in REVIEW_MATRIX.items() if who == VA}
    assert committing == {
        "submit",
        "submit_revision",
        "respond",
        "report_follow_up",
        "withdraw",
    }
    for state in REVIEW_FINAL:
        assert REVIEW.available(state, ROLES) == []


def test_every_action_has_a_wire_shape_and_a_message() -> None:
    declared = set(REVIEW.actions) | set(ASSIGNMENT.actions)
    assert declared == set(ACTION_DATA)
    assert all(
        t.message == "hrc.review.action" for t in REVIEW.transitions + ASSIGNMENT.transitions
    )


CITY, HOME, PANEL = "be-gent", "hrc-secretariat", "fr-lyon"


@pytest.mark.parametrize(
    ("local_role", "this_city", "node_role", "panel", "expected"),
    [
        ("admin", CITY, "city", False, {"validating_authority", "focal_point"}),
        ("official", CITY, "city", False, {"focal_point"}),
        ("cso_partner", CITY, "city", False, {"observer"}),
        ("data_collector", CITY, "city", False, set()),
        ("viewer", CITY, "city", False, set()),
        ("reviewer", CITY, "city", False, set()),
        ("reviewer", PANEL, "city", True, {"reviewer"}),
        ("official", PANEL, "city", True, {"reviewer"}),
        ("admin", PANEL, "city", True, {"reviewer"}),
        ("viewer", PANEL, "city", True, set()),
        ("cso_partner", PANEL, "city", True, set()),
        ("official", PANEL, "city", False, set()),
        ("secretariat", HOME, "secretariat", False, {"chair", "secretariat"}),
        ("admin", HOME, "secretariat", False, {"chair", "secretariat"}),
        ("official", HOME, "secretariat", False, set()),
        ("viewer", HOME, "secretariat", False, set()),
    ],
)
def test_local_roles_map_to_review_roles(
    local_role: str, this_city: str, node_role: str, panel: bool, expected: set[str]
) -> None:
    roles = review_roles_of(
        local_role,
        this_city=this_city,
        node_role=node_role,
        review_home=HOME,
        review_cur=CITY,
        panel=panel,
    )
    assert roles == expected


def test_a_lead_city_chairs_from_its_own_node() -> None:
    roles = review_roles_of(
        "official",
        this_city="nl-utrecht",
        node_role="city",
        review_home="nl-utrecht",
        review_cur=CITY,
        panel=False,
    )
    assert roles == {"chair"}


@pytest.mark.parametrize("role", REVIEW_ROLES)
@pytest.mark.parametrize("city", [CITY, HOME, PANEL, "it-elsewhere"])
def test_which_city_may_claim_which_role(role: str, city: str) -> None:
    expected = {
        "validating_authority": city == CITY,
        "focal_point": city == CITY,
        "observer": city == CITY,
        "reviewer": city == PANEL,
        "chair": city == HOME,
        "secretariat": city == HOME,
    }[role]
    claimed = city_may_claim(
        role, city=city, home=HOME, cur=CITY, panel_cities={PANEL}, home_is_secretariat=True
    )
    assert claimed is expected
