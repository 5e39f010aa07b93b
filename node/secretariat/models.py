"""Storage for the secretariat role (benchmark inputs and groups) and for members (the
catalogue releases and benchmarks they receive from the secretariat; the directory's table,
:class:`DirectoryEntry`, is in :mod:`node.network.models`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from node.db import Base, UTCDateTime

# The directory the pinned secretariat sends is trust data the keyring reads (the notary):
# its table lives in the network core now; the name stays importable from here.

__all__ = [
    "BenchmarkBasis",
    "BenchmarkGroup",
    "BenchmarkInput",
    "CatalogueRelease",
    "ReceivedBenchmark",
]

# --- on the secretariat ------------------------------------------------------------------------


class BenchmarkInput(Base):
    """A city's latest total for one core indicator and period (older revisions are replaced:
    the envelopes themselves stay in ``in_envelopes``, the audit log)."""

    __tablename__ = "benchmark_inputs"
    __table_args__ = (
        UniqueConstraint("city_id", "indicator", "period"),
        # Covering index: the full recompute reads (city, value) of one catalogue version in
        # (indicator, period) order, and the incremental update one period's indicators,
        # without touching the table itself.
        Index(
            "ix_benchmark_inputs_scan",
            "catalogue_version",
            "indicator",
            "period",
            "city_id",
            "value",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    city_id: Mapped[str] = mapped_column(String(63), index=True)
    indicator: Mapped[str] = mapped_column(String(64))
    period: Mapped[str] = mapped_column(String(10))
    revision: Mapped[int] = mapped_column(Integer)
    value_text: Mapped[str] = mapped_column(String(64))  # as signed by the city
    value: Mapped[float] = mapped_column(Float)  # for the statistics only
    catalogue_version: Mapped[str | None] = mapped_column(String(40))
    envelope_sha256: Mapped[str] = mapped_column(String(64))


class BenchmarkGroup(Base):
    """Statistics of one (indicator, period, scope); scope is a region or ``network``.

    ``sorted_values`` keeps a region group's values, ascending, packed as IEEE 754 doubles
    (:func:`node.secretariat.benchmarks.pack_values`): one new summary then changes the group
    by a bisect-remove and an insert instead of re-reading every city's figure. A network
    group keeps none (NULL): its values are those of its regions together, and storing them
    twice would make every summary rewrite the biggest blob of all. They are the
    secretariat's working data, never sent as such (members get the rounded distribution of
    the groups they are in, and nothing of a suppressed group). Positions and sources are
    read from the inputs when members are sent their benchmarks.
    """

    __tablename__ = "benchmark_groups"

    indicator: Mapped[str] = mapped_column(String(64), primary_key=True)
    period: Mapped[str] = mapped_column(String(10), primary_key=True)
    scope: Mapped[str] = mapped_column(String(100), primary_key=True)
    n: Mapped[int] = mapped_column(Integer)
    suppressed: Mapped[bool] = mapped_column(Boolean)
    stats: Mapped[dict[str, str] | None] = mapped_column(
        JSON
    )  # decimal strings; None if suppressed
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    dirty: Mapped[bool] = mapped_column(Boolean, default=True)  # to be sent to members
    # None for network groups, and in rows written before distributions were stored (the
    # next update notices the missing basis, below, and recomputes everything first).
    sorted_values: Mapped[bytes | None] = mapped_column(LargeBinary)


class BenchmarkBasis(Base):
    """What the stored groups were computed against (one row): a digest of the catalogue
    version, the core indicators, ``benchmark_min_cities`` and every member with its region.

    The incremental update is only right if none of these changed since; when one did (a
    member removed, a region set, a new core catalogue), the next update or publication sees
    a different digest and recomputes every group first.
    """

    __tablename__ = "benchmark_basis"

    id: Mapped[int] = mapped_column(primary_key=True)  # always 1
    digest: Mapped[str] = mapped_column(String(64))
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime)


# --- on a member city --------------------------------------------------------------------------


class CatalogueRelease(Base):
    """A signed core catalogue the secretariat published; a city adopts it when ready."""

    __tablename__ = "catalogue_releases"

    version: Mapped[str] = mapped_column(String(40), primary_key=True)
    envelope_id: Mapped[int | None] = mapped_column(ForeignKey("in_envelopes.id"))
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime)
    adopted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ReceivedBenchmark(Base):
    """A benchmark group as the secretariat sent it to us, with our position in it."""

    __tablename__ = "received_benchmarks"

    indicator: Mapped[str] = mapped_column(String(64), primary_key=True)
    period: Mapped[str] = mapped_column(String(10), primary_key=True)
    scope: Mapped[str] = mapped_column(String(100), primary_key=True)
    envelope_id: Mapped[int] = mapped_column(ForeignKey("in_envelopes.id"))
    group: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
