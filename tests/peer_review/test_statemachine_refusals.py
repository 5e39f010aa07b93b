"""``Workflow.check``'s refusals in full (status, code, detail, the facts in ``extra``), the
``row`` helper and ``describe``, on a small workflow written here so every answer is known.

The pages show ``detail``; problem+json carries ``extra`` (state, action, precondition) to
machine clients: both are part of the promise, not only the code.
"""

from __future__ import annotations

import pytest

from peer_review.statemachine import SAME, Transition, TransitionRefused, Workflow, row

DOOR = Workflow(
    name="door",
    states=("closed", "open", "locked"),
    terminal=frozenset(),
    transitions=(
        row("open", "closed", "open", "resident guest"),
        row("close", ["open"], "closed", ["resident", "guest"]),
        row("lock", "closed", "locked", "resident", pre=["has_key"], effects="bolt", message="m"),
        row("knock", "closed open", SAME, "guest"),
    ),
    preconditions={"has_key": lambda ctx: None if ctx.get("key") else "No key."},
)


def _refusal(state: str, action: str, roles: list[str], **kwargs: object) -> TransitionRefused:
    with pytest.raises(TransitionRefused) as refused:
        DOOR.check(state, action, roles, **kwargs)  # type: ignore[arg-type]
    return refused.value


def test_row_reads_strings_and_iterables_alike_with_empty_defaults() -> None:
    assert row("open", "closed", "open", "resident guest") == Transition(
        "open", frozenset({"closed"}), "open", frozenset({"resident", "guest"}), (), "", None
    )
    assert row("close", ["open", "closed"], "closed", ("guest",)) == Transition(
        "close", frozenset({"open", "closed"}), "closed", frozenset({"guest"}), (), "", None
    )
    full = row("lock", "closed", "locked", "resident", pre=["has_key"], effects="e", message="m")
    assert (full.preconditions, full.effects, full.message) == (("has_key",), "e", "m")


def test_unknown_action() -> None:
    refused = _refusal("closed", "fly", ["resident"])
    assert (refused.status, refused.code) == (422, "unknown_action")
    assert refused.detail == "'fly' is not an action of a door."


def test_undeclared_transition() -> None:
    refused = _refusal("locked", "open", ["resident"])
    assert (refused.status, refused.code) == (409, "undeclared_transition")
    assert refused.detail == "A door that is 'locked' cannot 'open'."
    assert refused.extra == {"state": "locked", "action": "open"}


def test_role_not_allowed() -> None:
    refused = _refusal("closed", "open", ["burglar", "cat"])
    assert (refused.status, refused.code) == (403, "role_not_allowed")
    assert refused.detail == "Only guest, resident may 'open' a door that is 'closed'."
    assert refused.extra == {"state": "closed", "action": "open"}


def test_precondition_failed() -> None:
    refused = _refusal("closed", "lock", ["resident"], context={"key": False})
    assert (refused.status, refused.code) == (409, "precondition_failed")
    assert refused.detail == "No key."
    assert refused.extra == {"state": "closed", "action": "lock", "precondition": "has_key"}
    assert DOOR.check("closed", "lock", ["resident"], {"key": True}).target == "locked"


def test_replaying_a_decision_skips_preconditions_but_not_state_or_role() -> None:
    taken = DOOR.check("closed", "lock", ["resident"], {}, enforce_preconditions=False)
    assert taken.target == "locked"
    assert _refusal("closed", "lock", ["guest"], enforce_preconditions=False).code == (
        "role_not_allowed"
    )
    assert _refusal("open", "lock", ["resident"], enforce_preconditions=False).code == (
        "undeclared_transition"
    )


def test_describe_prints_every_row() -> None:
    assert DOOR.describe()[2] == {
        "action": "lock",
        "from": ["closed"],
        "to": "locked",
        "who": ["resident"],
        "preconditions": ["has_key"],
        "effects": "bolt",
        "message": "m",
    }
    assert DOOR.describe()[3]["from"] == ["closed", "open"]
    assert DOOR.describe()[3]["to"] == SAME
