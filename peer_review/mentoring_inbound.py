"""Mentoring's inbound handlers with the inbox's old signature: ``node.network.inbox`` still
imports this module at its bottom and reads ``HANDLERS`` and ``STREAMS``.

# transitional: removed when the registry lands

Nothing of the network is imported at module level (the inbox imports this module while it is
itself loading); the handlers are built from ``peer_review.mentoring.inbound.register_inbound``
on first use.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy.orm import Session

from schemas.mentoring import MENTORING_STREAM, METADATA_TYPE, RELATIONSHIP_TYPES


@cache
def _registry() -> Any:
    from node.network.port import InboundRegistry
    from peer_review.mentoring.inbound import register_inbound

    registry = InboundRegistry()
    register_inbound(registry)
    registry.freeze()
    return registry


def handle(
    session: Session, config: Any, envelope: dict[str, Any], peer: Any, stored: Any, now: datetime
) -> None:
    """The old-signature handler of every mentoring type: the checks that came before the
    payload was read, then the payload loaded with the route's schema, then the new handler."""
    from node.network.port import Inbound, load_payload
    from peer_review.mentoring.inbound import admit

    route = _registry().route(envelope["type"])
    admit(config, envelope)
    payload = load_payload(route.schema, envelope["payload"], envelope["type"])
    route.handler(Inbound(session, config, envelope, payload, peer, stored, now))


HANDLERS = dict.fromkeys((*RELATIONSHIP_TYPES, METADATA_TYPE), handle)
STREAMS = dict.fromkeys(HANDLERS, MENTORING_STREAM)
