"""In-app notifications: what a user of this node is told (reminders, escalations, later more).

Every function takes the session and flushes; the request, job or CLI wrapper commits. A user only
ever reads or changes their own notifications: asking for someone else's is answered exactly like
asking for one that does not exist (404), so ids reveal nothing.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from node.errors import NotFoundError
from peer_review.models import Notification

MAX_LIST = 200
_MAX_ID = 2**31 - 1  # PostgreSQL's integer: a larger id would be a database error, not a 404
# A link must stay on this node: a relative path, never "//host" nor "javascript:", no spaces or
# control characters (it is shown in pages and appended to base_url in e-mails).
_SAFE_LINK = re.compile(r"^/(?!/)[A-Za-z0-9._~!$&'()*+,;=:@%/?#-]{0,299}$")


def safe_link(link: str | None) -> str | None:
    """``link`` if it is a path on this node, else ``None`` (then no link is shown)."""
    if link and _SAFE_LINK.match(link) and "\\" not in link:
        return link
    return None


def notify(
    session: Session,
    user_id: int,
    *,
    kind: str,
    title: str,
    body: str,
    link: str | None,
    now: datetime,
) -> Notification:
    """Add an in-app notification for one user; texts are cut to their column sizes."""
    row = Notification(
        user_id=user_id,
        kind=kind[:40],
        title=title[:300],
        body=body[:2000],
        link=safe_link(link),
        created_at=now,
        read_at=None,
    )
    session.add(row)
    session.flush()
    return row


def list_notifications(
    session: Session, user_id: int, *, unread_only: bool = False, limit: int = 50
) -> list[Notification]:
    """The user's notifications, newest first (at most ``limit``, capped at 200)."""
    query = select(Notification).where(Notification.user_id == user_id)
    if unread_only:
        query = query.where(Notification.read_at.is_(None))
    query = query.order_by(Notification.created_at.desc(), Notification.id.desc())
    return list(session.scalars(query.limit(max(1, min(limit, MAX_LIST)))))


def unread_count(session: Session, user_id: int) -> int:
    """How many of the user's notifications are unread (the badge in the navigation)."""
    count = session.scalar(
        select(func.count())
        .select_from(Notification)
        .where(Notification.user_id == user_id, Notification.read_at.is_(None))
    )
    return int(count or 0)


def get_own(session: Session, user_id: int, notification_id: int) -> Notification:
    """The user's notification ``notification_id``; 404 if it is not theirs or does not exist."""
    row = session.get(Notification, notification_id) if 0 < notification_id <= _MAX_ID else None
    if row is None or row.user_id != user_id:
        raise NotFoundError(
            f"You have no notification {notification_id}.", code="no_such_notification"
        )
    return row


def mark_read(session: Session, user_id: int, notification_id: int, now: datetime) -> Notification:
    """Mark one of the user's notifications read (again is harmless: the first time is kept)."""
    row = get_own(session, user_id, notification_id)
    if row.read_at is None:
        row.read_at = now
        session.flush()
    return row


def mark_all_read(session: Session, user_id: int, now: datetime) -> int:
    """Mark every unread notification of the user read; returns how many changed."""
    rows = list(
        session.scalars(
            select(Notification).where(
                Notification.user_id == user_id, Notification.read_at.is_(None)
            )
        )
    )
    for row in rows:
        row.read_at = now
    session.flush()
    return len(rows)


def to_wire(row: Notification) -> dict[str, Any]:
    """The API's view of a notification (``schemas.notifications.NotificationSchema``)."""
    return {
        "id": row.id,
        "kind": row.kind,
        "title": row.title,
        "body": row.body,
        "link": row.link,
        "created_at": row.created_at,
        "read": row.read_at is not None,
        "read_at": row.read_at,
    }
