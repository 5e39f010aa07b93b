"""The delivery status of this node's outbox, per twin: one query for the API and the page.

``GET /api/v1/federation/status`` and the administrators' page ``/network/status`` both show it;
they used to count the queue and the dead letters each in its own way, so the figures could
drift apart. Both call :func:`network_status` now.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from node.network.models import OutboxItem, Peer


@dataclass(frozen=True)
class PeerDelivery:
    """One peer's delivery figures: what is waiting, what failed, what was refused for good."""

    city_id: str
    state: str
    last_success_at: datetime | None
    failures: int
    next_attempt_at: datetime | None
    queue_length: int  # outbox rows still pending for this peer
    dead_letters: int  # rows the peer refused for good (permanent 4xx)
    unavailable: bool
    last_error: str | None


@dataclass(frozen=True)
class DeadLetter:
    """One envelope a peer refused for good, kept so that nothing is lost silently."""

    id: int
    destination: str
    seq: int
    state: str
    attempts: int
    last_status: int | None
    last_error: str | None


@dataclass(frozen=True)
class NetworkStatus:
    """Every peer (by city id) and the dead letters, oldest first."""

    peers: list[PeerDelivery]
    dead_letters: list[DeadLetter]


def network_status(session: Session, *, dead_letter_limit: int | None = None) -> NetworkStatus:
    """The outbox's state per peer, and its dead letters.

    The per-peer counts always cover every row; ``dead_letter_limit`` only bounds the list of
    dead letters returned (the most recent ones, still oldest first), for a page that must stay
    small whatever a peer refused over the years.
    """
    counts: dict[tuple[str, str], int] = {
        (destination, state): number
        for destination, state, number in session.execute(
            select(OutboxItem.destination, OutboxItem.state, func.count())
            .where(OutboxItem.state.in_(("pending", "dead")))
            .group_by(OutboxItem.destination, OutboxItem.state)
        ).all()
    }
    peers = [
        PeerDelivery(
            city_id=peer.city_id,
            state=peer.state,
            last_success_at=peer.last_success_at,
            failures=peer.failures,
            next_attempt_at=peer.next_attempt_at,
            queue_length=counts.get((peer.city_id, "pending"), 0),
            dead_letters=counts.get((peer.city_id, "dead"), 0),
            unavailable=peer.unavailable,
            last_error=peer.last_error,
        )
        for peer in session.scalars(select(Peer).order_by(Peer.city_id))
    ]
    # Columns only: an OutboxItem row would also load its envelope (a joined relationship).
    query = (
        select(
            OutboxItem.id,
            OutboxItem.destination,
            OutboxItem.seq,
            OutboxItem.state,
            OutboxItem.attempts,
            OutboxItem.last_status,
            OutboxItem.last_error,
        )
        .where(OutboxItem.state == "dead")
        .order_by(OutboxItem.id.desc())
    )
    if dead_letter_limit is not None:
        query = query.limit(dead_letter_limit)
    dead = [DeadLetter(*row) for row in session.execute(query).all()]
    dead.reverse()
    return NetworkStatus(peers=peers, dead_letters=dead)
