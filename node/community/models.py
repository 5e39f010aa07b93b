"""Tables of community reports: the reports, their moderation history, trusted reporters and the
per-source counters that rate-limit them.

Who sees what (issue 16): ``contact`` and the exact ``latitude``/``longitude`` are for moderators
only; nothing public reads this table except through the derived counts
(:mod:`node.community.derived`), which are per district and month. A reporter's phone number or
client address is never stored in clear for rate limiting or duplicate detection: ``source_hash``
is an HMAC keyed with a secret derived from the node's secret key (a leaked database does not let
anyone test "did +2547... report?" without that key).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from node.db import Base, UTCDateTime

STATES = ("received", "verified", "duplicate", "rejected")


class CommunityReport(Base):
    """One incident reported by a resident, through the web form or an SMS gateway."""

    __tablename__ = "community_reports"
    __table_args__ = (
        # A gateway retrying the same message (or an attacker replaying it) finds the first one.
        UniqueConstraint("gateway", "gateway_message_id"),
        Index("ix_community_reports_source", "source_hash", "received_at"),
        Index("ix_community_reports_cell", "category", "period", "district"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(16), unique=True)
    channel: Mapped[str] = mapped_column(String(10))  # web | sms
    gateway: Mapped[str | None] = mapped_column(String(20))  # twilio | africastalking | generic
    gateway_message_id: Mapped[str | None] = mapped_column(String(100))
    category: Mapped[str] = mapped_column(String(40))
    district: Mapped[str] = mapped_column(String(64))
    occurred_on: Mapped[date] = mapped_column(Date)
    period: Mapped[str] = mapped_column(String(10))  # YYYY-MM of occurred_on (derived counts)
    description: Mapped[str] = mapped_column(Text)
    # Decimal text, as typed (validated): moderators only, never public.
    latitude: Mapped[str | None] = mapped_column(String(20))
    longitude: Mapped[str | None] = mapped_column(String(20))
    contact: Mapped[str | None] = mapped_column(String(200))  # moderators only
    language: Mapped[str] = mapped_column(String(5))
    source_hash: Mapped[str] = mapped_column(String(64))
    text_hash: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(12), default="received", index=True)
    duplicate_of_id: Mapped[int | None] = mapped_column(
        ForeignKey("community_reports.id", ondelete="SET NULL")
    )
    # The evidence row that links to this report (kind community_report), once attached.
    evidence_id: Mapped[int | None] = mapped_column(ForeignKey("evidence.id", ondelete="SET NULL"))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    events: Mapped[list[CommunityReportEvent]] = relationship(
        back_populates="report",
        cascade="all, delete-orphan",
        order_by="CommunityReportEvent.id",
    )


class CommunityReportEvent(Base):
    """One step of a report's moderation history (who, when, from which state, why)."""

    __tablename__ = "community_report_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(
        ForeignKey("community_reports.id", ondelete="CASCADE"), index=True
    )
    from_state: Mapped[str | None] = mapped_column(String(12))
    to_state: Mapped[str] = mapped_column(String(12))
    reason: Mapped[str | None] = mapped_column(Text)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor_label: Mapped[str] = mapped_column(String(320))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    report: Mapped[CommunityReport] = relationship(back_populates="events")


class TrustedReporter(Base):
    """A source (by its keyed hash) moderators vouch for: its reports are shown as trusted."""

    __tablename__ = "community_trusted_reporters"

    source_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    note: Mapped[str | None] = mapped_column(String(300))
    marked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    marked_at: Mapped[datetime] = mapped_column(UTCDateTime)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class CommunityThrottle(Base):
    """Attempts per source in a fixed window (kept in the database: shared by every worker)."""

    __tablename__ = "community_throttles"

    # "web:" or "sms:" and a 64-digit hash: 68 characters (PostgreSQL refuses a longer value,
    # SQLite would have kept it silently).
    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
