"""Storage shared by the peer-review and mentoring workflows: deadlines, the reminder log and
the in-app notifications.

Only the shared tables live here. Each feature's own tables live in its package
(``peer_review.mentoring.models``, the reviews' models); this module imports none of them —
nothing of the shared core imports a feature. The composition root (``node/features.py``) imports
every feature's models so that Alembic sees one metadata.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from node.db import Base, UTCDateTime


class Deadline(Base):
    """A due date on one workflow object, kept by the node whose users must act on it.

    ``subject`` names the object (``review:<id>``, ``assignment:<id>``, ``mentoring:<id>``);
    ``kind`` the rule (``invitation_answer``, ``review_submission``...). One open deadline per
    (subject, kind): moving a date updates the row (and so re-arms the reminders, which are
    logged per due date), it never adds a second one.
    """

    __tablename__ = "pr_deadlines"
    __table_args__ = (
        UniqueConstraint("subject", "kind"),
        Index("ix_pr_deadlines_open", "state", "due_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject: Mapped[str] = mapped_column(String(80))
    kind: Mapped[str] = mapped_column(String(40))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    state: Mapped[str] = mapped_column(String(10))  # open | met | closed
    # Who is reminded on this node: users holding one of these roles, or these user ids.
    recipient_roles: Mapped[list[str]] = mapped_column(JSON)
    recipient_user_ids: Mapped[list[int]] = mapped_column(JSON)
    # Who hears about it once it is overdue (escalation), by role on this node.
    escalation_roles: Mapped[list[str]] = mapped_column(JSON)
    title: Mapped[str] = mapped_column(String(200))
    link: Mapped[str] = mapped_column(String(300))  # path of the page where the user acts
    armed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class DeadlineSweep(Base):
    """Where the reminder sweep stands on one deadline, so that a run only reads the deadlines
    that need it (bounded work) instead of every open one.

    ``due_at`` is the due date this row speaks of: when the deadline's date moves, the two differ
    and the deadline is looked at again at once (reminders re-arm). ``next_at`` is when something
    may next be due (the next step, an e-mail retry); ``None`` once everything for this due date
    is done.
    """

    __tablename__ = "pr_deadline_sweeps"

    deadline_id: Mapped[int] = mapped_column(
        ForeignKey("pr_deadlines.id", ondelete="CASCADE"), primary_key=True
    )
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    next_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Notification(Base):
    """An in-app message to one user of this node (reminders, escalations, later others).

    Personal and local: never federated, shown only to its user (page and API).
    """

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_user_unread", "user_id", "read_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))  # e.g. reminder_due, deadline_escalation
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(String(2000))
    link: Mapped[str | None] = mapped_column(String(300))  # a path on this node, or None
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ReminderLog(Base):
    """One reminder (or escalation) decided for one user: the in-app notification exists as soon
    as the row does; the e-mail copy has its own state.

    The unique key (deadline, due date, user, step) is what makes a re-run harmless: a step is
    decided once per due date and person. ``email_state`` is ``sent``, ``pending`` (to retry at
    ``email_retry_at``), ``failed`` (given up), ``off`` (no SMTP server configured: in-app only)
    or ``dropped`` (never sent: the step was overtaken, the date moved or the deadline ended
    before a retry succeeded).
    """

    __tablename__ = "pr_reminder_log"
    __table_args__ = (
        UniqueConstraint("deadline_id", "due_at", "user_id", "step"),
        Index("ix_pr_reminder_log_email_state", "email_state", "deadline_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    deadline_id: Mapped[int] = mapped_column(ForeignKey("pr_deadlines.id", ondelete="CASCADE"))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    step: Mapped[str] = mapped_column(String(12))  # upcoming | due | overdue | escalation
    notification_id: Mapped[int | None] = mapped_column(
        ForeignKey("notifications.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    email_state: Mapped[str] = mapped_column(String(10))
    email_attempts: Mapped[int] = mapped_column(Integer, default=0)
    email_retry_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    emailed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    email_error: Mapped[str | None] = mapped_column(String(300))
