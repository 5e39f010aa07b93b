"""Declared workflows: one table of transitions per object, one function that checks a move.

Every workflow of this package (peer reviews, reviewer assignments, mentoring) is a
:class:`Workflow`: a list of :class:`Transition` rows saying *from* which states an action may be
taken, *to* which state it leads, *who* may take it, which *preconditions* must hold, what it
*does* and which federated message carries it. The web pages, the API and the federation inbox
all call :meth:`Workflow.check` — there is no other path to a state change, so a page cannot
allow what the inbox would refuse.

Pure code: no database, no Flask, nothing of ``node/``. Preconditions are named predicates over
a context mapping the caller builds (for example ``{"accepted_reviewers": 2, "min_reviewers":
2}``), which keeps the table printable and testable on its own.

**Tables own their effects.** A row may name its effect (``effect="add_comment"``): the code that
applies the row's consequences beyond the state change. A feature binds its handlers to the table
with :meth:`Workflow.with_effects`, which refuses, when the feature's module loads, a row naming
an effect that has no handler and a handler that no row names — an action can no longer silently
do nothing because its entry was forgotten in a separate dict.

**Refusals.** :class:`TransitionRefused` is this module's own exception (``code``, ``status``,
``detail``, ``extra``). A node's table passes ``refusal=`` a subclass that is also the node's
``DomainError`` (``peer_review.refusal``), so a refusal from the table is a problem+json answer
without any caller having to translate it (a forgotten translation would be a 500).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

SAME = "="  # a transition that keeps the state (comments, co-signatures, assessments...)

Precondition = Callable[[Mapping[str, Any]], str | None]
"""Returns ``None`` when satisfied, else the readable reason it is not."""


Effect = Callable[..., Any]
"""Applies a row's consequences (the arguments are the feature's; the engine passes them on)."""


class TransitionRefused(Exception):
    """A move the table does not allow; ``code`` says which check failed, ``status`` the HTTP
    status it stands for, ``extra`` the facts (state, action, precondition) for machine clients."""

    title = "Transition refused"
    status = 409
    code = "transition_refused"

    def __init__(
        self,
        detail: str,
        *,
        code: str | None = None,
        status: int | None = None,
        extra: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        variant: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.extra = extra or {}
        # For a reader's language (the node's pages): the values the detail quotes, and which
        # rule refused (a precondition's name). Not part of any wire format.
        self.params = params or {}
        self.variant = variant


class TableError(ValueError):
    """A workflow table that cannot load (a programming error, raised when its module loads);
    ``code`` says which rule the table breaks."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Transition:
    """One row of a workflow table."""

    action: str
    sources: frozenset[str]
    target: str
    roles: frozenset[str]
    preconditions: tuple[str, ...] = ()
    effects: str = ""  # what the row does, in words (documentation, API)
    message: str | None = None  # federated envelope that carries it; None = stays local
    effect: str | None = None  # the name of the handler that does it (see Workflow.with_effects)

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
    effect: str | None = None,
) -> Transition:
    """A table row; ``sources`` and ``roles`` accept a space-separated string for readability.
    ``effects`` describes the consequences in words, ``effect`` names the handler that applies
    them (bound by :meth:`Workflow.with_effects`)."""

    def as_set(value: str | Iterable[str]) -> frozenset[str]:
        return frozenset(value.split() if isinstance(value, str) else value)

    return Transition(
        action, as_set(sources), target, as_set(roles), tuple(pre), effects, message, effect
    )


@dataclass(frozen=True)
class Workflow:
    """A named state graph with its transitions and precondition predicates."""

    name: str
    states: tuple[str, ...]
    terminal: frozenset[str]
    transitions: tuple[Transition, ...]
    preconditions: Mapping[str, Precondition] = field(default_factory=dict)
    refusal: type[TransitionRefused] = TransitionRefused  # what check() raises

    def __post_init__(self) -> None:
        # The table is data: catch a typo in it at import time, not on a user's click.
        known = set(self.states)
        effect_of: dict[str, str | None] = {}
        for t in self.transitions:
            unknown = (t.sources | ({t.target} - {SAME})) - known
            if unknown:
                raise TableError(
                    f"{self.name}.{t.action}: unknown states {sorted(unknown)}",
                    code="unknown_state",
                )
            missing = set(t.preconditions) - set(self.preconditions)
            if missing:
                raise TableError(
                    f"{self.name}.{t.action}: undefined preconditions {missing}",
                    code="undefined_precondition",
                )
            # One action, one effect: the handler runs by action (a replayed event names its
            # action, not its row), so two rows of an action cannot do different things.
            if effect_of.setdefault(t.action, t.effect) != t.effect:
                raise TableError(
                    f"{self.name}.{t.action}: rows name different effects "
                    f"({effect_of[t.action]}, {t.effect})",
                    code="effect_conflict",
                )
        if not issubclass(self.refusal, TransitionRefused):
            raise TableError(
                f"{self.name}: refusal must be a TransitionRefused", code="bad_refusal_type"
            )

    @property
    def actions(self) -> tuple[str, ...]:
        """Every declared action name, in table order, without repeats."""
        return tuple(dict.fromkeys(t.action for t in self.transitions))

    @property
    def effects(self) -> frozenset[str]:
        """The effect names the rows declare."""
        return frozenset(t.effect for t in self.transitions if t.effect is not None)

    def effect_of(self, action: str) -> str | None:
        """The effect an action's rows name (None: the action only moves the state)."""
        return next((t.effect for t in self.transitions if t.action == action), None)

    def with_effects(self, handlers: Mapping[str, Effect]) -> BoundEffects:
        """Bind the feature's effect handlers to this table; raises :class:`TableError` when a
        row names an effect without a handler (``effect_without_handler``) or a handler is for
        an effect no row names (``handler_without_row``). Call it where the handlers are defined,
        so the check runs when that module loads (start-up), never on a user's click."""
        return BoundEffects(self, dict(handlers))

    def candidates(self, state: str, action: str) -> list[Transition]:
        """The rows of ``action`` declared from ``state`` (empty: the move is not declared)."""
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
            raise self.refusal(
                f"'{action}' is not an action of a {self.name}.",
                code="unknown_action",
                status=422,
                params={"action": action},
            )
        rows = self.candidates(state, action)
        if not rows:
            raise self.refusal(
                f"A {self.name} that is '{state}' cannot '{action}'.",
                code="undeclared_transition",
                extra={"state": state, "action": action},
                params={"state": state, "action": action},
            )
        held = set(roles)
        permitted = [t for t in rows if t.roles & held]
        if not permitted:
            allowed = sorted(set().union(*(t.roles for t in rows)))
            raise self.refusal(
                f"Only {', '.join(allowed)} may '{action}' a {self.name} that is '{state}'.",
                code="role_not_allowed",
                status=403,
                extra={"state": state, "action": action},
                params={"state": state, "action": action, "roles": ", ".join(allowed)},
                variant="workflow",
            )
        transition = permitted[0]
        ctx = context or {}
        for name in transition.preconditions if enforce_preconditions else ():
            reason = self.preconditions[name](ctx)
            if reason is not None:
                raise self.refusal(
                    reason,
                    code="precondition_failed",
                    extra={"state": state, "action": action, "precondition": name},
                    params={
                        "state": state,
                        "action": action,
                        **{k: v for k, v in ctx.items() if isinstance(v, str | int | float)},
                    },
                    variant=name,
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


@dataclass(frozen=True)
class BoundEffects:
    """A table with its effect handlers, checked both ways when bound (see
    :meth:`Workflow.with_effects`)."""

    workflow: Workflow
    handlers: Mapping[str, Effect]

    def __post_init__(self) -> None:
        named, bound = self.workflow.effects, set(self.handlers)
        for t in self.workflow.transitions:
            if t.effect is not None and t.effect not in bound:
                raise TableError(
                    f"{self.workflow.name}.{t.action}: effect '{t.effect}' has no handler",
                    code="effect_without_handler",
                )
        stray = sorted(bound - named)
        if stray:
            raise TableError(
                f"{self.workflow.name}: handlers {stray} are the effect of no row",
                code="handler_without_row",
            )

    def apply(self, action: str, *args: Any, **kwargs: Any) -> Any:
        """Run the effect of ``action`` (whatever the handler returns; None when the action
        only moves the state). An action the table does not know is a programming error."""
        if action not in self.workflow.actions:
            raise TableError(
                f"'{action}' is not an action of a {self.workflow.name}", code="unknown_action"
            )
        name = self.workflow.effect_of(action)
        return None if name is None else self.handlers[name](*args, **kwargs)
