"""The mentoring transition table against the design note, written out here by hand: the state
graph, and the authorization matrix (every mentoring role × every transition, allowed or refused
as the table says), and the local roles that map onto mentoring roles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from node.permissions import CITY_ROLES, SECRETARIAT_ROLES
from peer_review.mentoring.workflow import STATE_ACTIONS, WORKFLOW, mentoring_roles
from peer_review.statemachine import SAME, TransitionRefused
from schemas.mentoring import (
    DOCUMENT_TYPE,
    NOTE_TYPE,
    PROPOSED_TYPE,
    SESSION_TYPE,
    SIGNATURE_TYPE,
    STATES,
    TRANSITION_TYPE,
)

# The design note (peer_review.md, "Mentoring"):
#   proposed → scoping → active ⇄ paused → closing → closed(completed)
#   proposed → declined | expired · scoping → closed(abandoned) · any open → closed(ended_early)
GRAPH = {
    ("propose", "new", "proposed"),
    ("accept", "proposed", "scoping"),
    ("decline", "proposed", "declined"),
    ("expire", "proposed", "expired"),
    ("activate", "scoping", "active"),
    ("pause", "active", "paused"),
    ("resume", "paused", "active"),
    ("start_closing", "active", "closing"),
    ("start_closing", "paused", "closing"),
    ("complete", "closing", "closed"),
    ("abandon", "scoping", "closed"),
    *(("end_early", s, "closed") for s in ("scoping", "active", "paused", "closing")),
}

ROLES = ("mentor_lead", "mentee_lead", "member", "system")
LEADS = {"mentor_lead", "mentee_lead"}
EVERYONE = LEADS | {"member"}
OPEN = {"scoping", "active", "paused", "closing"}
# action: (who may, from which states, message)
MATRIX: dict[str, tuple[set[str], set[str], str | None]] = {
    "propose": (LEADS, {"new"}, PROPOSED_TYPE),
    "accept": (LEADS, {"proposed"}, TRANSITION_TYPE),
    "decline": (LEADS, {"proposed"}, TRANSITION_TYPE),
    "expire": ({"system"}, {"proposed"}, TRANSITION_TYPE),
    "propose_agreement": (LEADS, {"scoping", "active", "paused"}, DOCUMENT_TYPE),
    "sign_agreement": (LEADS, {"scoping", "active", "paused"}, SIGNATURE_TYPE),
    "activate": (LEADS, {"scoping"}, TRANSITION_TYPE),
    "update_action_plan": (EVERYONE, OPEN, DOCUMENT_TYPE),
    "plan_session": (EVERYONE, {"scoping", "active", "paused"}, SESSION_TYPE),
    "hold_session": (EVERYONE, OPEN, SESSION_TYPE),
    "document_session": (EVERYONE, OPEN, SESSION_TYPE),
    "cancel_session": (EVERYONE, OPEN, SESSION_TYPE),
    "add_note": (EVERYONE, OPEN, NOTE_TYPE),
    "midpoint_review": (LEADS, {"active", "paused"}, NOTE_TYPE),
    "add_private_note": (EVERYONE, set(STATES) - {"new"}, None),
    "pause": (LEADS, {"active"}, TRANSITION_TYPE),
    "resume": (LEADS, {"paused"}, TRANSITION_TYPE),
    "start_closing": (LEADS, {"active", "paused"}, TRANSITION_TYPE),
    "propose_closure_report": (LEADS, {"closing"}, DOCUMENT_TYPE),
    "sign_closure_report": (LEADS, {"closing"}, SIGNATURE_TYPE),
    "complete": (LEADS, {"closing"}, TRANSITION_TYPE),
    "abandon": (LEADS, {"scoping"}, TRANSITION_TYPE),
    "end_early": (LEADS, OPEN, TRANSITION_TYPE),
}
NOW = datetime(2026, 3, 1, tzinfo=UTC)


def satisfied(action: str) -> dict[str, Any]:
    """A context in which every precondition of ``action`` holds."""
    return {
        "twinned": True,
        "partner": "it-padova",
        # Expiry is taken by the proposer's node; an answer by the invited city.
        "actor_city": "be-gent",
        "proposer": "be-gent" if action == "expire" else "it-padova",
        "now": NOW,
        "answer_due_at": NOW - timedelta(seconds=1),
        "goals": 1,
        "agreement_cosigned": True,
        "closure_report_cosigned": True,
        "latest_version": True,
        "already_signed": False,
    }


def test_the_state_graph_is_the_design_notes() -> None:
    edges = {
        (t.action, source, t.target)
        for t in WORKFLOW.transitions
        if t.target != SAME
        for source in t.sources
    }
    assert edges == GRAPH
    assert set(STATE_ACTIONS) == {action for action, _s, _t in GRAPH} - {"propose"}
    assert WORKFLOW.terminal == {"closed", "declined", "expired"}
    assert not {t for t in WORKFLOW.transitions if WORKFLOW.terminal & t.sources} - {
        t for t in WORKFLOW.transitions if t.action == "add_private_note"
    }  # nothing leaves a final state (a private note may still be written)


def test_the_table_lists_exactly_these_actions_and_messages() -> None:
    rows = {t.action: t for t in WORKFLOW.transitions}
    assert set(rows) == set(MATRIX) and len(rows) == len(WORKFLOW.transitions)
    for action, (_who, sources, message) in MATRIX.items():
        assert (set(rows[action].sources), rows[action].message) == (sources, message), action
        # Everything that is sent needs the partner to be an active twin.
        assert ("twinned" in rows[action].preconditions) == (message is not None), action


@pytest.mark.parametrize("action", sorted(MATRIX))
@pytest.mark.parametrize("role", ROLES)
def test_every_role_for_every_transition(action: str, role: str) -> None:
    who, sources, _message = MATRIX[action]
    for state in STATES:
        if state not in sources:
            with pytest.raises(TransitionRefused) as refused:
                WORKFLOW.check(state, action, [role], satisfied(action))
            assert refused.value.code == "undeclared_transition", (state, action, role)
            continue
        if role in who:
            found = WORKFLOW.check(state, action, [role], satisfied(action))
            assert found.action == action
        else:
            with pytest.raises(TransitionRefused) as refused:
                WORKFLOW.check(state, action, [role], satisfied(action))
            assert (refused.value.code, refused.value.status) == ("role_not_allowed", 403)


@pytest.mark.parametrize(
    ("action", "state", "broken", "precondition"),
    [
        ("propose", "new", {"twinned": False}, "twinned"),
        ("accept", "proposed", {"proposer": "be-gent"}, "invited_city_answers"),
        ("decline", "proposed", {"proposer": "be-gent"}, "invited_city_answers"),
        ("expire", "proposed", {"proposer": "it-padova"}, "proposer_node"),
        ("expire", "proposed", {"answer_due_at": NOW + timedelta(seconds=1)}, "answer_overdue"),
        ("propose_agreement", "scoping", {"goals": 0}, "has_goal"),
        ("sign_agreement", "active", {"latest_version": False}, "latest_version"),
        ("sign_agreement", "scoping", {"already_signed": True}, "not_signed_yet"),
        ("activate", "scoping", {"agreement_cosigned": False}, "agreement_cosigned"),
        ("complete", "closing", {"closure_report_cosigned": False}, "closure_report_cosigned"),
        ("pause", "active", {"twinned": False}, "twinned"),
    ],
)
def test_each_precondition_refuses(
    action: str, state: str, broken: dict[str, Any], precondition: str
) -> None:
    who, _sources, _message = MATRIX[action]
    with pytest.raises(TransitionRefused) as refused:
        WORKFLOW.check(state, action, who, {**satisfied(action), **broken})
    assert refused.value.code == "precondition_failed"
    assert refused.value.extra["precondition"] == precondition


# Local roles → mentoring roles, by the side this city takes (node.permissions.MENTORING_ROLES).
LOCAL = {
    "admin": {"lead", "member"},
    "official": {"lead", "member"},
    "reviewer": {"member"},
    "data_collector": set(),
    "cso_partner": set(),
    "viewer": set(),
    "secretariat": set(),
}


@pytest.mark.parametrize("local_role", SECRETARIAT_ROLES)
@pytest.mark.parametrize("side", ["mentor", "mentee"])
def test_local_roles_map_onto_mentoring_roles(local_role: str, side: str) -> None:
    expected = {f"{side}_lead" if r == "lead" else r for r in LOCAL[local_role]}
    assert mentoring_roles(local_role, side) == expected
    assert "system" not in mentoring_roles(local_role, side)  # no person lets a proposal expire
    assert set(LOCAL) == set(CITY_ROLES) | {"secretariat"}
