"""Declared workflows: one table of transitions per object, one function that checks a move.

Every workflow of this package (peer reviews, reviewer assignments, mentoring) is a
:class:`Workflow`: a list of :class:`Transition` rows saying *from* which states an action may be
taken, *to* which state it leads, *who* may take it, which *preconditions* must hold, what it
*does* and which federated message carries it. The web pages, the API and the federation inbox
all call :meth:`Workflow.check` — there is no other path to a state change, so a page cannot
allow what the inbox would refuse.

Pure code: no database, no Flask. Preconditions are named predicates over a context mapping the
caller builds (for example ``{"accepted_reviewers": 2, "min_reviewers": 2}``), which keeps the
table printable and testable on its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from node.errors import DomainError

SAME = "="  # a transition that keeps the state (comments, co-signatures, assessments...)

Precondition = Callable[[Mapping[str, Any]], str | None]
"""Returns ``None`` when satisfied, else the readable reason it is not."""


class TransitionRefused(DomainError):
    """A move the table does not allow; ``code`` says which check failed."""

    title = "Transition refused"
    status = 409


@dataclass(frozen=True)
class Transition:
    """One row of a workflow table."""

    action: str
    sources: frozenset[str]
    target: str
    roles: frozenset[str]
    preconditions: tuple[str, ...] = ()
    effects: str = ""
    message: str | None = None  # federated envelope that carries it; None = stays local

    def target_from(self, state: str) -> str:
        """The state after this transition taken from ``state``."""
        return state if self.target == SAME else self.target


def row(
    action: str,
    sources: str | Iterable[str],
    target: str,
    roles: str | Iterable[str],
    *,
    pre: Iterable[str] = (),
    effects: str = "",
    message: str | None = None,
) -> Transition:
    """A table row; ``sources`` and ``roles`` accept a space-separated string for readability."""

    def as_set(value: str | Iterable[str]) -> frozenset[str]:
        return frozenset(value.split() if isinstance(value, str) else value)

    return Transition(action, as_set(sources), target, as_set(roles), tuple(pre), effects, message)


@dataclass(frozen=True)
class Workflow:
    """A named state graph with its transitions and precondition predicates."""

    name: str
    states: tuple[str, ...]
    terminal: frozenset[str]
    transitions: tuple[Transition, ...]
    preconditions: Mapping[str, Precondition] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # The table is data: catch a typo in it at import time, not on a user's click.
        known = set(self.states)
        for t in self.transitions:
            unknown = (t.sources | ({t.target} - {SAME})) - known
            if unknown:
                raise ValueError(f"{self.name}.{t.action}: unknown states {sorted(unknown)}")
            missing = set(t.preconditions) - set(self.preconditions)
            if missing:
                raise ValueError(f"{self.name}.{t.action}: undefined preconditions {missing}")

    @property
    def actions(self) -> tuple[str, ...]:
        """Every declared action name, in table order, without repeats."""
        return tuple(dict.fromkeys(t.action for t in self.transitions))

    def candidates(self, state: str, action: str) -> list[Transition]:
        return [t for t in self.transitions if t.action == action and state in t.sources]

    def available(self, state: str, roles: Iterable[str]) -> list[Transition]:
        """Transitions open to someone holding any of ``roles`` in ``state`` (for pages)."""
        held = set(roles)
        return [t for t in self.transitions if state in t.sources and t.roles & held]

    def check(
        self,
        state: str,
        action: str,
        roles: Iterable[str],
        context: Mapping[str, Any] | None = None,
        *,
        enforce_preconditions: bool = True,
    ) -> Transition:
        """Return the transition for ``action`` from ``state`` by a holder of ``roles``.

        Refusals, in this order: unknown action (422 ``unknown_action``), not declared from this
        state (409 ``undeclared_transition``), role not in the row (403 ``role_not_allowed``), a
        precondition not met (409 ``precondition_failed``, the reason in ``detail``).
        ``enforce_preconditions=False`` is for a participant replaying the home node's decision
        without all the facts it was based on (bodies it may not read): state and role still
        have to match the table.
        """
        if action not in self.actions:
            raise TransitionRefused(
                f"'{action}' is not an action of a {self.name}.", code="unknown_action", status=422
            )
        rows = self.candidates(state, action)
        if not rows:
            raise TransitionRefused(
                f"A {self.name} that is '{state}' cannot '{action}'.",
                code="undeclared_transition",
                extra={"state": state, "action": action},
            )
        held = set(roles)
        permitted = [t for t in rows if t.roles & held]
        if not permitted:
            allowed = sorted(set().union(*(t.roles for t in rows)))
            raise TransitionRefused(
                f"Only {', '.join(allowed)} may '{action}' a {self.name} that is '{state}'.",
                code="role_not_allowed",
                status=403,
                extra={"state": state, "action": action},
            )
        transition = permitted[0]
        ctx = context or {}
        for name in transition.preconditions if enforce_preconditions else ():
            reason = self.preconditions[name](ctx)
            if reason is not None:
                raise TransitionRefused(
                    reason,
                    code="precondition_failed",
                    extra={"state": state, "action": action, "precondition": name},
                )
        return transition

    def describe(self) -> list[dict[str, Any]]:
        """The table as plain rows (documentation page, API, tests)."""
        return [
            {
                "action": t.action,
                "from": sorted(t.sources),
                "to": t.target,
                "who": sorted(t.roles),
                "preconditions": list(t.preconditions),
                "effects": t.effects,
                "message": t.message,
            }
            for t in self.transitions
        ]
