"""Secretariat benchmarks: the full recompute of regional statistics, in memory.

The network's sizing target is 1,000 cities × 100 core indicators × 10 periods = 1,000,000
latest figures, in 10 regions, recomputed in full in under 2 s (database included); the pure
part, :func:`node.secretariat.stats.compute_benchmarks`, must take well under 1.5 s on one
core. The data are deterministic random values (seeded), one envelope hash per city and
period as in real summaries, and every string a fresh object per row, as a database driver
returns them (shared, interned strings would flatter the hashing costs).

Measured:

- ``compute_benchmarks`` on the 1M rows (11,000 groups: 1,000 network + 10,000 regional),
  best of 3, and again with 5 % of the city-periods revised (revision 2 of all their figures
  beside revision 1, 1.05M rows), which takes the superseded-revision path;
- ``latest_revisions`` alone on the 1M rows;
- the per-request pieces: ``group_stats`` of 1,000 values, ``position``, ``decimal_text``,
  and the two SVG charts for a group of 1,000 cities.

The database part (loading ``benchmark_inputs``, writing ``benchmark_groups``) is not
measured here.
"""

from __future__ import annotations

import gc
import hashlib
import random
import time
from collections.abc import Callable
from typing import Any

from bench import Measurement, Section, measure
from node.secretariat.charts import distribution_svg, trend_svg
from node.secretariat.stats import (
    compute_benchmarks,
    decimal_text,
    group_stats,
    latest_revisions,
    position,
)

CITIES = 1_000
INDICATORS = 100
PERIODS = 10
REGIONS = 10
MIN_CITIES = 5
REVISED_SHARE = 0.05
RUNS = 3  # the 1M-row operations: best of 3
SEED = 2025

Row = tuple[str, str, str, int, float, str]


def _fresh(text: str) -> str:
    # A new str object with the same value, as each fetched row has (not the interned one).
    return (text + " ")[:-1]


def network(
    cities: int = CITIES,
    indicators: int = INDICATORS,
    periods: int = PERIODS,
    regions: int = REGIONS,
    revised_share: float = 0.0,
    seed: int = SEED,
) -> tuple[list[Row], dict[str, str], dict[str, str]]:
    """Deterministic rows, the city → region map and the indicator → direction map.

    Rows come in storage order: envelope after envelope (one city and period, all its
    indicators). With ``revised_share`` > 0, that share of the envelopes is followed later by
    a revision 2 of every one of its figures.
    """
    rng = random.Random(seed)
    city_ids = [f"city-{i:04d}" for i in range(cities)]
    region_of = {c: f"region-{i % regions:02d}" for i, c in enumerate(city_ids)}
    codes = [f"HRC-{i:03d}" for i in range(indicators)]
    directions = {code: ("good_up", "good_down", "context")[i % 3] for i, code in enumerate(codes)}
    # Each indicator has its own scale, so groups are not all alike (rates, counts, shares).
    scales = [10 ** rng.uniform(0, 4) for _ in codes]
    labels = [str(2016 + p) for p in range(periods)]
    rows: list[Row] = []
    revised: list[Row] = []
    for city in city_ids:
        for period in labels:
            envelope = hashlib.sha256(f"{city}/{period}/1".encode()).hexdigest()
            for code, scale in zip(codes, scales, strict=True):
                value = round(rng.uniform(0.0, scale), 1)  # one decimal, as published
                rows.append(
                    (_fresh(city), _fresh(code), _fresh(period), 1, value, _fresh(envelope))
                )
            if rng.random() < revised_share:
                second = hashlib.sha256(f"{city}/{period}/2".encode()).hexdigest()
                revised.extend(
                    (
                        _fresh(city),
                        _fresh(code),
                        _fresh(period),
                        2,
                        round(rng.uniform(0.0, scale), 1),
                        _fresh(second),
                    )
                    for code, scale in zip(codes, scales, strict=True)
                )
    return rows + revised, region_of, directions


def best_of(name: str, operation: Callable[[], Any], runs: int = RUNS) -> tuple[Measurement, float]:
    """Time a long operation ``runs`` times (garbage collected before each); the best too."""
    samples: list[float] = []
    for _ in range(runs):
        gc.collect()
        start = time.perf_counter()
        operation()
        samples.append(time.perf_counter() - start)
    samples.sort()
    total = sum(samples)
    measurement = Measurement(
        name=name,
        iterations=runs,
        total_s=total,
        ops_per_s=runs / total,
        p50_us=samples[len(samples) // 2] * 1e6,
        p99_us=samples[-1] * 1e6,
        note=f"best {samples[0]:.3f} s",
    )
    return measurement, samples[0]


def _revised(regions: dict[str, str], directions: dict[str, str]) -> tuple[Measurement, str]:
    """The recompute when some city-periods were revised (their rows freed afterwards)."""
    rows, _, _ = network(revised_share=REVISED_SHARE)
    measurement, best = best_of(
        f"compute_benchmarks, {len(rows) / 1e6:.2f}M rows, revised",
        lambda: compute_benchmarks(rows, regions, directions, MIN_CITIES),
    )
    note = (
        f"with {REVISED_SHARE:.0%} of the city-periods revised: {len(rows):,} rows, "
        f"best {best:.3f} s"
    )
    return measurement, note


def run() -> Section:
    """Run every secretariat measurement once; about a minute, most of it building data."""
    rows, regions, directions = network()
    section = Section(
        "secretariat: benchmark recompute (in memory)",
        context={
            "cities": CITIES,
            "indicators": INDICATORS,
            "periods": PERIODS,
            "regions": REGIONS,
            "rows": len(rows),
            "min_cities": MIN_CITIES,
        },
    )
    groups = compute_benchmarks(rows, regions, directions, MIN_CITIES)  # also a warm-up
    full, best = best_of(
        "compute_benchmarks, 1M rows",
        lambda: compute_benchmarks(rows, regions, directions, MIN_CITIES),
    )
    section.measurements.append(full)
    section.context["compute_best_s"] = round(best, 3)
    section.notes.append(
        f"compute_benchmarks: best of {RUNS} {best:.3f} s for {len(rows):,} rows "
        f"({len(rows) / best / 1e6:.2f} M rows/s), {len(groups):,} groups, "
        f"{sum(g.suppressed for g in groups)} suppressed; p50/p99 columns are the median and "
        f"the slowest of the {RUNS} runs"
    )

    latest, _ = best_of("latest_revisions, 1M rows", lambda: latest_revisions(rows))
    section.measurements.append(latest)

    revised, note = _revised(regions, directions)
    section.measurements.append(revised)
    section.notes.append(note)

    # Per-request pieces, on one real group of the network scope.
    group = next(g for g in groups if g.scope == "network" and g.direction == "good_down")
    assert group.stats is not None
    stats = group.stats
    values = list(group.values_by_city.values())
    mine = values[0]
    points = [
        (g.period, g.values_by_city.get("city-0000"), g.stats.median if g.stats else None)
        for g in groups
        if g.indicator == group.indicator and g.scope == "network"
    ]
    section.measurements.extend(
        [
            measure("group_stats, 1,000 values", lambda _: group_stats(values, MIN_CITIES)),
            measure("position (bisect)", lambda _: position(stats, mine, "good_down")),
            measure("decimal_text", lambda _: decimal_text(stats.mean)),
            measure(
                "distribution_svg, 1,000 cities",
                lambda _: distribution_svg(
                    stats, mine, label="Indicator", unit="%", direction="good_down"
                ),
                max_iterations=2_000,
            ),
            measure(
                f"trend_svg, {len(points)} periods",
                lambda _: trend_svg(points, label="Indicator", unit="%"),
                max_iterations=5_000,
            ),
        ]
    )
    return section


if __name__ == "__main__":
    from bench.__main__ import main

    raise SystemExit(main(["bench_benchmarks"]))
