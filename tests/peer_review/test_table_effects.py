"""Tables own their effects: a row names its effect, the feature binds the handlers, and binding
refuses a row without a handler and a handler without a row — when the module loads, never on a
user's click. On main the effects were text and the handlers a separate dict read with
``.get()``: a forgotten entry made an action silently do nothing (these tests fail there: there
is no ``effect=`` nor ``with_effects``)."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from node.errors import DomainError
from peer_review.statemachine import SAME, TableError, TransitionRefused, Workflow, row


def _door(*, lock_effect: str | None = "bolt") -> Workflow:
    return Workflow(
        name="door",
        states=("closed", "open", "locked"),
        terminal=frozenset(),
        transitions=(
            row("open", "closed", "open", "guest owner", effect="swing"),
            row("close", "open", "closed", "guest owner", effect="swing"),
            row("lock", "closed", "locked", "owner", effect=lock_effect),
            row("knock", "closed locked", SAME, "guest"),
        ),
    )


def _swing(log: list[Any], *args: Any, **kwargs: Any) -> str:
    log.append(("swing", args, kwargs))
    return "swung"


def _bolt(log: list[Any], *args: Any, **kwargs: Any) -> str:
    log.append(("bolt", args, kwargs))
    return "bolted"


def test_a_row_naming_an_effect_without_a_handler_does_not_load() -> None:
    with pytest.raises(TableError) as refused:
        _door().with_effects({"swing": _swing})
    assert refused.value.code == "effect_without_handler"
    assert str(refused.value) == "door.lock: effect 'bolt' has no handler"


def test_a_handler_that_no_row_names_does_not_load() -> None:
    with pytest.raises(TableError) as refused:
        _door().with_effects({"swing": _swing, "bolt": _bolt, "paint": _bolt})
    assert refused.value.code == "handler_without_row"
    assert str(refused.value) == "door: handlers ['paint'] are the effect of no row"
    # The row losing its effect leaves "bolt" a handler of nothing: refused the same way.
    with pytest.raises(TableError) as stray:
        _door(lock_effect=None).with_effects({"swing": _swing, "bolt": _bolt})
    assert (stray.value.code, str(stray.value)) == (
        "handler_without_row",
        "door: handlers ['bolt'] are the effect of no row",
    )


def test_two_rows_of_one_action_cannot_name_different_effects() -> None:
    with pytest.raises(TableError) as refused:
        Workflow(
            "w",
            ("a", "b"),
            frozenset(),
            (row("go", "a", "b", "x", effect="walk"), row("go", "b", "a", "y", effect="run")),
        )
    assert refused.value.code == "effect_conflict"
    assert str(refused.value) == "w.go: rows name different effects (walk, run)"


def test_an_exactly_bound_table_runs_the_effect_its_row_names() -> None:
    bound = _door().with_effects({"swing": _swing, "bolt": _bolt})
    log: list[Any] = []
    assert bound.apply("lock", log, 1, 2, key="brass") == "bolted"
    assert bound.apply("open", log) == "swung"
    assert bound.apply("close", log) == "swung"
    assert bound.apply("knock", log) is None  # a row without effect only moves the state
    assert log == [("bolt", (1, 2), {"key": "brass"}), ("swing", (), {}), ("swing", (), {})]
    with pytest.raises(TableError) as unknown:
        bound.apply("fly", log)
    assert (unknown.value.code, str(unknown.value)) == (
        "unknown_action",
        "'fly' is not an action of a door",
    )
    assert len(log) == 3
    # What the table says of each action, the unknown one included.
    assert [_door().effect_of(a) for a in ("open", "lock", "knock", "fly")] == [
        "swing",
        "bolt",
        None,
        None,
    ]


def test_table_errors_are_value_errors_with_a_code() -> None:
    # The table's own typos keep failing at definition, now with a machine code.
    with pytest.raises(TableError) as states:
        Workflow("w", ("a",), frozenset(), (row("go", "a", "b", "x"),))
    assert states.value.code == "unknown_state"
    assert isinstance(states.value, ValueError)
    with pytest.raises(TableError) as pre:
        Workflow("w", ("a",), frozenset(), (row("go", "a", "a", "x", pre=["nope"]),))
    assert (pre.value.code, str(pre.value)) == (
        "undefined_precondition",
        "w.go: undefined preconditions {'nope'}",
    )


# --- the node's tables ----------------------------------------------------------------------------

# Actions whose fold did something beyond the state change on main (peer_review.reviews._FOLDERS):
# each must name an effect now, and no other action may.
REVIEW_ACTIONS_WITH_EFFECTS = {
    "submit",
    "invite",
    "open_round",
    "submit_revision",
    "draft_recommendation",
    "cosign_recommendation",
    "issue",
    "respond",
    "adopt",
    "report_follow_up",
    "assess",
    "comment",
    "resolve",
    "widen_readers",
    "extend_deadline",
}


def test_the_review_table_binds_exactly_its_named_effects() -> None:
    from peer_review.reviews.services.projection import REVIEW_EFFECTS
    from peer_review.workflow import REVIEW

    assert set(REVIEW_EFFECTS.handlers) == REVIEW.effects
    with_effect = {a for a in REVIEW.actions if REVIEW.effect_of(a) is not None}
    assert with_effect == REVIEW_ACTIONS_WITH_EFFECTS
    # Dropping one handler is refused at load (on main, _FOLDERS.get() returned None silently).
    fewer = {k: v for k, v in REVIEW_EFFECTS.handlers.items() if k != "record_positions"}
    with pytest.raises(TableError) as refused:
        REVIEW.with_effects(fewer)
    assert refused.value.code == "effect_without_handler"
    assert "review.respond" in str(refused.value)


def test_the_assignment_table_binds_exactly_its_named_effects() -> None:
    from peer_review.reviews.services.projection import ASSIGNMENT_EFFECTS
    from peer_review.workflow import ASSIGNMENT

    assert set(ASSIGNMENT_EFFECTS.handlers) == ASSIGNMENT.effects
    # On main, _fold_assignment's if/elif did something for these actions only.
    with_effect = {a for a in ASSIGNMENT.actions if ASSIGNMENT.effect_of(a) is not None}
    assert with_effect == {"reinvite", "accept", "decline", "submit_review", "cancel_assignment"}


def test_the_mentoring_table_binds_exactly_its_named_effects() -> None:
    from peer_review.mentoring.effects import EFFECTS
    from peer_review.mentoring.workflow import WORKFLOW

    assert set(EFFECTS.handlers) == WORKFLOW.effects
    with_effect = {a: WORKFLOW.effect_of(a) for a in WORKFLOW.actions if WORKFLOW.effect_of(a)}
    assert with_effect == {
        "accept": "record_acceptance",
        "activate": "record_activation",
        "propose_agreement": "add_document",
        "update_action_plan": "add_document",
        "propose_closure_report": "add_document",
        "sign_agreement": "add_signature",
        "sign_closure_report": "add_signature",
        "plan_session": "plan_session",
        "hold_session": "hold_session",
        "document_session": "document_session",
        "cancel_session": "cancel_session",
        "add_note": "store_note",
        "midpoint_review": "store_note",
        "add_private_note": "store_note",
    }


def test_every_move_into_closed_says_its_outcome_or_the_table_does_not_load() -> None:
    from peer_review.mentoring.workflow import OUTCOME_OF, WORKFLOW, _check_outcomes

    _check_outcomes(WORKFLOW, OUTCOME_OF)  # the real table loads
    missing = {k: v for k, v in OUTCOME_OF.items() if k != "end_early"}
    with pytest.raises(TableError) as refused:
        _check_outcomes(WORKFLOW, missing)
    assert refused.value.code == "outcome_mismatch"
    with pytest.raises(TableError):
        _check_outcomes(WORKFLOW, {**OUTCOME_OF, "pause": "paused"})


# --- the engine is pure; the node's tables refuse with problem+json ----------------------------


def test_the_table_engine_imports_nothing_of_node() -> None:
    # A fresh interpreter: on main, importing the engine loaded node.errors.
    code = (
        "import sys, peer_review.statemachine\n"
        "print(sorted(m for m in sys.modules if m == 'node' or m.startswith('node.')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "[]"


def test_a_bare_table_raises_the_engines_refusal_and_a_node_table_a_domain_error() -> None:
    with pytest.raises(TransitionRefused) as bare:
        _door().check("locked", "open", ["owner"])
    assert not isinstance(bare.value, DomainError)
    from peer_review.mentoring.workflow import WORKFLOW
    from peer_review.workflow import ASSIGNMENT, REVIEW

    for table in (REVIEW, ASSIGNMENT, WORKFLOW):
        with pytest.raises(TransitionRefused) as refused:
            table.check(table.states[0], "fly", ["chair"])
        assert isinstance(refused.value, DomainError), table.name
        problem = refused.value.to_problem()  # type: ignore[attr-defined]
        assert (problem["status"], problem["code"], problem["title"]) == (
            422,
            "unknown_action",
            "Transition refused",
        )
        assert problem["detail"] == f"'fly' is not an action of a {table.name}."


def test_a_table_refuses_a_refusal_type_that_is_not_the_engines() -> None:
    class Stranger(Exception):
        pass

    with pytest.raises(TableError) as refused:
        Workflow("w", ("a",), frozenset(), (row("go", "a", "a", "x"),), refusal=Stranger)  # type: ignore[arg-type]
    assert (refused.value.code, str(refused.value)) == (
        "bad_refusal_type",
        "w: refusal must be a TransitionRefused",
    )
