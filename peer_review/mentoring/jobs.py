"""Mentoring's scheduled work (run by the node's job ``mentoring_expiry``, ``node/jobs.py``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from node.config import NodeConfig
from node.errors import DomainError
from peer_review.mentoring.acting import Acting, instant
from peer_review.mentoring.lifecycle import take_transition
from peer_review.mentoring.models import Relationship
from peer_review.mentoring.workflow import ANSWER_PERIOD


def expire_overdue(session: Session, config: NodeConfig, now: datetime) -> int:
    """The scheduler's job: our proposals unanswered for 21 days expire (and the partner is
    told). Returns how many expired."""
    due = instant(now) - ANSWER_PERIOD
    stale = session.scalars(
        select(Relationship).where(
            Relationship.state == "proposed",
            Relationship.proposer_city == config.city_id,
            Relationship.proposed_at <= due,
        )
    )
    count = 0
    for rel in list(stale):
        system = Acting(config.city_id, frozenset({"system"}), instant(now))
        try:
            take_transition(session, config, rel, "expire", system, now)
        except DomainError:
            continue  # e.g. the twinning ended meanwhile: it stays proposed, visible on the page
        count += 1
    return count
