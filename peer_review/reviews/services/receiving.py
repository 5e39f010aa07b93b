"""Participant: receiving the events its review's home node relays.

An event must extend this node's head exactly and its body (when sent) must carry its author's
valid signature and match the header; the home's decision is replayed against the table, then
the same :func:`peer_review.reviews.services.projection.fold` as on the home node runs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from marshmallow import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from federation.canonical import canonical_bytes
from node.config import NodeConfig
from node.errors import ConflictError, InvalidInputError, PermissionDeniedError
from peer_review import chain
from peer_review.reviews.models import Review, ReviewEvent
from peer_review.reviews.services.projection import append_event, blank_review, fold
from peer_review.reviews.services.queries import home_is_secretariat, panel_cities
from peer_review.workflow import REVIEW, city_may_claim
from schemas.peer_review import (
    REVIEW_ACTION_TYPE,
    EventHeaderSchema,
    ReviewActionPayloadSchema,
    load_action_data,
)


def receive_event(
    session: Session, config: NodeConfig, sender: str, payload: dict[str, Any], now: datetime
) -> None:
    """Participant: append a relayed event (or attach a body disclosed later) and fold it."""
    try:
        header = EventHeaderSchema().load(payload["event"])
    except ValidationError as exc:
        raise InvalidInputError(
            "The event header is malformed.", errors=exc.normalized_messages()
        ) from exc
    if payload["home"] != sender:
        # Only the home node decides; anyone else relaying is refused whatever it signs.
        raise PermissionDeniedError(
            "Only the review's home node relays its events.", code="not_home"
        )
    if header["review_id"] != payload["review_id"]:
        raise InvalidInputError("The event names another review.", code="review_mismatch")
    review = session.get(Review, payload["review_id"])
    body = payload.get("body")
    if review is None:
        if header["index"] != 0 or header["action"] != "submit":
            raise ConflictError("We do not know this review yet.", code="event_gap")
        review = blank_review(session, payload["review_id"], payload["home"], payload["cur"], now)
    elif (review.home_city, review.cur_city) != (payload["home"], payload["cur"]):
        raise ConflictError("The event names another review.", code="review_mismatch")
    if body is not None:
        _check_body(session, config, review, header, body)
    existing = session.scalar(
        select(ReviewEvent).where(
            ReviewEvent.review_id == review.id, ReviewEvent.index == header["index"]
        )
    )
    if existing is not None:
        if existing.hash != chain.header_hash(header):
            raise chain.ChainError("A different event already holds that index.", code="event_fork")
        if existing.body is None and body is not None:
            existing.body = canonical_bytes(body).decode("utf-8")
            fold(session, config, review, existing, body, now)
        return
    chain.check_link(header, review.head_index, review.head_hash)
    if body is not None and header["action"] in REVIEW.actions:
        # Replaying the home's decision: state and role must still match the table.
        _replay_check(session, config, review, header, body)
    append_event(session, config, review, header, body, now)


def _check_body(
    session: Session, config: NodeConfig, review: Review, header: dict[str, Any], body: Any
) -> None:
    if not isinstance(body, dict):
        raise InvalidInputError("An event body is a signed envelope.", code="bad_event")
    author = header["actor"]["city"]
    digest = chain.verify_signed_by(session, config, body, author)
    if digest != header["body_sha256"]:
        raise chain.ChainError("The body is not the one the event names.", code="hash_mismatch")
    if body.get("type") != REVIEW_ACTION_TYPE:
        raise chain.ChainError("An event body is a review action.", code="bad_event")
    try:
        action_payload = ReviewActionPayloadSchema().load(body["payload"])
        load_action_data(action_payload["action"], action_payload["data"])
    except (ValidationError, KeyError) as exc:
        raise chain.ChainError("The signed action is malformed.", code="bad_event") from exc
    if (
        action_payload["review_id"] != review.id
        or action_payload["action"] != header["action"]
        or action_payload["role"] != header["actor"]["role"]
    ):
        raise chain.ChainError("The event does not match the signed action.", code="bad_event")


def _replay_check(
    session: Session, config: NodeConfig, review: Review, header: dict[str, Any], body: dict
) -> None:
    action, role = header["action"], header["actor"]["role"]
    city = header["actor"]["city"]
    if action == "submit":
        REVIEW.check("draft", action, [role], enforce_preconditions=False)
        return
    if not city_may_claim(
        role,
        city=city,
        home=review.home_city,
        cur=review.cur_city,
        panel_cities=panel_cities(session, review.id),
        home_is_secretariat=home_is_secretariat(session, config, review),
    ):
        raise chain.ChainError(f"{city} cannot act as {role} here.", code="bad_event")
    REVIEW.check(review.state, action, [role], enforce_preconditions=False)
