"""Transitional: the inbox's old ``HANDLERS`` table for review envelopes, adapted to the
registry-style handlers of :mod:`peer_review.reviews.inbound` (the lead deletes this module
when the inbox reads the registry).
"""

# transitional: removed when the registry lands

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from node.config import NodeConfig
from schemas.peer_review import REVIEW_ACTION_TYPE, REVIEW_EVENT_TYPE


def _adapter(type_: str) -> Callable[..., None]:
    def handle(
        session: Session,
        config: NodeConfig,
        envelope: dict[str, Any],
        peer: Any,
        stored: Any,
        now: datetime,
    ) -> None:
        # Imported at call time: the inbox imports this module while node.network.port (which
        # imports the inbox) may still be loading.
        from node.network.port import Inbound, InboundRegistry, load_payload
        from peer_review.reviews import register_inbound
        from peer_review.reviews.inbound import check_schema_id

        registry = InboundRegistry()
        register_inbound(registry)
        route = registry.route(type_)
        assert route is not None
        check_schema_id(envelope)  # the order of the old handlers: schema id, then payload
        payload = envelope["payload"]
        if route.schema is not None:
            payload = load_payload(route.schema, payload, "review message")
        route.handler(Inbound(session, config, envelope, payload, peer, stored, now))

    return handle


HANDLERS = {t: _adapter(t) for t in (REVIEW_ACTION_TYPE, REVIEW_EVENT_TYPE)}
