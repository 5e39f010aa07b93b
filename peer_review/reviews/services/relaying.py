"""Home node: keeping every participant's copy of a review's chain in step.

A participant receives every event header; it receives an event's body only when it may read it
(:mod:`peer_review.visibility`). :class:`peer_review.reviews.models.ReviewDisclosure` remembers
what each city was sent, so a body that becomes readable later is sent again, with its body.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from federation.canonical import loads_strict
from node.config import NodeConfig
from node.network.port import queue, sign_and_store
from peer_review import visibility
from peer_review.reviews.models import Review, ReviewComment, ReviewDisclosure, ReviewEvent
from peer_review.reviews.services.queries import panel_cities, submitted_cities
from schemas.peer_review import REVIEW_EVENT_SCHEMA, REVIEW_EVENT_TYPE, review_stream


def participants(session: Session, review: Review) -> list[str]:
    """Cities the home node keeps in sync: the CuR and every city invited to the panel."""
    return sorted(({review.cur_city} | panel_cities(session, review.id)) - {review.home_city})


def relay(session: Session, config: NodeConfig, review: Review, now: datetime) -> int:
    """Send every participant the events (and readable bodies) it does not have yet.

    Called after each decision. A city invited late gets the whole history first; a body that
    became readable (the city submitted its review, the chair widened readers, the factual
    check began) is sent again, this time with its body. Returns the envelopes queued.
    """
    events = list(
        session.scalars(
            select(ReviewEvent)
            .where(ReviewEvent.review_id == review.id)
            .order_by(ReviewEvent.index)
        )
    )
    # Read once per relay, not per (event, city): a decision must stay cheap as the log grows.
    panel, submitted = panel_cities(session, review.id), submitted_cities(session, review.id)
    comment_readers = {
        c.event_index: c.readers
        for c in session.scalars(select(ReviewComment).where(ReviewComment.review_id == review.id))
    }

    def readable_by(event: ReviewEvent, city: str) -> bool:
        return visibility.may_read(
            city=city,
            action=event.action,
            author_city=event.actor_city,
            author_role=event.actor_role,
            readers=comment_readers.get(event.index, event.header["readers"]),
            review_state=review.state,
            home=review.home_city,
            cur=review.cur_city,
            panel=panel,
            submitted=submitted,
            home_is_secretariat=config.role == "secretariat",
            public_outcome=review.public_outcome,
        )

    sent = 0
    for city in participants(session, review):
        known = {
            d.event_index: d
            for d in session.scalars(
                select(ReviewDisclosure).where(
                    ReviewDisclosure.review_id == review.id, ReviewDisclosure.city_id == city
                )
            )
        }
        for event in events:
            disclosure = known.get(event.index)
            if disclosure is not None and disclosure.with_body:
                continue  # the city holds this event, body included: nothing more to send
            readable = readable_by(event, city)
            if disclosure is not None and not readable:
                continue
            body = loads_strict(event.body) if readable and event.body else None
            envelope = sign_and_store(
                session,
                config,
                type_=REVIEW_EVENT_TYPE,
                schema=REVIEW_EVENT_SCHEMA,
                stream=review_stream(review.id),
                payload={
                    "review_id": review.id,
                    "home": review.home_city,
                    "cur": review.cur_city,
                    "event": event.header,
                    "body": body,
                },
                audience=[city],
                now=now,
            )
            queue(session, envelope, [city], now)
            sent += 1
            if disclosure is None:
                session.add(
                    ReviewDisclosure(
                        review_id=review.id,
                        city_id=city,
                        event_index=event.index,
                        with_body=body is not None,
                    )
                )
            else:
                disclosure.with_body = body is not None
    session.flush()
    return sent
