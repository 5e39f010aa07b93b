"""SQLAlchemy 2.x models of a city node: catalogue, results, targets, evidence, budget, users.

Measured values are stored as decimal *text* (``value_text``), never as floating point: SQLite has
no exact decimal type and a result must come back byte-for-byte as it was entered and signed.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from node.db import Base, UTCDateTime
from schemas.fields import format_decimal


class Dimension(Base):
    """A disaggregation dimension (a ground of discrimination or a breakdown such as DISTRICT)."""

    __tablename__ = "dimensions"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    label: Mapped[str] = mapped_column(String(300))
    ground: Mapped[str | None] = mapped_column(String(300))
    core: Mapped[bool] = mapped_column(Boolean, default=True)
    codes: Mapped[list[DimensionCode]] = relationship(
        back_populates="dimension", cascade="all, delete-orphan", order_by="DimensionCode.position"
    )


class DimensionCode(Base):
    __tablename__ = "dimension_codes"

    dimension_code: Mapped[str] = mapped_column(
        ForeignKey("dimensions.code", ondelete="CASCADE"), primary_key=True
    )
    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    label: Mapped[str] = mapped_column(String(300))
    position: Mapped[int] = mapped_column(Integer, default=0)
    core: Mapped[bool] = mapped_column(Boolean, default=True)
    dimension: Mapped[Dimension] = relationship(back_populates="codes")


class Indicator(Base):
    """A catalogue entry: core (from the network catalogue) or local (added by the city)."""

    __tablename__ = "indicators"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(500))
    definition: Mapped[str | None] = mapped_column(Text)
    # {"fr": {"name": ..., "definition": ...}, ...}: the catalogue in several languages.
    translations: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    right: Mapped[str] = mapped_column(String(300))
    attribute: Mapped[str | None] = mapped_column(String(300))
    type: Mapped[str] = mapped_column(String(20))  # structural | process | outcome
    value_type: Mapped[str] = mapped_column(String(20))  # number | boolean | ordinal
    unit_code: Mapped[str] = mapped_column(String(64))
    unit_label: Mapped[str] = mapped_column(String(300))
    direction: Mapped[str] = mapped_column(String(20))  # good_up | good_down | context
    core: Mapped[bool] = mapped_column(Boolean, default=False)
    # The last core catalogue version it belonged to (for a retired one: before it was dropped).
    catalogue_version: Mapped[str | None] = mapped_column(String(40))
    # The core catalogue version that dropped it, if one did: it is then the city's own (local)
    # indicator, with all its results, and no longer compared across the network as core.
    retired_in: Mapped[str | None] = mapped_column(String(40))
    periodicity: Mapped[str | None] = mapped_column(String(100))
    method: Mapped[str | None] = mapped_column(Text)
    source_type: Mapped[list[str]] = mapped_column(JSON, default=list)
    sdg: Mapped[list[str]] = mapped_column(JSON, default=list)
    notes: Mapped[str | None] = mapped_column(Text)
    maps_to: Mapped[str | None] = mapped_column(String(64))  # a local indicator's core code
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    dimensions: Mapped[list[IndicatorDimension]] = relationship(
        cascade="all, delete-orphan", order_by="IndicatorDimension.position", lazy="selectin"
    )

    @property
    def theme(self) -> str:
        """The right an indicator measures is its theme (twinning agreements share themes)."""
        return self.right

    @property
    def dimension_codes(self) -> list[str]:
        return [d.dimension_code for d in self.dimensions]


class IndicatorDimension(Base):
    __tablename__ = "indicator_dimensions"

    indicator_code: Mapped[str] = mapped_column(
        ForeignKey("indicators.code", ondelete="CASCADE"), primary_key=True
    )
    dimension_code: Mapped[str] = mapped_column(ForeignKey("dimensions.code"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, default=0)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(300))
    role: Mapped[str] = mapped_column(String(30))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Part of the login cookie's identity (``get_id``): bumped at logout and at a password
    # change, so every cookie issued before stops working (a copied cookie dies with logout).
    session_version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")

    # Flask-Login protocol
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return f"{self.id}.{self.session_version}"


class ApiToken(Base):
    """A bearer token; only its SHA-256 is stored, so a database leak leaks no usable token."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))  # shown to admins to tell tokens apart
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    user: Mapped[User] = relationship()


class LoginThrottle(Base):
    """Failed sign-ins counted per account or per client address (``node.services.throttle``).

    Kept in the node's own database so every gunicorn worker and process sees the same counts,
    they survive a restart, and no extra server is needed. ``key`` is a SHA-256 of the scope and
    the value, so the table stores no e-mail address an attacker typed, in any length.
    """

    __tablename__ = "login_throttles"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    scope: Mapped[str] = mapped_column(String(10))  # account | address
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime] = mapped_column(UTCDateTime)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the row no longer matters (no lock, no failure in the window): pruned after that.
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class Result(Base):
    """One figure: indicator × period × disaggregation, with status and provenance."""

    __tablename__ = "results"
    # Every index of ``results`` is paid for by every write: an UPDATE that PostgreSQL cannot
    # make heap-only (HOT) adds an entry to each index, and SQLite rewrites each index holding
    # a column it sets. So only the indexes a query needs (issue 14, seventh round: the import
    # of 100k figures into a million spent most of the server's time on six indexes). Gone in
    # migration 0022: the index on ``indicator_code`` alone (the first column of the two
    # below, which serve its reads), the one on ``status`` (three values, 97 % of the rows
    # published: it served only a search for drafts or validated figures without an
    # indicator, which now reads the table, ~0.1 s at a million), and ``value_text``,
    # ``status`` and ``period`` from ``ix_results_latest`` (see there).
    __table_args__ = (
        # The figure's identity; serves every read by indicator and period(s) (stored figures
        # of an import or a write, change_status, group counts, equality gaps, baselines) and
        # by indicator alone (the list of results, the indicator page's charts, exports).
        UniqueConstraint("indicator_code", "period", "disaggregation_key"),
        # Serves node.services.results.refresh_latest: a breakdown's figures newest first
        # (one backwards seek per breakdown and audience, and the rows of an indicator's
        # rebuild in its window's order). It holds no column that a write of a figure changes
        # (value, status, provenance), so on PostgreSQL such an update can be heap-only (HOT,
        # when the page has room): no index entry at all; on SQLite the import's UPDATE
        # touches no index. The seek reads the status and value from the rows (a few rows
        # per breakdown).
        Index(
            "ix_results_latest",
            "indicator_code",
            "disaggregation_key",
            "period_end",
            "period_start",
        ),
        # PostgreSQL: each page keeps 10 % free for new versions of its rows, so an update
        # that changes no indexed column can stay on its page, heap-only (HOT): an UPDATE of
        # 25,000 figures spread over a million, 0.55-0.7 s of server time at 100, 0.23-0.25 s
        # at 90 (migration 0022).
        {"postgresql_with": {"fillfactor": 90}},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    indicator_code: Mapped[str] = mapped_column(ForeignKey("indicators.code"))
    period: Mapped[str] = mapped_column(String(10))
    period_start: Mapped[date] = mapped_column(Date)
    # Indexed for the portal (node.portal): the years with published figures (min and max
    # period end), whether a year has any, and the annual report's figures of one year.
    period_end: Mapped[date] = mapped_column(Date, index=True)
    # Canonical "DIM=CODE|DIM=CODE" (sorted), "" for the total; see node.disaggregation.
    disaggregation_key: Mapped[str] = mapped_column(String(500), default="")
    disaggregation: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    value_text: Mapped[str] = mapped_column(String(64))
    # How many people or cases the figure rests on, when known: small cells are suppressed
    # before a summary leaves the node, so a breakdown never singles out a few residents.
    cases: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))  # draft|validated|published
    source: Mapped[str | None] = mapped_column(String(500))
    method: Mapped[str | None] = mapped_column(String(500))
    note: Mapped[str | None] = mapped_column(Text)
    entered_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    entered_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    entered_by: Mapped[User | None] = relationship(lazy="joined")

    @property
    def value(self) -> Decimal | bool:
        if self.value_text in ("true", "false"):
            return self.value_text == "true"
        return Decimal(self.value_text)

    @value.setter
    def value(self, new: Decimal | bool) -> None:
        if isinstance(new, bool):
            self.value_text = "true" if new else "false"
        else:
            self.value_text = format_decimal(new)


class DataVersion(Base):
    """One row: a counter bumped in the same transaction as every write to results, targets or
    the catalogue (``node.data_version``), so each process may cache answers per version."""

    __tablename__ = "data_version"

    id: Mapped[int] = mapped_column(primary_key=True)
    epoch: Mapped[str] = mapped_column(String(32))  # random per database
    version: Mapped[int] = mapped_column(BigInteger)
    # Bumped with every watched write except the figures' writes declared per indicator
    # (``node.data_version.indicator_writes``): what every indicator's answers depend on.
    shared_version: Mapped[int] = mapped_column(BigInteger, server_default="0")


class IndicatorVersion(Base):
    """Per indicator, a counter bumped in the same transaction as every declared write of its
    figures (``node.data_version.indicator_writes``): the dashboard keeps each indicator's part
    per (shared version, this version), so a figure entered for one indicator recomputes that
    indicator's part alone (issue 14). An indicator without a row is at version 0."""

    __tablename__ = "indicator_versions"

    indicator_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)


class LatestResult(Base):
    """The latest figure of every breakdown, per audience: what progress and the dashboard read.

    ``scope`` is ``published`` (what the public sees) or ``official`` (validated or published:
    what officials see; drafts never count). Maintained by ``node.services.results`` in the same
    transaction as every write to ``results`` (``store_results``, ``change_status``), so it always
    equals the plain definition over ``results``: for each (indicator, breakdown), the figure
    among the scope's statuses whose period ends last, then starts last. It holds one row per
    breakdown instead of one per period, so progress at a million results reads ~8,000 rows.
    Anything else that writes ``results`` must call ``node.services.results.refresh_latest`` (and
    ``refresh_group_counts``, which keeps ``results_group_counts`` exact the same way).
    """

    __tablename__ = "results_latest"

    indicator_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    scope: Mapped[str] = mapped_column(String(10), primary_key=True)
    disaggregation_key: Mapped[str] = mapped_column(String(500), primary_key=True)
    period: Mapped[str] = mapped_column(String(10))
    value_text: Mapped[str] = mapped_column(String(64))


class ResultGroupCount(Base):
    """How many groups of each ground have a figure, per indicator, audience and period.

    What the dashboard's equality gaps start from (``node.services.overview.equality_gaps``):
    a ground has a gap in a period when two groups or more have a figure. The plain definition
    (``node.services.results.group_counts_query``): among the counted figures of the ``scope``
    (``published``; ``official`` = validated or published; drafts never), those broken down by
    one dimension alone (``"SEX=F"``, never the total nor a cross) whose value is a number (not
    yes/no), counted per (indicator, dimension, period). Only periods with one figure or more
    have a row. Maintained by ``node.services.results.refresh_group_counts`` in the same
    transaction as every write to ``results``, beside ``results_latest``: without it, the first
    dashboard after any write counted ~340,000 figures at a million results (issue 14).
    """

    __tablename__ = "results_group_counts"

    # Key in this order: a write recounts one (indicator, period) at a time, so its rows are
    # one prefix of the primary key (the dashboard reads the whole table, ~12,000 rows at 1M).
    indicator_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    period: Mapped[str] = mapped_column(String(10), primary_key=True)
    scope: Mapped[str] = mapped_column(String(10), primary_key=True)
    ground: Mapped[str] = mapped_column(String(500), primary_key=True)
    groups: Mapped[int] = mapped_column(Integer)


class ResultChange(Base):
    """One line of a figure's history: who changed what, when, old → new (value and status), why.

    Written by ``node.services.results`` in the same transaction as the change it records (a
    figure is never changed without its line, nor a line kept for a change rolled back). The
    first line of a figure is its creation (no old value). ``affected_summaries`` lists the
    signed summaries that carried the figure when a validated or published one was changed
    (``[{period, revision, sha256, audience}]``): they keep the old value until the next
    publication of that period, which carries the corrected one.
    """

    __tablename__ = "result_changes"
    __table_args__ = (Index("ix_result_changes_result", "result_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # On PostgreSQL this key is kept by triggers instead (migration 0023: its row-by-row check
    # was ~0.4 server CPU-s of an import of 100,000 figures); same rule.
    result_id: Mapped[int] = mapped_column(ForeignKey("results.id", ondelete="CASCADE"))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Who, kept as text too: the line still says who after the account is removed; None with
    # "operator" = the node's operator on the command line.
    changed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    changed_by: Mapped[str] = mapped_column(String(320))
    old_value_text: Mapped[str | None] = mapped_column(String(64))
    new_value_text: Mapped[str] = mapped_column(String(64))
    old_status: Mapped[str | None] = mapped_column(String(20))
    new_status: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(Text)
    affected_summaries: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)


class Target(Base):
    """Baseline and target of an indicator (for the total, or one disaggregation)."""

    __tablename__ = "targets"
    __table_args__ = (UniqueConstraint("indicator_code", "disaggregation_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    indicator_code: Mapped[str] = mapped_column(ForeignKey("indicators.code", ondelete="CASCADE"))
    disaggregation_key: Mapped[str] = mapped_column(String(500), default="")
    disaggregation: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    baseline_period: Mapped[str | None] = mapped_column(String(10))
    baseline_value: Mapped[str | None] = mapped_column(String(64))
    target_period: Mapped[str | None] = mapped_column(String(10))
    target_value: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Evidence(Base):
    """Qualitative evidence: a civil-society or community report about an indicator and period."""

    __tablename__ = "evidence"

    id: Mapped[int] = mapped_column(primary_key=True)
    indicator_code: Mapped[str] = mapped_column(ForeignKey("indicators.code"), index=True)
    period: Mapped[str] = mapped_column(String(10))
    kind: Mapped[str] = mapped_column(String(30))  # cso_report | community_report | survey | ...
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    organisation: Mapped[str | None] = mapped_column(String(300))
    url: Mapped[str | None] = mapped_column(String(1000))
    status: Mapped[str] = mapped_column(String(20), default="submitted")  # submitted|published
    submitted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class BudgetLine(Base):
    """A municipal budget line linked to an indicator: money allocated and executed."""

    __tablename__ = "budget_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    indicator_code: Mapped[str] = mapped_column(ForeignKey("indicators.code"), index=True)
    period: Mapped[str] = mapped_column(String(10))
    programme: Mapped[str] = mapped_column(String(300))
    allocated: Mapped[str] = mapped_column(String(64))
    executed: Mapped[str | None] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(3))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class EvidenceAttachment(Base):
    """A file attached to evidence (a report, a photo), kept under the node's data directory.

    The file is stored under ``stored_name``, a random name the node generated: the client's file
    name is only shown (cleaned) and never used as a path, so an upload cannot choose where it
    lands. ``media_type`` was decided from the file's first bytes, not from what the client said.
    """

    __tablename__ = "evidence_attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    evidence_id: Mapped[int] = mapped_column(
        ForeignKey("evidence.id", ondelete="CASCADE"), index=True
    )
    stored_name: Mapped[str] = mapped_column(String(64), unique=True)
    filename: Mapped[str] = mapped_column(String(200))
    media_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PasswordReset(Base):
    """A one-time password-reset link an administrator issued for a user.

    Only the SHA-256 of the link's secret is stored (like API tokens): a database leak gives no
    usable link. A link works once (``used_at``) and only until ``expires_at``.
    """

    __tablename__ = "password_resets"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    issued_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CsoFigure(Base):
    """A civil-society organisation's own figure for an indicator and period: its statement.

    Kept apart from ``results`` on purpose: it is never merged with, averaged into or charted
    as the city's official figure, and officials cannot edit it (the words are the CSO's).
    When published, the node signs it as the CSO's statement (``envelope_raw``/``sha256``).
    """

    __tablename__ = "cso_figures"
    __table_args__ = (
        UniqueConstraint("organisation", "indicator_code", "period", "disaggregation_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    indicator_code: Mapped[str] = mapped_column(ForeignKey("indicators.code"), index=True)
    period: Mapped[str] = mapped_column(String(10))
    # Canonical "DIM=CODE|DIM=CODE" (sorted), "" for the total; see node.disaggregation.
    disaggregation_key: Mapped[str] = mapped_column(String(500), default="")
    disaggregation: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    value_text: Mapped[str] = mapped_column(String(64))
    organisation: Mapped[str] = mapped_column(String(300))
    method: Mapped[str] = mapped_column(String(2000))
    source: Mapped[str] = mapped_column(String(1000))
    note: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), index=True)  # draft|published|withdrawn
    entered_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    entered_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    envelope_raw: Mapped[str | None] = mapped_column(Text)
    envelope_sha256: Mapped[str | None] = mapped_column(String(64), unique=True)
    # The CSO's consent to carry this figure to the city's twins (default: not shared). Said
    # before publishing: the audience is part of what is signed.
    share_with_twins: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The twins the signed statement was addressed to (its audience, fixed when signed).
    shared_with: Mapped[list[str] | None] = mapped_column(JSON, default=list)
    # Withdrawals, each announced by a signed ``hrc.cso_withdrawal`` (never a silent change):
    # of the consent (twins stop showing it), or of the figure itself (status "withdrawn").
    sharing_withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    withdrawal_reason: Mapped[str | None] = mapped_column(Text)
    entered_by: Mapped[User | None] = relationship(lazy="joined")

    @property
    def value(self) -> Decimal | bool:
        """The stated value: a decimal, or yes/no for a yes/no indicator."""
        if self.value_text in ("true", "false"):
            return self.value_text == "true"
        return Decimal(self.value_text)


class ReceivedCsoStatement(Base):
    """A twin's civil-society statement, received because its CSO agreed to share it.

    The twin's CSO's word, verified like any envelope and kept apart from the twin's official
    figures (``received_figures``): shown beside them, never merged. A signed withdrawal from
    the twin marks it withdrawn (no longer shown); the verbatim envelopes stay in the inbox.
    """

    __tablename__ = "received_cso_statements"
    __table_args__ = (UniqueConstraint("origin", "envelope_sha256"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    envelope_id: Mapped[int] = mapped_column(ForeignKey("in_envelopes.id"))
    origin: Mapped[str] = mapped_column(String(63), index=True)
    envelope_sha256: Mapped[str] = mapped_column(String(64))
    organisation: Mapped[str] = mapped_column(String(300))
    # The twin's catalogue code (maybe a local indicator of theirs): no foreign key here.
    indicator_code: Mapped[str] = mapped_column(String(64))
    period: Mapped[str] = mapped_column(String(10))
    disaggregation_key: Mapped[str] = mapped_column(String(500), default="")
    disaggregation: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    value_text: Mapped[str] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(String(2000))
    source: Mapped[str] = mapped_column(String(1000))
    note: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    withdrawal_scope: Mapped[str | None] = mapped_column(String(20))  # figure|sharing
    withdrawal_reason: Mapped[str | None] = mapped_column(Text)

    @property
    def value(self) -> Decimal | bool:
        """The stated value: a decimal, or yes/no."""
        if self.value_text in ("true", "false"):
            return self.value_text == "true"
        return Decimal(self.value_text)
