"""The network's overdue report, read by the secretariat's staff: what is late across the
network as this node knows it.

- overdue deadlines kept on this node (``peer_review.deadlines``: the reviews and mentoring
  relationships the secretariat chairs or takes part in), oldest first;
- missing submissions: active members without a signed summary figure for the network's latest
  period (the newest period any member sent a figure for), from the benchmark inputs.

Read-only: a report never changes what it reports on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from node.network.port import Peer
from node.secretariat.models import BenchmarkInput
from peer_review.models import Deadline
from schemas.periods import parse_period

# Deadline subjects are "<kind of object>:<id>" (peer_review.models.Deadline): the report groups
# them by the workflow they belong to.
WORKFLOW_OF_SUBJECT = {"review": "reviews", "assignment": "reviews", "mentoring": "mentoring"}


@dataclass
class OverdueReport:
    """Overdue deadlines by workflow, and the members missing from the latest period."""

    deadlines: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    latest_period: str | None = None
    missing: list[dict[str, Any]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(len(rows) for rows in self.deadlines.values()) + len(self.missing)


def overdue_deadlines(session: Session, now: datetime) -> dict[str, list[dict[str, Any]]]:
    """Open deadlines whose date has passed, by workflow (``reviews``, ``mentoring``, ``other``)."""
    rows = session.scalars(
        select(Deadline)
        .where(Deadline.state == "open", Deadline.due_at < now)
        .order_by(Deadline.due_at, Deadline.id)
    )
    grouped: dict[str, list[dict[str, Any]]] = {"reviews": [], "mentoring": [], "other": []}
    for row in rows:
        workflow = WORKFLOW_OF_SUBJECT.get(row.subject.split(":", 1)[0], "other")
        grouped[workflow].append(
            {
                "subject": row.subject,
                "kind": row.kind,
                "title": row.title,
                "link": row.link,
                "due_at": row.due_at,
                "days_late": (now - row.due_at).days,
            }
        )
    return grouped


def missing_submissions(session: Session) -> tuple[str | None, list[dict[str, Any]]]:
    """The network's latest period and the active members that sent no figure for it.

    Each missing member comes with the last period it did send (None: never)."""
    sent: dict[str, list[tuple[tuple[Any, ...], str]]] = {}
    for city_id, text in session.execute(
        select(BenchmarkInput.city_id, BenchmarkInput.period).distinct()
    ):
        try:
            key = parse_period(text).sort_key
        except ValueError:
            continue  # stored before periods were checked: not a period to report on
        sent.setdefault(city_id, []).append((key, text))
    if not sent:
        return None, []
    # Periods in time order (2025-Q4 before 2026), not as text.
    latest = max((p for periods in sent.values() for p in periods), key=lambda p: p[0])[1]
    reported = {city for city, periods in sent.items() if any(t == latest for _, t in periods)}
    last_sent = {city: max(periods, key=lambda p: p[0])[1] for city, periods in sent.items()}
    members = session.scalars(
        select(Peer).where(Peer.role == "city", Peer.state == "active").order_by(Peer.city_id)
    )
    missing = [
        {
            "city_id": p.city_id,
            "name": p.name,
            "region": p.region,
            "last_period": last_sent.get(p.city_id),
        }
        for p in members
        if p.city_id not in reported
    ]
    return latest, missing


def overdue_report(session: Session, now: datetime) -> OverdueReport:
    """Everything late across the network, as this node knows it (see the module)."""
    latest, missing = missing_submissions(session)
    return OverdueReport(
        deadlines=overdue_deadlines(session, now), latest_period=latest, missing=missing
    )
