"""Benchmark groups computed in the database layer agree with an independent computation, on
SQLite (Python path) and PostgreSQL (server-side grouping), full and incremental; and the
incremental update leaves exactly what a full recompute computes (the same floats and the same
packed values), whatever the sequence of summaries, revisions, catalogue versions and
membership changes (a hypothesis property test on both backends)."""

from __future__ import annotations

import random
import statistics
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert, select, update

from node.network.models import Peer
from node.secretariat import benchmarks
from node.secretariat.models import BenchmarkBasis, BenchmarkGroup, BenchmarkInput

NOW = datetime(2026, 6, 1, tzinfo=UTC)
REGIONS = ("north", "south", "east")


def _add_peers(session: Any) -> None:
    """20 cities in 3 regions; c-07 has no region, c-08 was removed (does not count)."""
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


def _populate(session: Any, rng: random.Random, version: str) -> list[dict[str, Any]]:
    _add_peers(session)
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


# --- incremental == full recompute ---------------------------------------------------------------

INDICATORS = ("HRC-HOU-01", "HRC-EDU-01")
PERIODS = ("2024", "2025")
CITIES = [f"c-{i:02d}" for i in range(10)]  # c-07: no region, c-08: removed
OLD_VERSION = "0.0.9"  # a catalogue version the secretariat does not follow


def _snapshot(session: Any) -> dict[tuple[str, str, str], Any]:
    """Everything a group holds that a recompute decides (not when, nor whether sent)."""
    return {
        (g.indicator, g.period, g.scope): (g.n, g.suppressed, g.stats, g.sorted_values)
        for g in session.scalars(select(BenchmarkGroup))
    }


def _summary(
    indicator: str, period: str, revision: int, value: str, version: str | None
) -> dict[str, Any]:
    return {
        "period": period,
        "revision": revision,
        "catalogue_version": version,
        "indicators": [
            {
                "code": indicator,
                "core": True,
                "value_type": "number",
                "maps_to": None,
                "results": [{"disaggregation": {}, "value": value}],
            }
        ],
    }


def _ingest(db: Any, config: Any, city: str, payload: dict[str, Any]) -> int:
    with db() as session:
        peer = session.get(Peer, city)
        digest = f"{abs(hash((city, payload['period'], payload['revision']))):064x}"[-64:]
        return benchmarks.ingest_summary(session, config, peer, payload, digest=digest, now=NOW)


def _assert_incremental_equals_full(db: Any, config: Any) -> None:
    with db() as session:
        incremental = _snapshot(session)
    with db() as session:
        benchmarks.full_recompute(session, config, NOW)
    with db() as session:
        assert _snapshot(session) == incremental
    # Network groups keep no values of their own; every region group keeps its values.
    for (_, _, scope), (n, _, _, blob) in incremental.items():
        if scope == "network":
            assert blob is None
        else:
            assert list(benchmarks.unpack_values(blob)) == sorted(benchmarks.unpack_values(blob))
            assert len(blob) == 8 * n


def _small_groups(app: Any) -> Any:
    from node.config import NodeConfig

    config = app.extensions["hrcnet"].config
    # 3 cities suffice to publish: with 8 counting cities both kinds of group occur.
    return NodeConfig(config.data_dir, {**config.values, "benchmark_min_cities": 3})


def _members_joined(app: Any, db: Any) -> tuple[Any, str]:
    """The cities of ``_add_peers`` on the test node; its config and catalogue version."""
    with db() as session:
        _add_peers(session)
        version = benchmarks.catalogue_version(session)
    return _small_groups(app), version


def test_incremental_updates_leave_what_a_full_recompute_computes(app: Any, db: Any) -> None:
    config, version = _members_joined(app, db)
    for i, city in enumerate(CITIES):
        for indicator in INDICATORS:
            # Ties (2.0 twice), a -0 that must equal 0, and c-05 on another catalogue version.
            value = ("2", "2", "-0", "0", "1.25", "7", "3.5", "9.75", "4", "11")[i]
            city_version = OLD_VERSION if city == "c-05" else version
            assert _ingest(db, config, city, _summary(indicator, "2025", 1, value, city_version))
    _assert_incremental_equals_full(db, config)
    with db() as session:
        stored = _snapshot(session)
    # c-08 (removed) and c-05 (old version) do not count: 8 of the 10 cities do.
    assert stored[("HRC-HOU-01", "2025", "network")][0] == 8
    assert stored[("HRC-HOU-01", "2025", "north")][0] == 4  # c-00, c-03, c-06, c-09

    # A higher revision moves a value; a lower one arriving late changes nothing.
    assert _ingest(db, config, "c-03", _summary("HRC-HOU-01", "2025", 2, "50", version)) == 1
    assert _ingest(db, config, "c-03", _summary("HRC-HOU-01", "2025", 1, "-50", version)) == 0
    # c-05 adopts the catalogue: its value now counts; c-01 falls back to an older one: not.
    _ingest(db, config, "c-05", _summary("HRC-HOU-01", "2025", 2, "6", version))
    _ingest(db, config, "c-01", _summary("HRC-HOU-01", "2025", 2, "6", OLD_VERSION))
    # The only city of a group leaves it (the group disappears), a new period starts one.
    _ingest(db, config, "c-07", _summary("HRC-EDU-01", "2025", 2, "1", OLD_VERSION))
    _ingest(db, config, "c-07", _summary("HRC-EDU-01", "2024", 1, "1", version))
    _assert_incremental_equals_full(db, config)
    with db() as session:
        stored = _snapshot(session)
    assert ("HRC-EDU-01", "2025", "unassigned") not in stored
    assert stored[("HRC-EDU-01", "2024", "unassigned")][:2] == (1, True)  # 1 city: suppressed
    assert stored[("HRC-HOU-01", "2025", "network")][0] == 8  # c-05 in, c-01 out

    # A member removed: the next summary notices it and recomputes everything first.
    with db() as session:
        session.get(Peer, "c-02").state = "removed"
    _ingest(db, config, "c-04", _summary("HRC-EDU-01", "2025", 2, "8", version))
    _assert_incremental_equals_full(db, config)
    with db() as session:
        assert _snapshot(session)[("HRC-HOU-01", "2025", "network")][0] == 7
        assert not benchmarks.ensure_current(session, config, NOW)  # nothing changed since
        session.get(Peer, "c-04").region = "east"
    with db() as session:
        assert benchmarks.ensure_current(session, config, NOW)  # a region changed


def test_a_group_not_holding_what_the_inputs_say_is_repaired(app: Any, db: Any) -> None:
    config, version = _members_joined(app, db)
    for i, city in enumerate(CITIES[:5]):
        _ingest(db, config, city, _summary("HRC-HOU-01", "2025", 1, str(i), version))
    with db() as session:
        group = session.get(BenchmarkGroup, ("HRC-HOU-01", "2025", "north"))
        group.sorted_values = benchmarks.pack_values([42.0, 43.0])  # c-03's 3.0 is missing
    # c-03's next revision cannot take its old value out: everything is recomputed instead.
    _ingest(db, config, "c-03", _summary("HRC-HOU-01", "2025", 2, "5", version))
    _assert_incremental_equals_full(db, config)
    with db() as session:
        values = session.get(BenchmarkGroup, ("HRC-HOU-01", "2025", "north")).sorted_values
        assert list(benchmarks.unpack_values(values)) == [0.0, 5.0]
        # Groups stored before values were kept (migration 0004) have none and no basis.
        session.execute(update(BenchmarkGroup).values(sorted_values=None))
        session.execute(delete(BenchmarkBasis))
    _ingest(db, config, "c-01", _summary("HRC-HOU-01", "2025", 2, "9", version))
    _assert_incremental_equals_full(db, config)


VALUES = st.integers(-40, 40).map(lambda i: str(i / 4)) | st.sampled_from(["-0", "0", "2.5"])
SUMMARIES = st.tuples(
    st.just("summary"),
    st.sampled_from(CITIES),
    st.sampled_from(INDICATORS),
    st.sampled_from(PERIODS),
    st.integers(1, 3),  # revision: equal and lower ones arrive too
    VALUES,
    st.booleans(),  # the secretariat's catalogue version, or an older one
)
MEMBERSHIP = st.tuples(
    st.just("member"),
    st.sampled_from(CITIES),
    st.sampled_from(["active", "suspended", "removed"]),
    st.sampled_from(["north", "south", None]),
)


@settings(
    max_examples=25,
    deadline=None,
    # One node per test, emptied by the test itself before every example.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(steps=st.lists(SUMMARIES | MEMBERSHIP, max_size=30))
def test_property_incremental_equals_full_recompute(app: Any, db: Any, steps: list[Any]) -> None:
    with db() as session:
        for table in (BenchmarkInput, BenchmarkGroup, BenchmarkBasis, Peer):
            session.execute(delete(table))
    config, version = _members_joined(app, db)
    for step in steps:
        if step[0] == "member":
            _, city, state, region = step
            with db() as session:
                peer = session.get(Peer, city)
                peer.state, peer.region = state, region
            continue
        _, city, indicator, period, revision, value, current = step
        payload = _summary(indicator, period, revision, value, version if current else OLD_VERSION)
        _ingest(db, config, city, payload)
    with db() as session:
        benchmarks.ensure_current(session, config, NOW)  # as the publishing job does
    _assert_incremental_equals_full(db, config)


def test_an_indicator_dropped_from_the_core_leaves_the_benchmarks(
    app: Any, db: Any, shared_dir: Any
) -> None:
    from node.services import catalogue
    from tests.unit.core.test_catalogue_retirement import release

    config, version = _members_joined(app, db)
    for i, city in enumerate(CITIES):
        for indicator in INDICATORS:
            _ingest(db, config, city, _summary(indicator, "2025", 1, str(i), version))
    with db() as session:
        assert {key[0] for key in _snapshot(session)} == set(INDICATORS)
        # The secretariat publishes 0.2.0 without HRC-HOU-01 (publish_release loads it so).
        report = catalogue.load_catalogue(
            session, release(shared_dir, "0.2.0", drop=("HRC-HOU-01",)), now=NOW
        )
        assert report.indicators_retired == ["HRC-HOU-01"]
        assert benchmarks.ensure_current(session, config, NOW)  # recomputed at once
    with db() as session:
        assert _snapshot(session) == {}  # only figures on 0.2.0 compare now, and none came yet
    # The cities adopt 0.2.0; one still sends the dropped indicator as core: it is ignored.
    for i, city in enumerate(CITIES):
        payload = _summary("HRC-EDU-01", "2025", 2, str(i), "0.2.0")
        stale = _summary("HRC-HOU-01", "2025", 2, "1000", "0.2.0")["indicators"]
        payload["indicators"] += stale if city == "c-01" else []
        assert _ingest(db, config, city, payload) == 1
    _assert_incremental_equals_full(db, config)
    with db() as session:
        assert {key[0] for key in _snapshot(session)} == {"HRC-EDU-01"}
        retired_inputs = select(BenchmarkInput).where(
            BenchmarkInput.indicator == "HRC-HOU-01", BenchmarkInput.catalogue_version == "0.2.0"
        )
        assert list(session.scalars(retired_inputs)) == []


def test_a_summary_arriving_while_benchmarks_are_published_is_sent_next_time(
    app: Any, db: Any
) -> None:
    """A summary applied while the publication job is between reading the groups to send and
    writing that they were sent must leave its group marked for the next run, not lost: seen
    in the demo network on SQLite, where a city never received a group once the jobs ran
    every second (the job's "sent" overwrote the summary's "changed")."""
    import threading

    from sqlalchemy import event

    config, version = _members_joined(app, db)
    early, late = CITIES[:4], "c-04"  # c-00..c-03 and c-04: regions north, south, east
    for i, city in enumerate(early):
        _ingest(db, config, city, _summary("HRC-HOU-01", "2025", 1, str(i + 1), version))
    engine = app.extensions["hrcnet"].engine
    arrived = threading.Event()
    arrival: list[threading.Thread] = []

    def apply_late_summary() -> None:
        _ingest(db, config, late, _summary("HRC-HOU-01", "2025", 1, "40", version))
        arrived.set()

    def after_reading_the_groups(conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        reads_the_groups_to_send = statement.lstrip().upper().startswith("SELECT") and (
            "benchmark_groups" in statement and "dirty" in statement
        )
        if conn.info.get("publication") and not arrival and reads_the_groups_to_send:
            arrival.append(threading.Thread(target=apply_late_summary))
            arrival[0].start()
            # The summary gets every chance to finish inside the publication's window.
            arrived.wait(1.0)

    event.listen(engine, "after_cursor_execute", after_reading_the_groups)
    try:
        with db() as publication:
            publication.connection().info["publication"] = True
            try:
                assert benchmarks.publish_dirty(publication, config, NOW) > 0
            finally:
                publication.connection().info.pop("publication", None)
        assert arrival, "the publication never read the groups to send"
        arrival[0].join(30)
        assert arrived.is_set()
    finally:
        event.remove(engine, "after_cursor_execute", after_reading_the_groups)
    with db() as session:
        network = session.get(BenchmarkGroup, ("HRC-HOU-01", "2025", "network"))
        assert network is not None and network.n == 5  # the late city is in the group...
        assert network.dirty  # ...and the group waits for the next run, which sends it
