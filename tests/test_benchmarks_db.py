"""Benchmark groups computed in the database layer agree with an independent computation, on
SQLite (Python path) and PostgreSQL (percentile_cont path), full and incremental."""

from __future__ import annotations

import random
import statistics
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import insert, select

from node.network.models import Peer
from node.secretariat import benchmarks
from node.secretariat.models import BenchmarkGroup, BenchmarkInput

NOW = datetime(2026, 6, 1, tzinfo=UTC)
REGIONS = ("north", "south", "east")


def _populate(session: Any, rng: random.Random, version: str) -> list[dict[str, Any]]:
    session.execute(
        insert(Peer),
        [
            {
                "city_id": f"c-{i:02d}",
                "name": f"City {i}",
                "base_url": f"http://127.0.0.1:{i + 1}",
                "region": REGIONS[i % 3] if i != 7 else None,
                "role": "city",
                "state": "removed" if i == 8 else "active",
                "requested_at": NOW,
                "failures": 0,
                "unavailable": False,
                "pulled_seq": 0,
            }
            for i in range(20)
        ],
    )
    rows = []
    for city in range(20):
        for indicator in ("HRC-HOU-01", "HRC-EDU-01"):
            for period in ("2024", "2025"):
                if rng.random() < 0.15:
                    continue  # not every city reports everything
                value = rng.choice([1.5, 2.0, 2.0, 3.25, 10.0, rng.uniform(0, 50)])  # ties
                rows.append(
                    {
                        "city_id": f"c-{city:02d}",
                        "indicator": indicator,
                        "period": period,
                        "revision": 1,
                        "value_text": repr(value),
                        "value": value,
                        "catalogue_version": version,
                        "envelope_sha256": f"{city:064x}",
                    }
                )
    session.execute(insert(BenchmarkInput), rows)
    return rows


def _expected(rows: list[dict[str, Any]], min_cities: int) -> dict[tuple[str, str, str], Any]:
    region = {f"c-{i:02d}": (REGIONS[i % 3] if i != 7 else "unassigned") for i in range(20)}
    groups: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    for row in rows:
        if row["city_id"] == "c-08":
            continue  # removed members do not count
        for scope in ("network", region[row["city_id"]]):
            groups[(row["indicator"], row["period"], scope)].append(row["value"])
    out = {}
    for key, values in groups.items():
        if len(values) < min_cities:
            out[key] = (len(values), None)
            continue
        q1, median, q3 = statistics.quantiles(values, n=4, method="inclusive")
        out[key] = (
            len(values),
            {
                "min": min(values),
                "q1": q1,
                "median": median,
                "q3": q3,
                "max": max(values),
                "mean": statistics.fmean(values),
            },
        )
    return out


def _stored(session: Any) -> dict[tuple[str, str, str], Any]:
    return {
        (g.indicator, g.period, g.scope): (g.n, g.stats)
        for g in session.scalars(select(BenchmarkGroup))
    }


def _assert_same(actual: dict[Any, Any], expected: dict[Any, Any]) -> None:
    assert set(actual) == set(expected)
    for key, (n, stats) in expected.items():
        assert actual[key][0] == n, key
        if stats is None:
            assert actual[key][1] is None, key
        else:
            for name, value in stats.items():
                assert actual[key][1][name] == pytest.approx(value, rel=1e-9, abs=1e-9), (key, name)


def test_full_and_incremental_recompute_agree_with_statistics(app: Any, db: Any) -> None:
    config = app.extensions["hrcnet"].config
    with db() as session:
        version = benchmarks.catalogue_version(session)
        rows = _populate(session, random.Random(11), version)
    with db() as session:
        groups = benchmarks.full_recompute(session, config, NOW)
    expected = _expected(rows, config.benchmark_min_cities)
    with db() as session:
        assert groups == len(expected)
        _assert_same(_stored(session), expected)
    # A new, higher revision for one city changes only the groups it is in.
    with db() as session:
        peer = session.get(Peer, "c-03")
        payload = {
            "period": "2025",
            "revision": 2,
            "catalogue_version": version,
            "indicators": [
                {
                    "code": "HRC-HOU-01",
                    "core": True,
                    "value_type": "number",
                    "maps_to": None,
                    "results": [{"disaggregation": {}, "value": "99.5"}],
                }
            ],
        }
        benchmarks.ingest_summary(session, config, peer, payload, digest="f" * 64, now=NOW)
        # A lower revision arriving late never wins.
        payload = dict(
            payload,
            revision=1,
            indicators=[
                dict(payload["indicators"][0], results=[{"disaggregation": {}, "value": "0.5"}])
            ],
        )
        benchmarks.ingest_summary(session, config, peer, payload, digest="e" * 64, now=NOW)
    for row in rows:
        if (row["city_id"], row["indicator"], row["period"]) == ("c-03", "HRC-HOU-01", "2025"):
            row["value"] = 99.5
            break
    else:
        rows.append({"city_id": "c-03", "indicator": "HRC-HOU-01", "period": "2025", "value": 99.5})
    with db() as session:
        _assert_same(_stored(session), _expected(rows, config.benchmark_min_cities))
