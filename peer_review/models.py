"""Storage shared by the peer-review and mentoring workflows: deadlines.

The workflow objects themselves live beside their services (``peer_review.reviews``,
``peer_review.mentoring``); every table of this package is registered here or imported below so
that Alembic sees one metadata.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Index, Integer, String, UniqueConstraint
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


# Mentoring's tables live beside its services; importing registers them on Base.metadata.
from peer_review import mentoring_models as _mentoring_models  # noqa: E402, F401
