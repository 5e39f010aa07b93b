"""Storage for the network: our keys and envelopes, peers, outbox, received envelopes.

Every accepted envelope is kept verbatim (append-only): it is the audit log from which anyone
can re-verify what a city said.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from node.db import Base, UTCDateTime


class NodeKey(Base):
    """One of our own signing keys (the private half is a file in the data dir, never here)."""

    __tablename__ = "node_keys"

    key_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    public_b64: Mapped[str] = mapped_column(String(64))
    file_name: Mapped[str | None] = mapped_column(String(200))  # None once the file is destroyed
    state: Mapped[str] = mapped_column(String(20))  # current | old | revoked
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expired_ts: Mapped[int | None] = mapped_column(BigInteger)  # old: verifies documents before
    revoked_ts: Mapped[int | None] = mapped_column(BigInteger)


class OutEnvelope(Base):
    """An envelope we signed: exact bytes as served, in one sequence across our streams.

    ``seq`` comes from one counter for every stream, so it strictly increases per (origin,
    stream) as the contract requires, and one ``since`` cursor serves a pull across streams.
    """

    __tablename__ = "out_envelopes"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    stream: Mapped[str] = mapped_column(String(40))
    type: Mapped[str] = mapped_column(String(60))
    created_ts: Mapped[int] = mapped_column(BigInteger)
    audience: Mapped[list[str]] = mapped_column(JSON)
    raw: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    period: Mapped[str | None] = mapped_column(String(10))
    revision: Mapped[int | None] = mapped_column(Integer)
    superseded: Mapped[bool] = mapped_column(Boolean, default=False)


class Peer(Base):
    """Another node we know: a twin (or a twinning request in either direction)."""

    __tablename__ = "peers"

    city_id: Mapped[str] = mapped_column(String(63), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    base_url: Mapped[str] = mapped_column(String(500))
    country: Mapped[str | None] = mapped_column(String(2))
    region: Mapped[str | None] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(20), default="city")
    # requested (we asked) | pending (they asked us) | active | declined | ended
    state: Mapped[str] = mapped_column(String(20))
    themes: Mapped[list[str] | None] = mapped_column(JSON)  # None = every theme
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    note: Mapped[str | None] = mapped_column(Text)
    # delivery state, per destination, kept in the database (survives restarts)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    first_failure_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    unavailable: Mapped[bool] = mapped_column(Boolean, default=False)
    delivery_lock_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    pulled_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    keys: Mapped[list[PeerKey]] = relationship(cascade="all, delete-orphan", lazy="selectin")


class PeerKey(Base):
    """A key of another node, with where we learnt it (pinned at twinning, fetched, notary)."""

    __tablename__ = "peer_keys"

    city_id: Mapped[str] = mapped_column(
        ForeignKey("peers.city_id", ondelete="CASCADE"), primary_key=True
    )
    key_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    public_b64: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(20))  # current | old | revoked
    expired_ts: Mapped[int | None] = mapped_column(BigInteger)
    revoked_ts: Mapped[int | None] = mapped_column(BigInteger)
    source: Mapped[str] = mapped_column(String(20))  # pinned | key_document | notary
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    keydoc_seq: Mapped[int | None] = mapped_column(BigInteger)


class OutboxItem(Base):
    """One envelope to deliver to one destination; drained in ``seq`` order per destination."""

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("destination", "seq"),
        Index("ix_outbox_pending", "destination", "state", "seq"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    destination: Mapped[str] = mapped_column(ForeignKey("peers.city_id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(ForeignKey("out_envelopes.seq"))
    # pending | delivered | dead (permanent refusal, shown to admins) | skipped (superseded)
    state: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    envelope: Mapped[OutEnvelope] = relationship(lazy="joined")


class InEnvelope(Base):
    """An envelope we accepted, exactly as received (append-only audit log)."""

    __tablename__ = "in_envelopes"
    __table_args__ = (UniqueConstraint("origin", "stream", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    origin: Mapped[str] = mapped_column(String(63), index=True)
    stream: Mapped[str] = mapped_column(String(40))
    seq: Mapped[int] = mapped_column(BigInteger)
    type: Mapped[str] = mapped_column(String(60))
    key_id: Mapped[str] = mapped_column(String(64))
    created_ts: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    raw: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    via: Mapped[str] = mapped_column(String(10))  # push | pull


class ReceivedSummary(Base):
    """A peer's summary for a period (one row per revision; ``current`` marks the newest)."""

    __tablename__ = "received_summaries"
    __table_args__ = (UniqueConstraint("origin", "period", "revision"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    envelope_id: Mapped[int] = mapped_column(ForeignKey("in_envelopes.id"))
    origin: Mapped[str] = mapped_column(String(63), index=True)
    period: Mapped[str] = mapped_column(String(10))
    revision: Mapped[int] = mapped_column(Integer)
    current: Mapped[bool] = mapped_column(Boolean, default=True)
    catalogue_version: Mapped[str | None] = mapped_column(String(40))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    envelope: Mapped[InEnvelope] = relationship(lazy="joined")
    figures: Mapped[list[ReceivedFigure]] = relationship(cascade="all, delete-orphan")


class ReceivedFigure(Base):
    """One figure of a received summary, parsed for comparison views."""

    __tablename__ = "received_figures"

    id: Mapped[int] = mapped_column(primary_key=True)
    # On PostgreSQL this key is kept by statement-level triggers instead (migration 0021: its
    # row-by-row check was 40 % of the server's work per received summary); same rule.
    summary_id: Mapped[int] = mapped_column(
        ForeignKey("received_summaries.id", ondelete="CASCADE"), index=True
    )
    indicator: Mapped[str] = mapped_column(String(64))
    maps_to: Mapped[str | None] = mapped_column(String(64))
    disaggregation_key: Mapped[str] = mapped_column(String(500), default="")
    value_text: Mapped[str] = mapped_column(String(64))


class FederationIncident(Base):
    """Something a peer did that we refused and must remember (equivocation, rollback...)."""

    __tablename__ = "federation_incidents"

    id: Mapped[int] = mapped_column(primary_key=True)
    origin: Mapped[str] = mapped_column(String(63), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class SecretariatAnchor(Base):
    """The secretariat this node trusts (its trust anchor): one row at most.

    Written when this city's official applies to a secretariat (``state = applied``) and made
    ``pinned`` by that secretariat's signed admission, or pinned directly by an operator. Only
    the pinned secretariat may send directories, catalogue releases and benchmarks; a peer's
    self-declared role never counts (see ``node.network.trust``).
    """

    __tablename__ = "secretariat_anchor"
    # One row at most: the slot is the primary key and can only be 1.
    __table_args__ = (CheckConstraint("slot = 1", name="one_anchor"),)

    slot: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False, default=1)
    city_id: Mapped[str] = mapped_column(String(63))
    base_url: Mapped[str] = mapped_column(String(500))
    key_id: Mapped[str] = mapped_column(String(64))
    public_b64: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(20))  # applied | pinned
    how: Mapped[str] = mapped_column(String(20))  # membership | operator
    by: Mapped[str | None] = mapped_column(String(200))  # who applied / pinned (e-mail, "CLI")
    applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    pinned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class KeyChange(Base):
    """A twin's key the secretariat's directory replaced: it takes effect only when an official
    confirms it, after comparing the new fingerprint with the twin out of band."""

    __tablename__ = "key_changes"
    __table_args__ = (Index("ix_key_changes_city_state", "city_id", "state"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    city_id: Mapped[str] = mapped_column(ForeignKey("peers.city_id", ondelete="CASCADE"))
    # The keys we hold as current that the directory dropped, and the ones it lists instead.
    old_keys: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    new_keys: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    new_key_ids: Mapped[str] = mapped_column(String(400))  # sorted, comma-joined (dedup)
    directory_origin: Mapped[str] = mapped_column(String(63))
    directory_seq: Mapped[int] = mapped_column(BigInteger)
    # pending | confirmed | rejected | superseded (a later directory listed other keys)
    state: Mapped[str] = mapped_column(String(20))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by: Mapped[str | None] = mapped_column(String(200))


class KeyFetch(Base):
    """A known peer signed with a key id we do not have: a job fetches its key document.

    One row per origin (the primary key deduplicates), only for peers we already know, and the
    table is bounded (``keyfetch.MAX_QUEUED``): a request thread never fetches anything itself.
    """

    __tablename__ = "key_fetches"

    origin: Mapped[str] = mapped_column(
        ForeignKey("peers.city_id", ondelete="CASCADE"), primary_key=True
    )
    key_id: Mapped[str] = mapped_column(String(64))
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)


class PeerDiscovery(Base):
    """An official's request to twin with the node at ``url``, discovered later by a job.

    queued → requested (discovered, key pinned, signed request in the outbox; ``city_id`` set)
    or failed (``reason`` says why, in words that never tell a refused address from a closed
    port).
    """

    __tablename__ = "peer_discoveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(500))
    themes: Mapped[list[str] | None] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(20), index=True)
    reason: Mapped[str | None] = mapped_column(Text)
    code: Mapped[str | None] = mapped_column(String(40))
    city_id: Mapped[str | None] = mapped_column(String(63))
    requested_by: Mapped[str | None] = mapped_column(String(200))  # who asked, for the record
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class DirectoryEntry(Base):
    """A member of the network as the pinned secretariat's signed directory lists it.

    Core trust data: the keyring reads it as the notary (a key it does not list for a member is
    refused; :func:`node.network.keyring.notary_keys`). Written only by the secretariat feature's
    directory handler, from a verified envelope of the pinned secretariat."""

    __tablename__ = "directory_entries"

    city_id: Mapped[str] = mapped_column(String(63), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    region: Mapped[str | None] = mapped_column(String(100))
    country: Mapped[str | None] = mapped_column(String(2))
    base_url: Mapped[str] = mapped_column(String(500))
    state: Mapped[str] = mapped_column(String(20))
    keys: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    directory_seq: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
