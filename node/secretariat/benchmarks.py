"""Regional benchmarks, computed by the secretariat from its members' signed summaries.

For each core indicator × period × scope (each region, and the whole network): how many cities
reported, min, quartiles, median, max, mean — published only where at least ``min_cities``
cities reported (smaller groups are never sent, not even their count). Each member receives
the groups it belongs to, with its own rank, percentile, quartile and distance to the best
quartile, and the envelope hashes every group was computed from, so anyone can re-verify it.

Only the latest revision of each city's summary counts, and only cities following the
secretariat's catalogue version (benchmarks compare like with like). Maths: ``stats``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from node.config import NodeConfig
from node.models import Indicator
from node.network import outbox
from node.network.models import Peer
from node.secretariat import stats
from node.secretariat.models import BenchmarkGroup, BenchmarkInput
from node.services import catalogue
from schemas.periods import parse_period
from schemas.secretariat import BENCHMARK_STREAM, BENCHMARK_TYPE, NETWORK_AUDIENCE

Row = tuple[str, str, str, int, float, str]  # city, indicator, period, revision, value, sha


def directions(session: Session) -> dict[str, str]:
    return {
        code: direction
        for code, direction in session.execute(select(Indicator.code, Indicator.direction))
    }


def _regions(session: Session) -> dict[str, str]:
    return {
        city: region or "unassigned"
        for city, region in session.execute(
            select(Peer.city_id, Peer.region).where(
                Peer.role == "city", Peer.state.in_(("active", "suspended"))
            )
        )
    }


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
    groups they fall in. Returns how many inputs were recorded."""
    recorded = 0
    touched: set[tuple[str, str]] = set()
    core = {i.code for i in catalogue.list_indicators(session, core=True)}
    for indicator in payload["indicators"]:
        code = indicator["code"] if indicator["core"] else indicator.get("maps_to")
        if code not in core or indicator.get("value_type") == "boolean":
            continue
        total = next((f for f in indicator["results"] if not f["disaggregation"]), None)
        if total is None or not isinstance(total["value"], str):
            continue
        session.add(
            BenchmarkInput(
                city_id=peer.city_id,
                indicator=code,
                period=payload["period"],
                revision=payload["revision"],
                value_text=total["value"],
                catalogue_version=payload.get("catalogue_version"),
                envelope_sha256=digest,
            )
        )
        touched.add((code, payload["period"]))
        recorded += 1
    session.flush()
    recompute(session, config, touched, now)
    return recorded


def _rows(
    session: Session, keys: Iterable[tuple[str, str]] | None, version: str | None
) -> list[Row]:
    query = select(
        BenchmarkInput.city_id,
        BenchmarkInput.indicator,
        BenchmarkInput.period,
        BenchmarkInput.revision,
        BenchmarkInput.value_text,
        BenchmarkInput.envelope_sha256,
    )
    if version is not None:
        query = query.where(BenchmarkInput.catalogue_version == version)
    if keys is not None:
        wanted = list(keys)
        indicators = {k[0] for k in wanted}
        periods = {k[1] for k in wanted}
        query = query.where(
            BenchmarkInput.indicator.in_(indicators), BenchmarkInput.period.in_(periods)
        )
    return [(c, i, p, r, float(v), h) for c, i, p, r, v, h in session.execute(query)]


def _store(session: Session, groups: list[stats.BenchmarkGroup], now: datetime) -> None:
    for group in groups:
        row = session.get(BenchmarkGroup, (group.indicator, group.period, group.scope))
        if row is None:
            row = BenchmarkGroup(indicator=group.indicator, period=group.period, scope=group.scope)
            session.add(row)
        row.n, row.suppressed = group.n, group.suppressed
        row.stats = None if group.stats is None else _stats_text(group.stats)
        row.values_by_city = dict(group.values_by_city)
        row.sources = list(group.sources)
        row.computed_at, row.dirty = now, True


def _stats_text(group_stats: stats.GroupStats) -> dict[str, str]:
    return {
        name: stats.decimal_text(getattr(group_stats, name))
        for name in ("min", "q1", "median", "q3", "max", "mean")
    }


def recompute(
    session: Session, config: NodeConfig, keys: set[tuple[str, str]], now: datetime
) -> int:
    """Recompute the groups of the given (indicator, period) pairs (incremental update)."""
    if not keys:
        return 0
    rows = [
        r for r in _rows(session, keys, catalogue.view(session).version) if (r[1], r[2]) in keys
    ]
    groups = stats.compute_benchmarks(
        rows, _regions(session), directions(session), config.benchmark_min_cities
    )
    _store(session, groups, now)
    session.flush()
    return len(groups)


def full_recompute(session: Session, config: NodeConfig, now: datetime) -> int:
    """Recompute every group from every input (``hrcnet benchmarks recompute``)."""
    rows = _rows(session, None, catalogue.view(session).version)
    groups = stats.compute_benchmarks(
        rows, _regions(session), directions(session), config.benchmark_min_cities
    )
    session.execute(delete(BenchmarkGroup))
    session.add_all(
        BenchmarkGroup(
            indicator=g.indicator,
            period=g.period,
            scope=g.scope,
            n=g.n,
            suppressed=g.suppressed,
            stats=None if g.stats is None else _stats_text(g.stats),
            values_by_city=dict(g.values_by_city),
            sources=list(g.sources),
            computed_at=now,
            dirty=True,
        )
        for g in groups
    )
    session.flush()
    return len(groups)


def _previous(
    groups: dict[tuple[str, str, str], BenchmarkGroup], group: BenchmarkGroup
) -> BenchmarkGroup | None:
    previous_period = str(parse_period(group.period).previous())
    return groups.get((group.indicator, previous_period, group.scope))


def member_view(
    group: BenchmarkGroup, previous: BenchmarkGroup | None, city_id: str | None, direction: str
) -> dict[str, Any]:
    """One group as a member sees it: statistics, anonymous distribution, sources, position."""
    assert group.stats is not None
    values = sorted(group.values_by_city.values())
    view: dict[str, Any] = {
        "indicator": group.indicator,
        "period": group.period,
        "scope": group.scope,
        "direction": direction,
        "n": group.n,
        "stats": group.stats,
        "distribution": [stats.decimal_text(v) for v in values],
        "sources": group.sources,
        "previous_median": previous.stats["median"] if previous and previous.stats else None,
        "position": None,
    }
    if city_id is not None and city_id in group.values_by_city:
        value = group.values_by_city[city_id]
        group_stats = stats.group_stats(values, 1)
        assert group_stats is not None
        place = stats.position(group_stats, value, direction)
        before = previous.values_by_city.get(city_id) if previous else None
        view["position"] = {
            "value": stats.decimal_text(value),
            "rank": place.rank if place else None,
            "percentile": stats.decimal_text(place.percentile) if place else None,
            "quartile": place.quartile if place else None,
            "distance_to_best_quartile": (
                stats.decimal_text(place.distance_to_best_quartile)
                if place and place.distance_to_best_quartile is not None
                else None
            ),
            "previous_value": stats.decimal_text(before) if before is not None else None,
            "trend": stats.trend(value, before, direction),
        }
    return view


def publish_dirty(session: Session, config: NodeConfig, now: datetime) -> int:
    """Send every member the changed, publishable groups it belongs to (one envelope each)."""
    dirty = list(session.scalars(select(BenchmarkGroup).where(BenchmarkGroup.dirty.is_(True))))
    if not dirty:
        return 0
    direction_of = directions(session)
    active = {
        p.city_id
        for p in session.scalars(select(Peer).where(Peer.role == "city", Peer.state == "active"))
    }
    keys = {(g.indicator, str(parse_period(g.period).previous()), g.scope) for g in dirty}
    previous = {
        (g.indicator, g.period, g.scope): g
        for g in session.scalars(
            select(BenchmarkGroup).where(BenchmarkGroup.indicator.in_({k[0] for k in keys}))
        )
        if (g.indicator, g.period, g.scope) in keys
    }
    per_city: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for group in dirty:
        group.dirty = False
        if group.suppressed or group.stats is None:
            continue  # suppressed groups are never sent, not even their size
        before = previous.get(
            (group.indicator, str(parse_period(group.period).previous()), group.scope)
        )
        for city_id in group.values_by_city:
            if city_id in active:
                per_city[city_id].append(
                    member_view(
                        group, before, city_id, direction_of.get(group.indicator, "context")
                    )
                )
    version = catalogue.view(session).version
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


def published_groups(session: Session, indicator: str | None = None) -> list[BenchmarkGroup]:
    query = (
        select(BenchmarkGroup)
        .where(BenchmarkGroup.suppressed.is_(False))
        .order_by(BenchmarkGroup.indicator, BenchmarkGroup.period, BenchmarkGroup.scope)
    )
    if indicator:
        query = query.where(BenchmarkGroup.indicator == indicator)
    return list(session.scalars(query))


__all__ = [
    "NETWORK_AUDIENCE",
    "full_recompute",
    "ingest_summary",
    "member_view",
    "publish_dirty",
    "published_groups",
    "recompute",
]
