"""The authorization matrix: every review role × every declared transition, from every state.

The tables in ``peer_review.workflow`` are the single source; this test walks all of them and
checks that :meth:`Workflow.check` allows exactly the roles a row names, refuses every other
role with ``role_not_allowed``, and refuses every undeclared (state, action) pair with
``undeclared_transition``. The role mapping (local user role → review roles) and the home
node's rule on which city may claim which role are checked as tables too.
"""

from __future__ import annotations

import pytest

from peer_review.statemachine import TransitionRefused, Workflow
from peer_review.workflow import ASSIGNMENT, REVIEW, city_may_claim, review_roles_of
from schemas.peer_review import ACTION_DATA, REVIEW_ROLES

ROLES = (*REVIEW_ROLES, "public")
CASES = [
    (workflow, state, action, role)
    for workflow in (REVIEW, ASSIGNMENT)
    for state in workflow.states
    for action in workflow.actions
    for role in ROLES
]


def _expected(workflow: Workflow, state: str, action: str, role: str) -> str:
    rows = workflow.candidates(state, action)
    if not rows:
        return "undeclared_transition"
    return "ok" if any(role in t.roles for t in rows) else "role_not_allowed"


@pytest.mark.parametrize(
    ("workflow", "state", "action", "role"),
    CASES,
    ids=[f"{w.name[:6]}-{s}-{a}-{r}" for w, s, a, r in CASES],
)
def test_every_role_every_transition(
    workflow: Workflow, state: str, action: str, role: str
) -> None:
    expected = _expected(workflow, state, action, role)
    if expected == "ok":
        transition = workflow.check(state, action, [role], enforce_preconditions=False)
        assert role in transition.roles and state in transition.sources
        return
    with pytest.raises(TransitionRefused) as refused:
        workflow.check(state, action, [role], enforce_preconditions=False)
    assert refused.value.code == expected
    assert refused.value.status == (403 if expected == "role_not_allowed" else 409)


def test_the_matrix_is_not_trivial() -> None:
    outcomes = [_expected(w, s, a, r) for w, s, a, r in CASES]
    assert {"ok", "role_not_allowed", "undeclared_transition"} == set(outcomes)
    # The position-committing moves belong to the validating authority alone.
    for action in ("submit", "submit_revision", "respond", "report_follow_up", "withdraw"):
        roles = set().union(*(t.roles for t in REVIEW.transitions if t.action == action))
        assert roles == {"validating_authority"}, action
    # Terminal states allow nothing at all.
    for state in REVIEW.terminal:
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
