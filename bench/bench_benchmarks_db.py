"""Benchmarks on a real database: full recompute over 1,000 cities × 100 indicators × 10 periods
(1 million stored inputs) and the incremental update for one new summary, on SQLite and — when
``NODE_TEST_POSTGRES_URL`` points at a server (``make bench`` starts one) — PostgreSQL.

Targets (issue 4): full recompute < 2 s, incremental update < 50 ms.

The incremental update is ``benchmarks.ingest_summary`` plus the session flush, for one city's
summary of 100 indicators (each a new revision): its inputs are written, its 100 region groups
take its new values by bisect and the 100 network groups are recomputed from their regions.
The commit is not included (it is the inbox request's, shared with storing the envelope).
"""

from __future__ import annotations

import os
import random
import shutil
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from bench import Measurement, Section
from node.db import make_engine, make_sessionmaker, session_scope
from node.models import Indicator
from node.network.models import Peer
from node.secretariat import benchmarks
from node.secretariat.models import BenchmarkInput
from node.setup import init_node

CITIES, INDICATORS, PERIODS, REGIONS = 1000, 100, 10, 10
NOW = datetime(2026, 6, 1, tzinfo=UTC)


def _populate(url: str, data_dir: Path) -> tuple[Any, Any]:
    init_node(
        data_dir,
        city_id="hrc-secretariat",
        name="Secretariat",
        country="AT",
        region="network",
        base_url="http://127.0.0.1:9",
        role="secretariat",
        database_url=url,
    )
    from node.config import load_config

    config = load_config(data_dir, {"database_url": url})
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    rng = random.Random(7)
    with session_scope(sessions) as session:
        version = session.query(Indicator.catalogue_version).filter(Indicator.core).first()[0]
        existing = session.query(Indicator).filter(Indicator.core).count()
        session.execute(
            insert(Indicator),
            [
                {
                    "code": f"HRC-BEN-{i:03d}",
                    "name": f"Benchmark indicator {i}",
                    "right": "Bench",
                    "type": "outcome",
                    "value_type": "number",
                    "unit_code": "PT",
                    "unit_label": "%",
                    "direction": ("good_up", "good_down")[i % 2],
                    "core": True,
                    "catalogue_version": version,
                    "translations": {},
                    "source_type": [],
                    "sdg": [],
                    "extra": {},
                    "created_at": NOW,
                }
                for i in range(INDICATORS - existing)
            ],
        )
        codes = [c for (c,) in session.query(Indicator.code).filter(Indicator.core)][:INDICATORS]
        session.execute(
            insert(Peer),
            [
                {
                    "city_id": f"c-{i:04d}",
                    "name": f"City {i}",
                    "base_url": f"http://127.0.0.1:{i}",
                    "region": f"region-{i % REGIONS}",
                    "role": "city",
                    "state": "active",
                    "requested_at": NOW,
                    "failures": 0,
                    "unavailable": False,
                    "pulled_seq": 0,
                }
                for i in range(CITIES)
            ],
        )
    periods = [str(2015 + p) for p in range(PERIODS)]
    batch: list[dict[str, Any]] = []
    with engine.begin() as connection:
        for city in range(CITIES):
            digest = uuid.UUID(int=rng.getrandbits(128)).hex * 2
            for code in codes:
                for period in periods:
                    text = f"{rng.uniform(0, 100):.2f}"
                    batch.append(
                        {
                            "city_id": f"c-{city:04d}",
                            "indicator": code,
                            "period": period,
                            "revision": 1,
                            "value_text": text,
                            "value": float(text),
                            "catalogue_version": version,
                            "envelope_sha256": digest,
                        }
                    )
            if len(batch) >= 100_000:
                connection.execute(insert(BenchmarkInput), batch)
                batch.clear()
        if batch:
            connection.execute(insert(BenchmarkInput), batch)
    with engine.begin() as connection:
        # A live database has planner statistics; a freshly bulk-loaded one does not.
        connection.exec_driver_sql("ANALYZE")
    return config, sessions


def _incremental_payload(codes: list[str], rng: random.Random) -> dict[str, Any]:
    return {
        "period": "2024",
        "revision": 2,
        "catalogue_version": "0.1.0",
        "indicators": [
            {
                "code": code,
                "core": True,
                "value_type": "number",
                "maps_to": None,
                "results": [{"disaggregation": {}, "value": f"{rng.uniform(0, 100):.2f}"}],
            }
            for code in codes
        ],
    }


def _run_backend(label: str, url: str, section: Section) -> None:
    work = Path(tempfile.mkdtemp(prefix="hrcnet-bench-"))
    try:
        started = time.perf_counter()
        config, sessions = _populate(url, work / "node")
        section.notes.append(
            f"{label}: loaded {CITIES * INDICATORS * PERIODS:,} inputs in "
            f"{time.perf_counter() - started:.1f} s (setup, not measured)"
        )
        timings = []
        for _ in range(3):
            with session_scope(sessions) as session:
                t0 = time.perf_counter()
                groups = benchmarks.full_recompute(session, config, NOW)
                session.flush()
                timings.append(time.perf_counter() - t0)
        best = min(timings)
        section.measurements.append(
            Measurement(
                f"{label}: full recompute (1M inputs)",
                3,
                best,
                1 / best,
                best * 1e6,
                max(timings) * 1e6,
                f"{groups} groups",
            )
        )
        rng = random.Random(3)
        with session_scope(sessions) as session:
            codes = [c for (c,) in session.query(Indicator.code).filter(Indicator.core)][:100]
            peer = session.get(Peer, "c-0001")
            assert peer is not None
            samples = []
            for revision in range(2, 22):
                payload = _incremental_payload(codes, rng)
                payload["revision"] = revision
                t0 = time.perf_counter_ns()
                benchmarks.ingest_summary(
                    session, config, peer, payload, digest=f"{revision:064x}", now=NOW
                )
                session.flush()
                samples.append(time.perf_counter_ns() - t0)
        samples.sort()
        section.measurements.append(
            Measurement(
                f"{label}: incremental update (100 ind.)",
                len(samples),
                sum(samples) / 1e9,
                len(samples) / (sum(samples) / 1e9),
                samples[len(samples) // 2] / 1e3,
                samples[-1] / 1e3,
                "one summary: 100 indicators, their region and network groups",
            )
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run() -> Section:
    section = Section(
        "regional benchmarks on a database (1,000 cities x 100 indicators x 10 periods)"
    )
    sqlite_dir = Path(tempfile.mkdtemp(prefix="hrcnet-bench-db-"))
    try:
        _run_backend("SQLite", f"sqlite:///{sqlite_dir / 'bench.db'}", section)
    finally:
        shutil.rmtree(sqlite_dir, ignore_errors=True)
    admin = os.environ.get("NODE_TEST_POSTGRES_URL")
    if admin:
        import psycopg

        name = f"hrc_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(admin.replace("+psycopg", ""), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        try:
            _run_backend("PostgreSQL", admin.rsplit("/", 1)[0] + f"/{name}", section)
        finally:
            with psycopg.connect(admin.replace("+psycopg", ""), autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    else:
        section.notes.append(
            "PostgreSQL: skipped (NODE_TEST_POSTGRES_URL not set; make bench "
            "starts a throwaway server)"
        )
    return section
