"""Review envelopes in the inbox: actions reach the home node, events reach participants.

Both run after the inbox verified the sending node's signature, date and sequence. Any refusal
from the review services becomes an inbox refusal with the same status and code, so the
sender's outbox treats it like every other refusal (and nothing of it is stored).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from node.config import NodeConfig
from node.errors import DomainError
from node.network import inbox
from node.network.models import InEnvelope, Peer
from peer_review import reviews
from schemas.peer_review import (
    REVIEW_ACTION_SCHEMA,
    REVIEW_ACTION_TYPE,
    REVIEW_EVENT_SCHEMA,
    REVIEW_EVENT_TYPE,
    ReviewActionPayloadSchema,
    ReviewEventPayloadSchema,
    review_stream,
)


def _payload(schema: Any, envelope: dict[str, Any], expected_schema: str) -> dict[str, Any]:
    if envelope["schema"] != expected_schema:
        raise inbox.refuse(422, "unsupported_schema", f"Expected {expected_schema}.")
    loaded = inbox.load_payload(schema, envelope["payload"], "review message")
    if envelope["stream"] != review_stream(loaded["review_id"]):
        # Replay and rollback are checked per stream: one review, one stream.
        raise inbox.refuse(422, "wrong_stream", "A review message travels in its review's stream.")
    return loaded


def handle_action(
    session: Session,
    config: NodeConfig,
    envelope: dict[str, Any],
    peer: Peer,
    stored: InEnvelope,
    now: datetime,
) -> None:
    """Home node: a participant's signed action; decided now, relayed to every participant."""
    _payload(ReviewActionPayloadSchema(), envelope, REVIEW_ACTION_SCHEMA)
    inbox.store(session, stored)
    try:
        reviews.decide(session, config, envelope, now)
    except DomainError as exc:
        raise inbox.refuse(exc.status, exc.code, exc.detail) from exc


def handle_event(
    session: Session,
    config: NodeConfig,
    envelope: dict[str, Any],
    peer: Peer,
    stored: InEnvelope,
    now: datetime,
) -> None:
    """Participant: an event of a review we take part in, from its home node."""
    payload = _payload(ReviewEventPayloadSchema(), envelope, REVIEW_EVENT_SCHEMA)
    inbox.store(session, stored)
    try:
        reviews.receive_event(session, config, peer.city_id, payload, now)
    except DomainError as exc:
        raise inbox.refuse(exc.status, exc.code, exc.detail) from exc


HANDLERS = {REVIEW_ACTION_TYPE: handle_action, REVIEW_EVENT_TYPE: handle_event}
