"""The declared-workflow engine: table checks, refusal codes and order."""

from __future__ import annotations

import pytest

from peer_review.statemachine import SAME, TransitionRefused, Workflow, row


def _door() -> Workflow:
    return Workflow(
        name="door",
        states=("closed", "open", "locked"),
        terminal=frozenset(),
        transitions=(
            row("open", "closed", "open", "guest owner"),
            row("close", "open", "closed", "guest owner"),
            row("lock", "closed", "locked", "owner", pre=["has_key"]),
            row("knock", "closed locked", SAME, "guest"),
        ),
        preconditions={"has_key": lambda ctx: None if ctx.get("key") else "You need the key."},
    )


def test_declared_move_returns_the_row_and_its_target() -> None:
    door = _door()
    transition = door.check("closed", "lock", ["owner"], {"key": True})
    assert transition.target_from("closed") == "locked"
    assert door.check("locked", "knock", ["guest"]).target_from("locked") == "locked"


@pytest.mark.parametrize(
    ("state", "action", "roles", "ctx", "code", "status"),
    [
        ("closed", "fly", ["owner"], {}, "unknown_action", 422),
        ("locked", "open", ["owner"], {}, "undeclared_transition", 409),
        ("closed", "lock", ["guest"], {"key": True}, "role_not_allowed", 403),
        ("closed", "lock", ["owner"], {}, "precondition_failed", 409),
    ],
)
def test_refusals_say_which_check_failed(
    state: str, action: str, roles: list[str], ctx: dict[str, bool], code: str, status: int
) -> None:
    with pytest.raises(TransitionRefused) as caught:
        _door().check(state, action, roles, ctx)
    assert caught.value.code == code
    assert caught.value.status == status


def test_precondition_reason_is_the_message() -> None:
    with pytest.raises(TransitionRefused, match="You need the key"):
        _door().check("closed", "lock", ["owner"], {})


def test_a_typo_in_the_table_fails_at_definition() -> None:
    with pytest.raises(ValueError, match="unknown states"):
        Workflow("w", ("a",), frozenset(), (row("go", "a", "b", "x"),))
    with pytest.raises(ValueError, match="undefined preconditions"):
        Workflow("w", ("a",), frozenset(), (row("go", "a", "a", "x", pre=["nope"]),))


def test_available_lists_what_a_role_can_do() -> None:
    assert [t.action for t in _door().available("closed", ["guest"])] == ["open", "knock"]
    assert _door().describe()[2]["preconditions"] == ["has_key"]
