"""A generated city node at scale: N results (25 indicators × districts × grounds × months).

``python -m bench.citygen DIR [--results 1000000] [--database-url URL]`` builds a node in ``DIR``
(SQLite unless a URL is given) and fills it with Core ``insert()`` executemany in batches (and
``COPY`` on PostgreSQL), so even a million results load in seconds, not minutes of ORM rows.

Shape (deterministic for a seed): 25 local number indicators ``BENCH-IND-01`` … ``25`` with the
dimensions ``BENCH_DISTRICT`` and ``SEX`` (``AGE_GROUP`` for odd indicators), ``P`` monthly
periods from 2017-01 (120 = ten years unless the count asks otherwise) and as many breakdowns per
indicator as the count needs: the total, each district, then district × ground. Statuses: the last
two months *validated*, one figure in a hundred a *draft*, all the rest *published*. Targets: every
indicator's total (baseline 2017-12, target 2030), and every seventh breakdown its own.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert
from sqlalchemy.orm import Session

from node.config import load_config
from node.db import make_engine
from node.disaggregation import disaggregation_key
from node.models import Dimension, DimensionCode, Indicator, IndicatorDimension, Result, Target
from node.services.results import rebuild_group_counts, refresh_latest
from node.setup import init_node

NOW = datetime(2027, 1, 15, 12, 0, tzinfo=UTC)
INDICATORS = 25
MONTHS = 120
FIRST_YEAR = 2017
DISTRICT_DIM = "BENCH_DISTRICT"
BATCH = 50_000


@dataclass(frozen=True)
class GeneratedNode:
    data_dir: Path
    database_url: str
    results: int
    indicators: list[str]
    breakdowns_per_indicator: int
    months: int
    seconds: float


def indicator_codes() -> list[str]:
    return [f"BENCH-IND-{i:02d}" for i in range(1, INDICATORS + 1)]


def entered_figure(value: str, months: int = MONTHS) -> dict[str, Any]:
    """An official's daily write on a generated node, as the results service takes it: the
    figure of ``BENCH-IND-07`` for district D000 in the last month, set to ``value`` (a
    percentage), published, with the reason and confirmation a correction needs."""
    return {
        "indicator": "BENCH-IND-07",
        "period": _month(months - 1)[0],
        "disaggregation": {DISTRICT_DIM: "D000"},
        "value": value,
        "status": "published",
        "reason": "bench: a corrected figure",
        "confirm_outlier": True,
    }


def _month(index: int) -> tuple[str, date, date]:
    year, month = divmod(index, 12)
    year += FIRST_YEAR
    start = date(year, month + 1, 1)
    end = date(year + (month == 11), (month + 1) % 12 + 1, 1).toordinal() - 1
    return f"{year:04d}-{month + 1:02d}", start, date.fromordinal(end)


def breakdowns(count: int, *, ground: str, districts: int) -> list[dict[str, str]]:
    """The first ``count`` breakdowns: total, districts, then district × ground codes."""
    codes = {"SEX": ["F", "M"], "AGE_GROUP": ["Y_LT18", "Y18T24", "Y25T64", "Y_GE65"]}[ground]
    out: list[dict[str, str]] = [{}]
    out += [{DISTRICT_DIM: f"D{d:03d}"} for d in range(districts)]
    out += [{DISTRICT_DIM: f"D{d:03d}", ground: c} for d in range(districts) for c in codes]
    if count > len(out):
        raise ValueError(f"at most {len(out)} breakdowns with {districts} districts")
    return out[:count]


def _keys(position: int, per_indicator: int, districts: int) -> list[str]:
    ground = "SEX" if position % 2 == 0 else "AGE_GROUP"
    return [
        disaggregation_key(b) for b in breakdowns(per_indicator, ground=ground, districts=districts)
    ]


def _catalogue_rows(districts: int) -> dict[Any, list[dict[str, Any]]]:
    indicators, links = [], []
    for position, code in enumerate(indicator_codes()):
        indicators.append(
            {
                "code": code,
                "name": f"Bench indicator {position + 1}",
                "right": "Bench",
                "type": "outcome",
                "value_type": "number",
                "unit_code": "PT",
                "unit_label": "percent",
                "direction": ("good_up", "good_down")[position % 2],
                "core": False,
                "translations": {},
                "source_type": [],
                "sdg": [],
                "extra": {},
                "created_at": NOW,
            }
        )
        ground = "SEX" if position % 2 == 0 else "AGE_GROUP"
        links += [
            {"indicator_code": code, "dimension_code": DISTRICT_DIM, "position": 0},
            {"indicator_code": code, "dimension_code": ground, "position": 1},
        ]
    return {
        Dimension: [
            {"code": DISTRICT_DIM, "label": "District (bench)", "ground": None, "core": False}
        ],
        DimensionCode: [
            {
                "dimension_code": DISTRICT_DIM,
                "code": f"D{d:03d}",
                "label": f"District {d}",
                "position": d,
                "core": False,
            }
            for d in range(districts)
        ],
        Indicator: indicators,
        IndicatorDimension: links,
    }


def result_rows(
    results: int, *, seed: int = 1, months: int | None = None
) -> tuple[Iterator[dict[str, Any]], list[dict[str, Any]], int, int, int]:
    """(result rows, target rows, breakdowns per indicator, months, districts) for a node."""
    months = months or MONTHS
    per_indicator = max(1, -(-results // (INDICATORS * months)))
    districts = max(1, -(-(per_indicator - 1) // 3))
    codes = indicator_codes()
    rng = random.Random(seed)
    periods = [_month(i) for i in range(months)]
    plans = []
    targets = []
    for position, code in enumerate(codes):
        ground = "SEX" if position % 2 == 0 else "AGE_GROUP"
        keys = [
            (disaggregation_key(b), b)
            for b in breakdowns(per_indicator, ground=ground, districts=districts)
        ]
        plans.append((code, keys))
        for number, (key, breakdown) in enumerate(keys):
            if number % 7:
                continue
            targets.append(
                {
                    "indicator_code": code,
                    "disaggregation_key": key,
                    "disaggregation": breakdown,
                    "baseline_period": "2017-12" if number == 0 else None,
                    "baseline_value": "50.0" if number == 0 else None,
                    "target_period": "2030",
                    "target_value": ("80.0", "20.0")[position % 2],
                    "note": None,
                    "updated_at": NOW,
                }
            )

    def rows() -> Iterator[dict[str, Any]]:
        produced = 0
        for code, keys in plans:
            for key, breakdown in keys:
                level = rng.uniform(20, 80)
                for index, (period, start, end) in enumerate(periods):
                    if produced >= results:
                        return
                    produced += 1
                    level += rng.uniform(-1, 1)
                    status = "validated" if index >= months - 2 else "published"
                    if rng.random() < 0.01:
                        status = "draft"
                    yield {
                        "indicator_code": code,
                        "period": period,
                        "period_start": start,
                        "period_end": end,
                        "disaggregation_key": key,
                        "disaggregation": breakdown,
                        "value_text": f"{level:.1f}",
                        "cases": None,
                        "status": status,
                        "source": "bench",
                        "method": None,
                        "note": None,
                        "entered_by_id": None,
                        "entered_at": NOW,
                        "updated_at": NOW,
                    }

    return rows(), targets, per_indicator, months, districts


def fill(engine: Engine, results: int, *, seed: int = 1, months: int | None = None) -> int:
    """Insert the catalogue additions, targets and ``results`` figures; returns breakdowns."""
    rows, targets, per_indicator, months, districts = result_rows(results, seed=seed, months=months)
    touched = {
        (code, key)
        for position, code in enumerate(indicator_codes())
        for key in _keys(position, per_indicator, districts)
    }
    with engine.begin() as connection:
        for model, batch in _catalogue_rows(districts).items():
            connection.execute(insert(model), batch)
        connection.execute(insert(Target), targets)
    if engine.dialect.name == "postgresql":
        _copy_results(engine, rows)
    else:
        with engine.begin() as connection:
            batch: list[dict[str, Any]] = []
            for row in rows:
                batch.append(row)
                if len(batch) >= BATCH:
                    connection.execute(insert(Result), batch)
                    batch.clear()
            if batch:
                connection.execute(insert(Result), batch)
    with Session(engine) as session:
        # The figures went in through Core, so the latest table is built as every write does.
        refresh_latest(session, touched)
        rebuild_group_counts(session)
        session.commit()
    if engine.dialect.name == "postgresql":
        # A live node's tables are vacuumed and analysed by autovacuum soon after a bulk load
        # (PostgreSQL 13+ vacuums after inserts too): hint bits and the visibility map set,
        # planner statistics known. A table never vacuumed makes its first writer pay for
        # setting the hint bits of every page it reads (the bench's first import: 4.5 s where
        # a vacuumed node takes 2.9 s), which a live node does not show. VACUUM cannot run
        # inside a transaction: this connection commits each statement.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM ANALYZE")
    else:
        with engine.begin() as connection:
            connection.exec_driver_sql("ANALYZE")  # a live database has planner statistics
    return per_indicator


def _copy_results(engine: Engine, rows: Iterator[dict[str, Any]]) -> None:
    import json

    columns = [
        "indicator_code",
        "period",
        "period_start",
        "period_end",
        "disaggregation_key",
        "disaggregation",
        "value_text",
        "status",
        "source",
        "entered_at",
        "updated_at",
    ]
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        with cursor.copy(f"COPY results ({', '.join(columns)}) FROM STDIN") as copy:  # type: ignore[attr-defined]
            for row in rows:
                copy.write_row(
                    [
                        json.dumps(row["disaggregation"]) if name == "disaggregation" else row[name]
                        for name in columns
                    ]
                )
        raw.commit()
    finally:
        raw.close()


def generate(
    data_dir: Path,
    results: int = 100_000,
    *,
    database_url: str | None = None,
    seed: int = 1,
    months: int | None = None,
) -> GeneratedNode:
    """Create a node in ``data_dir`` and fill it (see the module docstring)."""
    started = time.perf_counter()
    init_node(
        data_dir,
        city_id="bench-city",
        name="Bench City",
        country="XX",
        region="bench",
        base_url="http://127.0.0.1:9",
        database_url=database_url,
    )
    config = load_config(data_dir, {"database_url": database_url} if database_url else {})
    engine = make_engine(config.database_url)
    try:
        per_indicator = fill(engine, results, seed=seed, months=months)
    finally:
        engine.dispose()
    return GeneratedNode(
        data_dir,
        config.database_url,
        results,
        indicator_codes(),
        per_indicator,
        months or MONTHS,
        time.perf_counter() - started,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.citygen", description=__doc__)
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--results", type=int, default=100_000)
    parser.add_argument("--database-url")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    made = generate(args.data_dir, args.results, database_url=args.database_url, seed=args.seed)
    print(
        f"{made.results:,} results ({len(made.indicators)} indicators × "
        f"{made.breakdowns_per_indicator} breakdowns × {made.months} months) in "
        f"{made.seconds:.1f} s: {made.database_url}",
        file=sys.stdout,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
