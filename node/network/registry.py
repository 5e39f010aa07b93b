"""The inbound handler registry: which feature handles which envelope type, in which stream.

Features register at start-up (``register_inbound(registry)`` in their package), the inbox
pipeline looks a type up after the envelope verified and passed replay checks. A second handler
for a type is refused at start-up: with a dict filled by imports, the last import silently won.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from node.config import NodeConfig
    from node.network.keyring import PeerFacts
    from node.network.models import InEnvelope, Peer


class DuplicateRegistration(RuntimeError):
    """Two features claimed the same envelope type (a programming error, found at start-up)."""


@dataclass
class Inbound:
    """One verified envelope on its way to its handler (all a handler needs, in one object)."""

    session: Session
    config: NodeConfig
    envelope: dict[str, Any]
    payload: Any  # loaded by the route's schema when it has one, else the raw payload
    stored: InEnvelope  # the verbatim envelope row, not yet added: a handler calls store()
    now: datetime
    # The origin's Peer when the inbox already holds it (a twinning request it just recorded);
    # otherwise ``peer`` loads it on first use (issue 14: most summaries need only ``themes``).
    known_peer: Peer | None = None
    # The origin's state, themes and keys as the inbox read them (None: not read).
    facts: PeerFacts | None = None

    @property
    def origin(self) -> str:
        """The city that signed the envelope (verified)."""
        origin: str = self.envelope["origin"]
        return origin

    @property
    def peer(self) -> Peer:
        """The origin's Peer (with its keys), from this unit of work."""
        if self.known_peer is None:
            from sqlalchemy.orm import joinedload

            from node.network.models import Peer

            # The inbox checked that this peer exists before the handler runs.
            self.known_peer = self.session.get(Peer, self.origin, options=(joinedload(Peer.keys),))
            assert self.known_peer is not None
        return self.known_peer

    @property
    def themes(self) -> list[str] | None:
        """The twinning's themes (None: every theme), without loading the Peer when known.

        Once the Peer is loaded it is the truth (a handler may have changed it since the inbox
        read the facts); until then nothing in this unit of work changed it.
        """
        if self.facts is not None and self.known_peer is None:
            return self.facts.themes
        return self.peer.themes


Handler = Callable[[Inbound], None]


@dataclass(frozen=True)
class Route:
    type: str
    stream: str  # an exact stream, or a family ending in "/" ("review/" → "review/<id>")
    schema: Any | None  # a marshmallow Schema instance, or None when the handler loads itself
    handler: Handler
    listeners: tuple[Handler, ...] = ()
    # The envelope's ``schema`` field this type must carry (422 ``unsupported_schema``
    # otherwise, before the payload is loaded); None when the handler checks it itself.
    envelope_schema: str | None = None

    def accepts_stream(self, stream: str) -> bool:
        """Whether ``stream`` is this route's stream (or one of its family)."""
        if self.stream.endswith("/"):
            return stream.startswith(self.stream)
        return stream == self.stream


@dataclass
class InboundRegistry:
    """Envelope type → route. Filled once at start-up, then frozen."""

    _routes: dict[str, Route] = field(default_factory=dict)
    _frozen: bool = False

    def register(
        self,
        type_: str,
        *,
        stream: str,
        schema: Any | None,
        handler: Handler,
        envelope_schema: str | None = None,
    ) -> None:
        """Declare the handler of ``type_``; a second declaration raises DuplicateRegistration.

        ``schema`` (a marshmallow Schema instance) loads the payload before the handler runs
        (422 ``invalid_payload``); ``envelope_schema`` is the ``schema`` name the envelope must
        declare (422 ``unsupported_schema``), checked first.
        """
        self._check_open()
        if type_ in self._routes:
            raise DuplicateRegistration(
                f"{type_} already has a handler ({self._routes[type_].handler.__qualname__});"
                f" {handler.__qualname__} cannot replace it."
            )
        self._routes[type_] = Route(type_, stream, schema, handler, (), envelope_schema)

    def subscribe(self, type_: str, listener: Handler) -> None:
        """Run ``listener`` after ``type_``'s handler, in the same transaction (e.g. the
        secretariat's benchmarks reading every summary). The type must be registered first."""
        self._check_open()
        route = self._routes.get(type_)
        if route is None:
            raise DuplicateRegistration(f"{type_} has no handler to listen to yet.")
        self._routes[type_] = Route(
            route.type,
            route.stream,
            route.schema,
            route.handler,
            (*route.listeners, listener),
            route.envelope_schema,
        )

    def route(self, type_: str) -> Route | None:
        """The route of an envelope type, or None (the inbox answers 422 ``unknown_type``)."""
        return self._routes.get(type_)

    def types(self) -> list[str]:
        """Every registered envelope type, sorted."""
        return sorted(self._routes)

    @property
    def frozen(self) -> bool:
        """Whether start-up is over (no more registrations)."""
        return self._frozen

    def freeze(self) -> None:
        """No registration after start-up: the table a node runs with is the one it started with."""
        self._frozen = True

    def _check_open(self) -> None:
        if self._frozen:
            raise DuplicateRegistration("The inbound registry is frozen after start-up.")
