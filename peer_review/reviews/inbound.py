"""Review envelopes in the inbox: actions reach the home node, events reach participants.

Both handlers run after the inbox verified the sending node's signature, date and sequence, and
after the registry's schema loaded the payload (:func:`register_inbound` declares both types in
the ``review/`` stream family). Any refusal from the review services becomes an inbox refusal
with the same status and code, so the sender's outbox treats it like every other refusal (and
nothing of it is stored: the refusal rolls the transaction back).
"""

from __future__ import annotations

from typing import Any

from node.errors import DomainError
from node.network.port import Inbound, InboundRegistry, refuse, store
from peer_review.reviews.services.decisions import decide
from peer_review.reviews.services.receiving import receive_event
from schemas.peer_review import (
    REVIEW_ACTION_SCHEMA,
    REVIEW_ACTION_TYPE,
    REVIEW_EVENT_SCHEMA,
    REVIEW_EVENT_TYPE,
    REVIEW_STREAM_PREFIX,
    ReviewActionPayloadSchema,
    ReviewEventPayloadSchema,
    review_stream,
)

# The schema id each review type must name (checked before anything else of the message).
SCHEMA_IDS = {REVIEW_ACTION_TYPE: REVIEW_ACTION_SCHEMA, REVIEW_EVENT_TYPE: REVIEW_EVENT_SCHEMA}


def check_schema_id(envelope: dict[str, Any]) -> None:
    """Refuse (422 ``unsupported_schema``) a review message naming another schema version."""
    expected = SCHEMA_IDS[envelope["type"]]
    if envelope["schema"] != expected:
        raise refuse(422, "unsupported_schema", f"Expected {expected}.")


def _message(inbound: Inbound) -> dict[str, Any]:
    check_schema_id(inbound.envelope)
    payload: dict[str, Any] = inbound.payload
    if inbound.envelope["stream"] != review_stream(payload["review_id"]):
        # Replay and rollback are checked per stream: one review, one stream. A message about
        # review A sent in review B's stream would escape A's replay and rollback checks.
        raise refuse(422, "wrong_stream", "A review message travels in its review's stream.")
    return payload


def handle_action(inbound: Inbound) -> None:
    """Home node: a participant's signed action; decided now, relayed to every participant."""
    _message(inbound)
    store(inbound.session, inbound.stored)
    try:
        decide(inbound.session, inbound.config, inbound.envelope, inbound.now)
    except DomainError as exc:
        raise refuse(exc.status, exc.code, exc.detail) from exc


def handle_event(inbound: Inbound) -> None:
    """Participant: an event of a review we take part in, from its home node."""
    payload = _message(inbound)
    store(inbound.session, inbound.stored)
    try:
        receive_event(inbound.session, inbound.config, inbound.peer.city_id, payload, inbound.now)
    except DomainError as exc:
        raise refuse(exc.status, exc.code, exc.detail) from exc


def register_inbound(registry: InboundRegistry) -> None:
    """Declare the review types: both travel in their review's own stream ``review/<id>``."""
    registry.register(
        REVIEW_ACTION_TYPE,
        stream=REVIEW_STREAM_PREFIX,
        schema=ReviewActionPayloadSchema(),
        handler=handle_action,
    )
    registry.register(
        REVIEW_EVENT_TYPE,
        stream=REVIEW_STREAM_PREFIX,
        schema=ReviewEventPayloadSchema(),
        handler=handle_event,
    )
