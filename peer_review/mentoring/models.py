"""Storage of mentoring relationships (on both cities' nodes) and of their metadata (on the
secretariat's node).

Both cities keep the same rows for a relationship, written by the same transitions; only
private notes exist on one node alone. Every signed statement is kept as the envelope that
carried it (``out_envelopes`` for ours, ``in_envelopes`` for the partner's), so anyone can
re-verify who signed which document version.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from node.db import Base, UTCDateTime


class Relationship(Base):
    """One mentoring relationship between a mentor city and a mentee city."""

    __tablename__ = "mentoring_relationships"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # made by the proposer
    mentor_city: Mapped[str] = mapped_column(String(63), index=True)
    mentee_city: Mapped[str] = mapped_column(String(63), index=True)
    proposer_city: Mapped[str] = mapped_column(String(63))
    title: Mapped[str] = mapped_column(String(200))
    purpose: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(20))
    outcome: Mapped[str | None] = mapped_column(String(20))  # when closed
    # Count of state changes, and which one produced the current state: "<origin>:<seq>" of
    # its envelope. A message naming another predecessor was made concurrently.
    state_version: Mapped[int] = mapped_column(Integer, default=0)
    state_ref: Mapped[str] = mapped_column(String(100))
    last_action: Mapped[str] = mapped_column(String(40))
    proposed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    documents: Mapped[list[Document]] = relationship(
        cascade="all, delete-orphan", order_by="Document.version", lazy="selectin"
    )
    sessions: Mapped[list[MentoringSession]] = relationship(
        cascade="all, delete-orphan", order_by="MentoringSession.created_at"
    )
    notes: Mapped[list[Note]] = relationship(
        cascade="all, delete-orphan", order_by="Note.created_at"
    )
    events: Mapped[list[Event]] = relationship(cascade="all, delete-orphan", order_by="Event.id")

    def side_of(self, city_id: str) -> str | None:
        """``mentor``, ``mentee`` or None (not a party)."""
        if city_id == self.mentor_city:
            return "mentor"
        if city_id == self.mentee_city:
            return "mentee"
        return None

    def partner_of(self, city_id: str) -> str:
        """The other city of the relationship."""
        return self.mentee_city if city_id == self.mentor_city else self.mentor_city


class Document(Base):
    """One version of the agreement, the closure report or the action plan.

    ``content`` is stored exactly as it was signed over the wire; ``sha256`` is the SHA-256 of
    its RFC 8785 form. Versions are never edited: an edit is the next version.
    """

    __tablename__ = "mentoring_documents"
    __table_args__ = (UniqueConstraint("relationship_id", "kind", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    relationship_id: Mapped[str] = mapped_column(
        ForeignKey("mentoring_relationships.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(20))  # agreement | closure_report | action_plan
    version: Mapped[int] = mapped_column(Integer)
    content: Mapped[dict[str, Any]] = mapped_column(JSON)
    sha256: Mapped[str] = mapped_column(String(64))
    proposed_by: Mapped[str] = mapped_column(String(63))
    proposed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    envelope_sha256: Mapped[str] = mapped_column(String(64))  # the proposal that carried it
    signatures: Mapped[list[Signature]] = relationship(
        cascade="all, delete-orphan", order_by="Signature.id", lazy="selectin"
    )


class Signature(Base):
    """A city's signed statement "I sign version v whose hash is H", kept as its envelope."""

    __tablename__ = "mentoring_signatures"
    __table_args__ = (UniqueConstraint("document_id", "city_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(
        ForeignKey("mentoring_documents.id", ondelete="CASCADE"), index=True
    )
    city_id: Mapped[str] = mapped_column(String(63))
    sha256: Mapped[str] = mapped_column(String(64))  # the hash the city named
    envelope_sha256: Mapped[str] = mapped_column(String(64))
    # Exactly one is set: our own envelope, or the partner's as received.
    out_seq: Mapped[int | None] = mapped_column(ForeignKey("out_envelopes.seq"))
    in_envelope_id: Mapped[int | None] = mapped_column(ForeignKey("in_envelopes.id"))
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime)


class MentoringSession(Base):
    """A session: planned → held → documented (shared notes due 7 days after), or cancelled."""

    __tablename__ = "mentoring_sessions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    relationship_id: Mapped[str] = mapped_column(
        ForeignKey("mentoring_relationships.id", ondelete="CASCADE"), index=True
    )
    state: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(200))
    planned_for: Mapped[datetime | None] = mapped_column(UTCDateTime)
    agenda: Mapped[str | None] = mapped_column(Text)
    held_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    notes: Mapped[str | None] = mapped_column(Text)  # the shared notes, once documented
    documented_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(63))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Note(Base):
    """A progress note, the mid-point review (both shared) or a private note (this node only).

    A private note records the local user who wrote it; a shared note only the city, because
    personal data stays on its node.
    """

    __tablename__ = "mentoring_notes"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    relationship_id: Mapped[str] = mapped_column(
        ForeignKey("mentoring_relationships.id", ondelete="CASCADE"), index=True
    )
    session_id: Mapped[str | None] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(20))  # progress | midpoint | private
    text: Mapped[str] = mapped_column(Text)
    author_city: Mapped[str] = mapped_column(String(63))
    author_user_id: Mapped[int | None] = mapped_column(Integer)  # private notes only
    shared: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Event(Base):
    """The relationship's history of state changes, as applied on this node."""

    __tablename__ = "mentoring_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    relationship_id: Mapped[str] = mapped_column(
        ForeignKey("mentoring_relationships.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    action: Mapped[str] = mapped_column(String(40))
    actor_city: Mapped[str] = mapped_column(String(63))
    from_state: Mapped[str] = mapped_column(String(20))
    to_state: Mapped[str] = mapped_column(String(20))
    envelope_sha256: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(String(500))


class MentoringMetadata(Base):
    """On the secretariat: what a member city reported about one of its relationships.

    Metadata only (ids, cities, state, dates): the secretariat never receives goals, notes or
    documents. One row per (relationship, reporting city), the latest report wins.
    """

    __tablename__ = "mentoring_metadata"

    relationship_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    reporter: Mapped[str] = mapped_column(String(63), primary_key=True)
    mentor: Mapped[str] = mapped_column(String(63))
    mentee: Mapped[str] = mapped_column(String(63))
    state: Mapped[str] = mapped_column(String(20))
    outcome: Mapped[str | None] = mapped_column(String(20))
    state_version: Mapped[int] = mapped_column(Integer)
    proposed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    envelope_seq: Mapped[int] = mapped_column(BigInteger)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
