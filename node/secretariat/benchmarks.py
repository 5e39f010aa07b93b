"""Regional benchmarks, computed by the secretariat from its members' signed summaries.

For each core indicator × period × scope (each region, and the whole network): how many cities
reported, min, quartiles, median, max, mean — published only where at least
``benchmark_min_cities`` cities reported (smaller groups are never sent, not even their size).
Each member receives the groups it is in, with its own rank, percentile, quartile, distance to
the best quartile and trend, and the envelope hashes the figures came from, so anyone can
re-verify them.

Only each city's latest revision counts (older ones are replaced in ``benchmark_inputs``; the
envelopes stay in the audit log), and only cities following the secretariat's catalogue
version (benchmarks compare like with like). The maths is in :mod:`node.secretariat.stats`.

Speed matters here (1,000 cities × 100 indicators × 10 periods in under 2 s), so the hot paths
read with the raw DB-API cursor in (indicator, period) order and write groups in one batch.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, tuple_
from sqlalchemy.orm import Session

from node.config import NodeConfig
from node.models import Indicator
from node.network import outbox
from node.network.models import Peer
from node.secretariat import stats
from node.secretariat.models import BenchmarkGroup, BenchmarkInput
from node.services import catalogue
from schemas.fields import parse_decimal
from schemas.periods import parse_period
from schemas.secretariat import BENCHMARK_STREAM, BENCHMARK_TYPE

NETWORK = stats.NETWORK_SCOPE
MEMBER_STATES = ("active", "suspended")  # a suspended city's earlier figures still count

GroupKey = tuple[str, str]  # (indicator, period)


def catalogue_version(session: Session) -> str | None:
    """The core catalogue version this node follows (what benchmarks compare)."""
    return catalogue.current_version(session)


def directions(session: Session) -> dict[str, str]:
    return {
        code: direction
        for code, direction in session.execute(select(Indicator.code, Indicator.direction))
    }


def regions(session: Session) -> dict[str, str]:
    return {
        city: region or "unassigned"
        for city, region in session.execute(
            select(Peer.city_id, Peer.region).where(
                Peer.role == "city", Peer.state.in_(MEMBER_STATES)
            )
        )
    }


class _Reader:
    """Raw DB-API reads: 1M rows through the ORM cost seconds, through the driver a fraction
    of one. Statements use ``?`` placeholders, rewritten for PostgreSQL's driver."""

    def __init__(self, session: Session) -> None:
        connection = session.connection()
        self.sqlite = connection.dialect.name == "sqlite"
        self.cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]

    def all(self, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        self.cursor.execute(sql if self.sqlite else sql.replace("?", "%s"), params)
        return list(self.cursor.fetchall())

    def close(self) -> None:
        self.cursor.close()


def _raw(session: Session, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    reader = _Reader(session)
    try:
        return reader.all(sql, params)
    finally:
        reader.close()


_KEYS_SQL = (
    "SELECT DISTINCT indicator, period FROM benchmark_inputs "
    "WHERE catalogue_version = ? ORDER BY indicator, period"
)
_GROUP_SQL = (
    "SELECT city_id, value FROM benchmark_inputs "
    "WHERE catalogue_version = ? AND indicator = ? AND period = ?"
)


def _group_values(
    session: Session, version: str | None, keys: set[GroupKey] | None
) -> Iterator[tuple[GroupKey, list[tuple[str, float]]]]:
    """(indicator, period) → [(city, value)], one indexed query per pair (the covering index
    answers each without touching the table, and only two columns become Python objects)."""
    reader = _Reader(session)
    try:
        wanted = (
            sorted(keys)
            if keys is not None
            else [(i, p) for i, p in reader.all(_KEYS_SQL, [version])]
        )
        for indicator, period in wanted:
            yield (indicator, period), reader.all(_GROUP_SQL, [version, indicator, period])
    finally:
        reader.close()


_PG_AGGREGATE_SQL = """
SELECT i.indicator, i.period, GROUPING(COALESCE(p.region, 'unassigned')) AS whole_network,
       COALESCE(p.region, 'unassigned') AS region, count(*), min(i.value),
       percentile_cont(ARRAY[0.25, 0.5, 0.75]) WITHIN GROUP (ORDER BY i.value),
       max(i.value), avg(i.value)
FROM benchmark_inputs i JOIN peers p ON p.city_id = i.city_id
WHERE i.catalogue_version = %s AND p.role = 'city' AND p.state IN ('active', 'suspended')
  {keys}
GROUP BY GROUPING SETS ((i.indicator, i.period, COALESCE(p.region, 'unassigned')),
                        (i.indicator, i.period))
"""


def _groups_postgresql(
    session: Session,
    version: str | None,
    keys: set[GroupKey] | None,
    min_cities: int,
    now: datetime,
) -> Iterator[dict[str, Any]]:
    """The same groups, computed by PostgreSQL itself: one round trip instead of one per
    (indicator, period). ``percentile_cont`` interpolates linearly between ranks, which is the
    "inclusive" quartile method of ``stats.group_stats``; tests check both paths agree."""
    params: list[Any] = [version]
    key_filter = ""
    if keys is not None:
        key_filter = "AND i.indicator = ANY(%s) AND i.period = ANY(%s)"
        params += [sorted({k[0] for k in keys}), sorted({k[1] for k in keys})]
    cursor = session.connection().connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(_PG_AGGREGATE_SQL.format(keys=key_filter), params)
        rows = cursor.fetchall()
    finally:
        cursor.close()
    for indicator, period, whole, region, n, low, quartiles, high, mean in rows:
        q1, median, q3 = quartiles  # one sort per group for all three
        if keys is not None and (indicator, period) not in keys:
            continue
        published = n >= min_cities
        yield {
            "indicator": indicator,
            "period": period,
            "scope": NETWORK if whole else region,
            "n": n,
            "suppressed": not published,
            "stats": {
                "min": low,
                "q1": q1,
                "median": median,
                "q3": q3,
                "max": high,
                "mean": float(mean),
            }
            if published
            else None,
            "computed_at": now,
            "dirty": True,
        }


def _groups(
    session: Session,
    version: str | None,
    keys: set[GroupKey] | None,
    region_of: dict[str, str],
    min_cities: int,
    now: datetime,
) -> Iterator[dict[str, Any]]:
    """The group rows to store for every (indicator, period) and scope."""
    if session.connection().dialect.name == "postgresql":
        yield from _groups_postgresql(session, version, keys, min_cities, now)
        return
    for (indicator, period), pairs in _group_values(session, version, keys):
        by_region: dict[str, list[float]] = defaultdict(list)
        network: list[float] = []
        for city, value in pairs:
            region = region_of.get(city)
            if region is not None:  # removed members no longer count
                network.append(value)
                by_region[region].append(value)
        for scope, values in ((NETWORK, network), *sorted(by_region.items())):
            if not values:
                continue
            group = stats.group_stats(values, min_cities)
            yield {
                "indicator": indicator,
                "period": period,
                "scope": scope,
                "n": len(values),
                "suppressed": group is None,
                "stats": None
                if group is None
                else {
                    "min": group.min,
                    "q1": group.q1,
                    "median": group.median,
                    "q3": group.q3,
                    "max": group.max,
                    "mean": group.mean,
                },
                "computed_at": now,
                "dirty": True,
            }


def _values(
    session: Session, version: str | None, keys: set[GroupKey]
) -> list[tuple[str, str, str, float]]:
    """(indicator, period, city, value) for the given pairs."""
    return [
        (indicator, period, city, value)
        for (indicator, period), pairs in _group_values(session, version, keys)
        for city, value in pairs
    ]


def full_recompute(session: Session, config: NodeConfig, now: datetime) -> int:
    """Recompute every group from every input (``hrcnet benchmarks recompute``)."""
    groups = list(
        _groups(
            session,
            catalogue_version(session),
            None,
            regions(session),
            config.benchmark_min_cities,
            now,
        )
    )
    session.execute(delete(BenchmarkGroup))
    if groups:
        session.execute(insert(BenchmarkGroup), groups)
    return len(groups)


def recompute(session: Session, config: NodeConfig, keys: set[GroupKey], now: datetime) -> int:
    """Recompute the groups of the given (indicator, period) pairs (incremental update)."""
    if not keys:
        return 0
    groups = list(
        _groups(
            session,
            catalogue_version(session),
            keys,
            regions(session),
            config.benchmark_min_cities,
            now,
        )
    )
    session.execute(
        delete(BenchmarkGroup).where(
            tuple_(BenchmarkGroup.indicator, BenchmarkGroup.period).in_(sorted(keys))
        )
    )
    if groups:
        session.execute(insert(BenchmarkGroup), groups)
    return len(groups)


def ingest_summary(
    session: Session,
    config: NodeConfig,
    peer: Peer,
    payload: dict[str, Any],
    *,
    digest: str,
    now: datetime,
) -> int:
    """Record a member's totals for core indicators (directly or via ``maps_to``) and update the
    groups they fall in. A lower revision arriving late never replaces a higher one."""
    core = set(session.scalars(select(Indicator.code).where(Indicator.core)))
    period, revision = payload["period"], payload["revision"]
    totals: dict[str, str] = {}
    for indicator in payload["indicators"]:
        code = indicator["code"] if indicator["core"] else indicator.get("maps_to")
        if code not in core or indicator.get("value_type") == "boolean":
            continue
        total = next((f for f in indicator["results"] if not f["disaggregation"]), None)
        if total is not None and isinstance(total["value"], str):
            totals[code] = total["value"]
    if not totals:
        return 0
    existing = {
        row.indicator: row
        for row in session.scalars(
            select(BenchmarkInput).where(
                BenchmarkInput.city_id == peer.city_id, BenchmarkInput.period == period
            )
        )
    }
    new_rows = []
    touched: set[GroupKey] = set()
    for code, text in totals.items():
        row = existing.get(code)
        fields = {
            "revision": revision,
            "value_text": text,
            "value": float(parse_decimal(text)),
            "catalogue_version": payload.get("catalogue_version"),
            "envelope_sha256": digest,
        }
        if row is None:
            new_rows.append(
                {"city_id": peer.city_id, "indicator": code, "period": period, **fields}
            )
        elif row.revision < revision:
            for name, value in fields.items():
                setattr(row, name, value)
        else:
            continue
        touched.add((code, period))
    if new_rows:
        session.execute(insert(BenchmarkInput), new_rows)
    session.flush()
    recompute(session, config, touched, now)
    return len(touched)


# --- what members are sent ------------------------------------------------------------------------


def _inputs_for(session: Session, keys: set[GroupKey]) -> dict[GroupKey, dict[str, float]]:
    """City → value for each (indicator, period), including the previous periods (trends)."""
    wanted = keys | {(i, str(parse_period(p).previous())) for i, p in keys}
    version = catalogue_version(session)
    by_key: dict[GroupKey, dict[str, float]] = defaultdict(dict)
    for indicator, period, city, value in _values(session, version, wanted):
        by_key[(indicator, period)][city] = value
    return by_key


def _sources(session: Session, periods: set[str]) -> dict[tuple[str, str], list[str]]:
    """Envelope hashes of the summaries behind each (period, scope): the provenance."""
    if not periods:
        return {}
    region_of = regions(session)
    placeholders = ",".join("?" * len(periods))  # only placeholders are interpolated
    sql = f"SELECT DISTINCT period, city_id, envelope_sha256 FROM benchmark_inputs WHERE period IN ({placeholders})"  # noqa: E501, S608
    rows = _raw(session, sql, sorted(periods))
    out: dict[tuple[str, str], set[str]] = defaultdict(set)
    for period, city, digest in rows:
        if city in region_of:
            out[(period, NETWORK)].add(digest)
            out[(period, region_of[city])].add(digest)
    return {key: sorted(hashes) for key, hashes in out.items()}


def member_view(
    group: BenchmarkGroup,
    values: dict[str, float],
    previous: dict[str, float],
    previous_group: BenchmarkGroup | None,
    sources: list[str],
    city_id: str | None,
    direction: str,
    region_of: dict[str, str],
) -> dict[str, Any]:
    """One group as a member sees it: statistics, anonymous distribution, sources, position."""
    assert group.stats is not None
    in_scope = [
        v for c, v in values.items() if group.scope == NETWORK or region_of.get(c) == group.scope
    ]
    distribution = stats.group_stats(in_scope, 1)
    view: dict[str, Any] = {
        "indicator": group.indicator,
        "period": group.period,
        "scope": group.scope,
        "direction": direction,
        "n": group.n,
        # Numbers travel as decimal strings, never as JSON floats (payload rule).
        "stats": {name: stats.decimal_text(value) for name, value in group.stats.items()},
        "distribution": [stats.decimal_text(v) for v in sorted(in_scope)],
        "sources": sources,
        "previous_median": (
            stats.decimal_text(previous_group.stats["median"])
            if previous_group is not None and previous_group.stats
            else None
        ),
        "position": None,
    }
    if city_id is not None and city_id in values and distribution is not None:
        value = values[city_id]
        place = stats.position(distribution, value, direction)
        before = previous.get(city_id)
        view["position"] = {
            "value": stats.decimal_text(value),
            "rank": place.rank if place else None,
            "percentile": stats.decimal_text(place.percentile) if place else None,
            "quartile": place.quartile if place else None,
            "distance_to_best_quartile": (
                stats.decimal_text(place.distance_to_best_quartile)
                if place is not None and place.distance_to_best_quartile is not None
                else None
            ),
            "previous_value": stats.decimal_text(before) if before is not None else None,
            "trend": stats.trend(value, before, direction),
        }
    return view


def publish_dirty(session: Session, config: NodeConfig, now: datetime) -> int:
    """Send every member the changed, publishable groups it is in (one envelope per member).
    Returns the number of members sent something."""
    dirty = list(session.scalars(select(BenchmarkGroup).where(BenchmarkGroup.dirty.is_(True))))
    if not dirty:
        return 0
    keys = {(g.indicator, g.period) for g in dirty}
    values = _inputs_for(session, keys)
    sources = _sources(session, {g.period for g in dirty})
    direction_of = directions(session)
    region_of = regions(session)
    active = {
        p.city_id
        for p in session.scalars(select(Peer).where(Peer.role == "city", Peer.state == "active"))
    }
    previous_groups = {
        (g.indicator, g.period, g.scope): g
        for g in session.scalars(
            select(BenchmarkGroup).where(
                tuple_(BenchmarkGroup.indicator, BenchmarkGroup.period).in_(
                    sorted({(i, str(parse_period(p).previous())) for i, p in keys})
                )
            )
        )
    }
    per_city: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for group in dirty:
        group.dirty = False
        if group.suppressed or group.stats is None:
            continue  # suppressed groups are never sent, not even their size
        key = (group.indicator, group.period)
        previous_key = (group.indicator, str(parse_period(group.period).previous()))
        members = [
            c
            for c in values.get(key, {})
            if group.scope == NETWORK or region_of.get(c) == group.scope
        ]
        for city_id in members:
            if city_id in active:
                per_city[city_id].append(
                    member_view(
                        group,
                        values[key],
                        values.get(previous_key, {}),
                        previous_groups.get((*previous_key, group.scope)),
                        sources.get((group.period, group.scope), []),
                        city_id,
                        direction_of.get(group.indicator, "context"),
                        region_of,
                    )
                )
    version = catalogue_version(session)
    for city_id, groups in sorted(per_city.items()):
        envelope = outbox.sign_and_store(
            session,
            config,
            type_=BENCHMARK_TYPE,
            schema=BENCHMARK_TYPE + "/1",
            stream=BENCHMARK_STREAM,
            audience=[city_id],
            now=now,
            payload={
                "min_cities": config.benchmark_min_cities,
                "catalogue_version": version,
                "groups": groups,
            },
        )
        outbox.queue(session, envelope, [city_id], now)
    session.flush()
    return len(per_city)


def published_groups(
    session: Session, indicator: str | None = None, period: str | None = None
) -> list[dict[str, Any]]:
    """Every publishable group, as the public sees it (no city named, no position)."""
    query = (
        select(BenchmarkGroup)
        .where(BenchmarkGroup.suppressed.is_(False))
        .order_by(BenchmarkGroup.indicator, BenchmarkGroup.period, BenchmarkGroup.scope)
    )
    if indicator:
        query = query.where(BenchmarkGroup.indicator == indicator)
    if period:
        query = query.where(BenchmarkGroup.period == period)
    groups = list(session.scalars(query))
    values = _inputs_for(session, {(g.indicator, g.period) for g in groups})
    sources = _sources(session, {g.period for g in groups})
    direction_of, region_of = directions(session), regions(session)
    return [
        member_view(
            g,
            values.get((g.indicator, g.period), {}),
            {},
            None,
            sources.get((g.period, g.scope), []),
            None,
            direction_of.get(g.indicator, "context"),
            region_of,
        )
        for g in groups
    ]
