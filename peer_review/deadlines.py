"""Deadlines of the review and mentoring workflows: the rules, and arming / moving / closing them.

Services call :func:`arm` when an object enters a state that has a due date, :func:`move` when a
date is extended (a federated extension calls it on every node), and :func:`close` or
:func:`met` when the object no longer waits. The reminder sweep (``peer_review.reminders``)
reads the open rows; it never decides what is due.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from node.errors import NotFoundError
from peer_review.models import Deadline

# Defaults of the design note (peer_review.md, "Deadlines and reminders").
DEFAULT_PERIODS: dict[str, timedelta] = {
    "invitation_answer": timedelta(days=14),
    "review_submission": timedelta(weeks=6),
    "response": timedelta(weeks=8),
    "follow_up": timedelta(days=730),  # mid-term follow-up: 24 months
    "mentoring_answer": timedelta(days=21),
    "mentoring_agreement": timedelta(days=45),
    "session_notes": timedelta(days=7),
}


def due_after(kind: str, start: datetime) -> datetime:
    """The default due date of a ``kind`` deadline starting at ``start``."""
    return start + DEFAULT_PERIODS[kind]


def arm(
    session: Session,
    *,
    subject: str,
    kind: str,
    due_at: datetime,
    now: datetime,
    title: str,
    link: str,
    roles: Iterable[str] = (),
    user_ids: Iterable[int] = (),
    escalation_roles: Iterable[str] = ("admin",),
) -> Deadline:
    """Open (or re-open with a new date) the ``kind`` deadline of ``subject``."""
    row = session.scalar(select(Deadline).where(Deadline.subject == subject, Deadline.kind == kind))
    if row is None:
        row = Deadline(subject=subject, kind=kind, armed_at=now)
        session.add(row)
    row.due_at, row.state, row.updated_at = due_at, "open", now
    row.title, row.link = title[:200], link[:300]
    row.recipient_roles = sorted(set(roles))
    row.recipient_user_ids = sorted(set(user_ids))
    row.escalation_roles = sorted(set(escalation_roles))
    session.flush()
    return row


def move(session: Session, *, subject: str, kind: str, due_at: datetime, now: datetime) -> Deadline:
    """Extend (or bring forward) an open deadline; reminders re-arm for the new date."""
    row = session.scalar(select(Deadline).where(Deadline.subject == subject, Deadline.kind == kind))
    if row is None:
        raise NotFoundError(f"No '{kind}' deadline on {subject}.", code="no_such_deadline")
    row.due_at, row.updated_at = due_at, now
    session.flush()
    return row


def _finish(
    session: Session, subject: str, kinds: Iterable[str] | None, state: str, now: datetime
) -> int:
    query = select(Deadline).where(Deadline.subject == subject, Deadline.state == "open")
    wanted = None if kinds is None else list(kinds)
    if wanted is not None:
        query = query.where(Deadline.kind.in_(wanted))
    rows = list(session.scalars(query))
    for row in rows:
        row.state, row.updated_at = state, now
    session.flush()
    return len(rows)


def met(session: Session, subject: str, kind: str, now: datetime) -> int:
    """The awaited action happened: no more reminders for this deadline."""
    return _finish(session, subject, [kind], "met", now)


def close(session: Session, subject: str, now: datetime, kinds: Iterable[str] | None = None) -> int:
    """The object closed, was withdrawn or superseded: its deadlines stop reminding anyone."""
    return _finish(session, subject, kinds, "closed", now)


def open_deadlines(session: Session, subject: str) -> list[Deadline]:
    """Open deadlines of one object, soonest first (pages show them)."""
    return list(
        session.scalars(
            select(Deadline)
            .where(Deadline.subject == subject, Deadline.state == "open")
            .order_by(Deadline.due_at)
        )
    )
