"""Benchmark statistics, checked against an independent computation (:mod:`statistics`).

Covers ties, the ``min_cities`` boundary and suppression below it, order independence,
superseded revisions, direction-aware positions (``good_down`` too), trends, the decimal text
of the wire, and a small hand-made network with every number worked out by hand.
"""

from __future__ import annotations

import gc
import hashlib
import math
import random
import statistics
import sys
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.secretariat.stats import (
    NETWORK_SCOPE,
    BenchmarkGroup,
    GroupStats,
    Position,
    compute_benchmarks,
    decimal_text,
    group_stats,
    latest_revisions,
    position,
    previous_period,
    trend,
)
from schemas.fields import parse_decimal

REL = 1e-9

# Values as the wire gives them (decimals of moderate size), and a tie-heavy variant drawn
# from a handful of values so that equal values are the rule, not the exception.
plain = st.floats(min_value=-1e9, max_value=1e9, allow_nan=False, allow_infinity=False)
tied = st.sampled_from([-3.0, 0.0, 0.5, 2.0, 2.0, 7.25, 100.0])
values_lists = st.one_of(st.lists(plain, min_size=1, max_size=60), st.lists(tied, min_size=1))


def close(a: float, b: float, scale: float) -> bool:
    """Equal within 1e-9 relative, or 1e-9 of the data's magnitude (means near zero)."""
    return math.isclose(a, b, rel_tol=REL, abs_tol=REL * scale)


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# --- group_stats ---------------------------------------------------------------------------------


@given(values_lists)
def test_group_stats_agrees_with_the_statistics_module(values: list[float]) -> None:
    stats = group_stats(values, min_cities=1)
    assert stats is not None
    scale = max(map(abs, values))
    assert stats.n == len(values)
    assert stats.min == min(values)
    assert stats.max == max(values)
    assert stats.sorted_values == tuple(sorted(values))
    assert close(stats.mean, statistics.fmean(values), scale)
    if len(values) >= 2:
        q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
        # The same interpolation as the standard library: equal to the last bit.
        assert (stats.q1, stats.median, stats.q3) == (q1, statistics.median(values), q3)
        assert q2 == stats.median or close(q2, stats.median, scale)
    else:
        assert stats.q1 == stats.median == stats.q3 == stats.mean == values[0]
    assert stats.min <= stats.q1 <= stats.median <= stats.q3 <= stats.max


@given(values_lists, st.randoms(use_true_random=False))
def test_group_stats_do_not_depend_on_input_order(values: list[float], rnd: random.Random) -> None:
    shuffled = list(values)
    rnd.shuffle(shuffled)
    assert group_stats(shuffled, 1) == group_stats(values, 1)


@given(st.lists(plain, max_size=12), st.integers(min_value=1, max_value=12))
def test_groups_below_min_cities_are_suppressed(values: list[float], min_cities: int) -> None:
    stats = group_stats(values, min_cities)
    if len(values) < min_cities:
        assert stats is None
    else:
        assert stats is not None and stats.n == len(values)


def test_the_min_cities_boundary_is_published() -> None:
    assert group_stats([1.0, 2.0, 3.0, 4.0], 5) is None
    stats = group_stats([1.0, 2.0, 3.0, 4.0, 5.0], 5)
    assert stats == GroupStats(5, 1.0, 2.0, 3.0, 4.0, 5.0, 3.0, (1.0, 2.0, 3.0, 4.0, 5.0))


def test_worked_example_with_ties() -> None:
    stats = group_stats([40.0, 20.0, 10.0, 20.0, 30.0], 1)
    assert stats is not None
    # m = 4: q1 at position 1, median at 2, q3 at 3 (no interpolation needed).
    assert (stats.min, stats.q1, stats.median, stats.q3, stats.max) == (10, 20, 20, 30, 40)
    assert stats.mean == 24.0
    stats = group_stats([1.0, 2.0, 3.0, 4.0], 1)
    assert stats is not None
    assert (stats.q1, stats.median, stats.q3) == (1.75, 2.5, 3.25)


@pytest.mark.parametrize("bad", [0, -1, True, 2.5])
def test_min_cities_must_be_a_positive_integer(bad: object) -> None:
    with pytest.raises(ValueError):
        group_stats([1.0], bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_values_are_refused(bad: float) -> None:
    with pytest.raises(ValueError):
        group_stats([1.0, bad, 3.0], 1)
    with pytest.raises(ValueError):
        group_stats([bad], 1)


def test_huge_values_do_not_overflow() -> None:
    stats = group_stats([1.5e308, 1.7e308, 1.6e308, 1.7e308], 1)
    assert stats is not None
    for value in (stats.q1, stats.median, stats.q3, stats.mean):
        assert math.isfinite(value) and 1.5e308 <= value <= 1.7e308
    assert math.isclose(stats.mean, 1.625e308, rel_tol=REL)
    mixed = group_stats([-1.7e308, 1.7e308, 1.0], 1)
    assert mixed is not None and mixed.median == 1.0 and math.isfinite(mixed.mean)
    # The largest float, three times: the rounded thirds add up to a hair above it.
    top = group_stats([sys.float_info.max] * 3, 1)
    assert top is not None and top.mean == sys.float_info.max


def test_mixed_signs_use_an_exact_sum() -> None:
    # A plain left-to-right sum would lose the 1 entirely; fmean (fsum) does not.
    stats = group_stats([1e16, 1.0, -1e16], 1)
    assert stats is not None and stats.mean == statistics.fmean([1e16, 1.0, -1e16]) == 1 / 3


# --- latest_revisions ----------------------------------------------------------------------------


keys = st.tuples(
    st.sampled_from(["c1", "c2", "c3"]),
    st.sampled_from(["A", "B"]),
    st.sampled_from(["2024", "2025"]),
)


@given(
    st.dictionaries(keys, st.lists(st.integers(0, 50), min_size=1, max_size=4, unique=True)),
    st.randoms(use_true_random=False),
)
def test_only_the_highest_revision_counts_whatever_the_order(
    revisions: dict[tuple[str, str, str], list[int]], rnd: random.Random
) -> None:
    rows = [
        (city, ind, per, rev, float(rev * 10 + 1), sha(f"{city}{per}{rev}"))
        for (city, ind, per), revs in revisions.items()
        for rev in revs
    ]
    rnd.shuffle(rows)
    kept = latest_revisions(rows)
    assert len(kept) == len(revisions)
    by_key = {(r[0], r[1], r[2]): r for r in kept}
    for key, revs in revisions.items():
        assert by_key[key][3] == max(revs)
        assert by_key[key][4] == max(revs) * 10 + 1


def test_a_lower_revision_arriving_later_does_not_win() -> None:
    rows = [
        ("c1", "A", "2025", 2, 20.0, "h2"),
        ("c1", "A", "2025", 1, 10.0, "h1"),  # superseded, arrives after its successor
        ("c1", "A", "2025", 3, 30.0, "h3"),
        ("c1", "A", "2025", 0, 0.0, "h0"),
        ("c2", "A", "2025", 1, 5.0, "h5"),
    ]
    assert latest_revisions(rows) == [rows[2], rows[4]]
    assert latest_revisions([]) == []


def test_equal_revisions_the_later_row_wins() -> None:
    # Storage forbids this (unique constraint); the rule only makes the outcome defined.
    rows = [("c1", "A", "2025", 1, 1.0, "a"), ("c1", "A", "2025", 1, 2.0, "b")]
    assert latest_revisions(rows) == [rows[1]]


# --- position ------------------------------------------------------------------------------------


TIED = group_stats([10.0, 20.0, 20.0, 30.0, 40.0], 1)  # q1 20, median 20, q3 30


@pytest.mark.parametrize(
    ("value", "rank", "percentile", "quartile", "distance"),
    [
        (40.0, 1, 100.0, 1, 0.0),
        (30.0, 2, 80.0, 1, 0.0),  # on the q3 cut point: the better quarter
        (20.0, 3, 60.0, 2, 10.0),  # two cities tied: both third ("1, 2, 3, 3, 5")
        (10.0, 5, 20.0, 4, 20.0),
        (50.0, 1, 100.0, 1, 0.0),  # a value outside the group is placed among it
        (5.0, 6, 0.0, 4, 25.0),
    ],
)
def test_position_good_up(
    value: float, rank: int, percentile: float, quartile: int, distance: float
) -> None:
    assert position(TIED, value, "good_up") == Position(
        value, 5, rank, percentile, quartile, distance
    )


@pytest.mark.parametrize(
    ("value", "rank", "percentile", "quartile", "distance"),
    [
        (10.0, 1, 100.0, 1, 0.0),
        (20.0, 2, 80.0, 1, 0.0),  # tied pair, both second; on the q1 cut point
        (30.0, 4, 40.0, 3, 10.0),
        (40.0, 5, 20.0, 4, 20.0),
        (25.0, 4, 40.0, 3, 5.0),
    ],
)
def test_position_good_down(
    value: float, rank: int, percentile: float, quartile: int, distance: float
) -> None:
    assert position(TIED, value, "good_down") == Position(
        value, 5, rank, percentile, quartile, distance
    )


def test_position_everyone_tied_shares_first_place() -> None:
    stats = group_stats([7.0] * 6, 1)
    for direction in ("good_up", "good_down"):
        assert position(stats, 7.0, direction) == Position(7.0, 6, 1, 100.0, 1, 0.0)


def test_position_context_has_no_rank_and_suppressed_has_no_position() -> None:
    assert position(TIED, 20.0, "context") == Position(20.0, 5, None, None, None, None)
    assert position(None, 20.0, "good_up") is None
    with pytest.raises(ValueError):
        position(TIED, 20.0, "up")


@given(st.lists(tied, min_size=1, max_size=30), st.data())
def test_position_agrees_with_counting(values: list[float], data: st.DataObject) -> None:
    stats = group_stats(values, 1)
    assert stats is not None
    value = data.draw(st.one_of(st.sampled_from(values), tied))
    for direction, better in (("good_up", float.__gt__), ("good_down", float.__lt__)):
        pos = position(stats, value, direction)
        assert pos is not None
        strictly_better = sum(better(v, value) for v in values)
        assert pos.rank == 1 + strictly_better
        assert pos.percentile == 100.0 * (len(values) - strictly_better) / len(values)
        assert (pos.quartile == 1) == (pos.distance_to_best_quartile == 0.0)
        assert (pos.rank == 1) == (pos.percentile == 100.0)
        assert pos.quartile in (1, 2, 3, 4)


# --- trend ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "previous", "direction", "expected"),
    [
        (12.0, 10.0, "good_up", "improving"),
        (8.0, 10.0, "good_up", "worsening"),
        (8.0, 10.0, "good_down", "improving"),
        (12.0, 10.0, "good_down", "worsening"),
        (10.0, 10.0, "good_up", "stable"),
        (10.0, 10.0, "good_down", "stable"),
        (0.1 + 0.2, 0.3, "good_up", "stable"),  # float noise of a computed median or mean
        (10.0 + 1e-6, 10.0, "good_up", "improving"),  # a real change, however small
        (None, 10.0, "good_up", "no_data"),
        (10.0, None, "good_down", "no_data"),
        (None, None, "good_up", "no_data"),
        (12.0, 10.0, "context", "no_data"),  # no better side: no verdict
        (math.nan, 10.0, "good_up", "no_data"),
    ],
)
def test_trend(
    current: float | None, previous: float | None, direction: str, expected: str
) -> None:
    assert trend(current, previous, direction) == expected


def test_trend_tolerance_is_configurable_and_direction_checked() -> None:
    assert trend(10.5, 10.0, "good_up", rel_tol=0.1) == "stable"
    with pytest.raises(ValueError):
        trend(1.0, 2.0, "sideways")


def test_previous_period() -> None:
    assert previous_period("2025-Q1") == "2024-Q4"
    assert previous_period("2025") == "2024"
    assert previous_period("2025-07") == "2025-06"


# --- decimal_text --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "digits", "expected"),
    [
        (0.0, 6, "0"),
        (-0.0, 6, "0"),
        (-1e-13, 6, "0"),  # rounds to zero at 12 places: no "-0"
        (12.5, 6, "12.5"),
        (100.0, 6, "100"),
        (1234.5678, 6, "1234.57"),
        (0.1 + 0.2, 6, "0.3"),
        (20.714285714285715, 6, "20.7143"),
        (123456789.0, 6, "123457000"),
        (2e9, 6, "2000000000"),
        (1e-7, 6, "0.0000001"),
        (1.5e-12, 6, "0.000000000002"),
        (1.4999996e-12, 6, "0.000000000001"),  # rounded once, not twice
        (-2.5, 6, "-2.5"),
        (2.5, 1, "2"),  # half-even
        (3.5, 1, "4"),
        (0.000123456789, 3, "0.000123"),
        (1e16, 6, "10000000000000000"),
    ],
)
def test_decimal_text(value: float, digits: int, expected: str) -> None:
    assert decimal_text(value, digits) == expected


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_decimal_text_refuses_non_finite(bad: float) -> None:
    with pytest.raises(ValueError):
        decimal_text(bad)


@given(st.floats(min_value=-1e27, max_value=1e27, allow_nan=False), st.integers(1, 16))
def test_decimal_text_is_plain_wire_text_close_to_the_value(value: float, digits: int) -> None:
    text = decimal_text(value, digits)
    assert "e" not in text.lower() and text != "-0"
    assert text == "0" or not text.rstrip("0").endswith(".")
    parsed = parse_decimal(text)  # the wire accepts it: <= 28 digits, <= 12 places
    exact = Decimal(value)
    # Rounded either to `digits` significant digits (half a unit of the last one) or, when
    # that would need more than 12 places, to 12 places (half of 1e-12).
    significant = abs(exact) * Decimal(10) ** (1 - digits) / 2
    assert abs(parsed - exact) <= max(significant, Decimal("5e-13"))


# --- compute_benchmarks: a hand-made network ----------------------------------------------------

# Two regions, seven cities; "north" has 4, "south" 3, so with min_cities = 4 the south is
# suppressed while the north and the network (7) are published. Cities n1 and s1 revised
# their figures; a late-arriving older revision must not count. ``zz`` has no region: it
# counts in the network only (indicator B).
REGIONS = {
    "n1": "north",
    "n2": "north",
    "n3": "north",
    "n4": "north",
    "s1": "south",
    "s2": "south",
    "s3": "south",
    "zz": None,
}
DIRECTIONS = {"A": "good_up", "B": "good_down"}


def _rows() -> list[tuple[str, str, str, int, float, str]]:
    def row(city: str, ind: str, per: str, rev: int, value: float) -> tuple:
        return (city, ind, per, rev, value, sha(f"{city}/{per}/{rev}"))

    return [
        row("n1", "A", "2025", 2, 10.0),
        row("n1", "A", "2025", 1, 99.0),  # superseded by revision 2, arrives later
        row("n2", "A", "2025", 1, 20.0),
        row("n3", "A", "2025", 1, 30.0),
        row("n4", "A", "2025", 1, 40.0),
        row("s1", "A", "2025", 2, 500.0),  # superseded by revision 3 below
        row("s2", "A", "2025", 1, 15.0),
        row("s3", "A", "2025", 1, 25.0),
        row("s1", "A", "2025", 3, 5.0),
        row("n1", "LOCAL-9", "2025", 1, 1.0),  # not a core indicator: ignored
        # Indicator B, lower is better, two periods given out of order.
        row("n1", "B", "2025-H1", 1, 3.0),
        row("n2", "B", "2025-H1", 1, 1.0),
        row("zz", "B", "2025-H1", 1, 2.0),
        row("n1", "B", "2024", 1, 4.0),
    ]


def test_compute_benchmarks_on_a_hand_made_network() -> None:
    groups = compute_benchmarks(_rows(), REGIONS, DIRECTIONS, min_cities=4)
    assert [(g.indicator, g.period, g.scope) for g in groups] == [
        ("A", "2025", NETWORK_SCOPE),
        ("A", "2025", "north"),
        ("A", "2025", "south"),
        ("B", "2024", NETWORK_SCOPE),  # 2024 before 2025-H1: chronological, not textual
        ("B", "2024", "north"),
        ("B", "2025-H1", NETWORK_SCOPE),
        ("B", "2025-H1", "north"),
    ]
    network, north, south = groups[:3]

    # Network: 5 10 15 20 25 30 40; m = 6, q1 at 1.5, q3 at 4.5.
    assert network.stats == GroupStats(
        7, 5.0, 12.5, 20.0, 27.5, 40.0, 145 / 7, (5.0, 10.0, 15.0, 20.0, 25.0, 30.0, 40.0)
    )
    assert (network.n, network.suppressed, network.direction) == (7, False, "good_up")
    assert network.values_by_city == {
        "n1": 10.0,
        "n2": 20.0,
        "n3": 30.0,
        "n4": 40.0,
        "s1": 5.0,
        "s2": 15.0,
        "s3": 25.0,
    }
    assert network.sources == tuple(
        sorted(
            [
                sha("n1/2025/2"),
                sha("n2/2025/1"),
                sha("n3/2025/1"),
                sha("n4/2025/1"),
                sha("s1/2025/3"),
                sha("s2/2025/1"),
                sha("s3/2025/1"),
            ]
        )
    )
    assert decimal_text(network.stats.mean) == "20.7143"
    assert network.stats.as_wire() == {
        "min": "5",
        "q1": "12.5",
        "median": "20",
        "q3": "27.5",
        "max": "40",
        "mean": "20.7143",
    }

    # North: 10 20 30 40; m = 3, q1 at 0.75, median 25, q3 at 2.25.
    assert north.stats == GroupStats(
        4, 10.0, 17.5, 25.0, 32.5, 40.0, 25.0, (10.0, 20.0, 30.0, 40.0)
    )
    assert north.sources == tuple(
        sorted([sha("n1/2025/2"), sha("n2/2025/1"), sha("n3/2025/1"), sha("n4/2025/1")])
    )
    assert position(north.stats, north.values_by_city["n1"], "good_up") == Position(
        10.0, 4, 4, 25.0, 4, 22.5
    )

    # South: 3 cities < 4: suppressed.
    assert (south.n, south.suppressed, south.stats) == (3, True, None)
    assert south.values_by_city == {"s1": 5.0, "s2": 15.0, "s3": 25.0}

    # B, 2025-H1: the network holds zz (no region) too; the north alone is too small.
    b_network, b_north = groups[5:7]
    assert (b_network.n, b_network.suppressed) == (3, True)
    assert set(b_network.values_by_city) == {"n1", "n2", "zz"}
    assert (b_north.n, b_north.suppressed) == (2, True)
    assert groups[3].values_by_city == {"n1": 4.0}

    # With a lower threshold they are published, and good_down ranks the lowest first.
    low = {
        (g.indicator, g.period, g.scope): g
        for g in compute_benchmarks(_rows(), REGIONS, DIRECTIONS, min_cities=2)
    }
    b = low[("B", "2025-H1", NETWORK_SCOPE)]
    assert b.stats is not None and b.stats.median == 2.0 and b.direction == "good_down"
    assert position(b.stats, b.values_by_city["n2"], "good_down") == Position(
        1.0, 3, 1, 100.0, 1, 0.0
    )
    assert (
        trend(
            low[("B", "2025-H1", "north")].values_by_city["n1"],
            low[("B", "2024", "north")].values_by_city["n1"],
            "good_down",
        )
        == "improving"
    )


def test_a_suppressed_group_exposes_no_statistics() -> None:
    south = compute_benchmarks(_rows(), REGIONS, DIRECTIONS, min_cities=4)[2]
    assert south.suppressed and south.stats is None
    assert position(south.stats, 5.0, "good_up") is None
    # Its values and sources are internal: not even its repr (hence logs) shows them.
    text = repr(south)
    assert "values_by_city" not in text and "sources" not in text
    assert "500" not in text and "25.0" not in text and sha("s1/2025/3") not in text
    # Nor does a published group's repr list the cities' values.
    assert "sorted_values" not in repr(compute_benchmarks(_rows(), REGIONS, DIRECTIONS, 4)[0])


def test_compute_benchmarks_argument_checks() -> None:
    with pytest.raises(ValueError):
        compute_benchmarks(_rows(), {"n1": NETWORK_SCOPE}, DIRECTIONS, 4)
    with pytest.raises(ValueError):
        compute_benchmarks(_rows(), REGIONS, {"A": "upwards"}, 4)
    with pytest.raises(ValueError):
        compute_benchmarks(_rows(), REGIONS, DIRECTIONS, 0)
    assert compute_benchmarks([], REGIONS, DIRECTIONS, 1) == []


def test_compute_benchmarks_restores_the_garbage_collector() -> None:
    assert gc.isenabled()
    compute_benchmarks(_rows(), REGIONS, DIRECTIONS, 4)
    assert gc.isenabled()
    gc.disable()
    try:
        compute_benchmarks(_rows(), REGIONS, DIRECTIONS, 4)
        assert not gc.isenabled()  # the caller's choice is kept
    finally:
        gc.enable()


# --- compute_benchmarks: random networks against a reference ------------------------------------


@st.composite
def networks(draw: st.DrawFn) -> tuple[list[tuple], dict[str, str | None], dict[str, str]]:
    cities = [f"c{i}" for i in range(draw(st.integers(1, 14)))]
    regions = {c: draw(st.sampled_from(["east", "west", "south", None])) for c in cities}
    directions = {
        ind: draw(st.sampled_from(["good_up", "good_down", "context"])) for ind in ("I1", "I2")
    }
    rows = []
    for city in cities:
        for ind in ("I1", "I2", "LOCAL"):
            for per in ("2024", "2025-Q1"):
                # 0 to 3 distinct revisions per figure: missing figures, superseded ones.
                revs = draw(st.lists(st.integers(1, 9), max_size=3, unique=True))
                for rev in revs:
                    value = draw(st.one_of(tied, plain))
                    rows.append((city, ind, per, rev, value, sha(f"{city}/{per}/{rev}")))
    return draw(st.permutations(rows)), regions, directions


def _reference(
    rows: list[tuple], regions: dict[str, str | None], directions: dict[str, str], min_cities: int
) -> dict[tuple[str, str, str], tuple]:
    """The obvious, slow computation: latest revisions, then one group per scope."""
    members: dict[tuple[str, str, str], dict[str, Any]] = {}
    for row in latest_revisions(rows):
        city, ind, per = row[0], row[1], row[2]
        if ind not in directions:
            continue
        scopes = [NETWORK_SCOPE]
        region = regions.get(city)
        if region is not None:
            scopes.append(region)
        for scope in scopes:
            members.setdefault((ind, per, scope), {})[city] = row
    return {
        key: (
            len(found),
            group_stats([r[4] for r in found.values()], min_cities),
            {c: r[4] for c, r in found.items()},
            tuple(sorted({r[5] for r in found.values()})),
        )
        for key, found in members.items()
    }


@settings(max_examples=150)
@given(networks(), st.integers(1, 6), st.randoms(use_true_random=False))
def test_compute_benchmarks_matches_a_reference(
    network: tuple[list[tuple], dict[str, str | None], dict[str, str]],
    min_cities: int,
    rnd: random.Random,
) -> None:
    rows, regions, directions = network
    groups = compute_benchmarks(rows, regions, directions, min_cities)
    expected = _reference(rows, regions, directions, min_cities)
    assert {(g.indicator, g.period, g.scope) for g in groups} == set(expected)
    for g in groups:
        n, stats, by_city, sources = expected[(g.indicator, g.period, g.scope)]
        assert (g.n, g.stats, g.values_by_city, g.sources) == (n, stats, by_city, sources)
        assert g.suppressed == (g.stats is None) == (n < min_cities)
        assert g.direction == directions[g.indicator]
    # Arrival order and pre-filtering of superseded revisions change nothing.
    shuffled = list(rows)
    rnd.shuffle(shuffled)
    assert compute_benchmarks(shuffled, regions, directions, min_cities) == groups
    assert compute_benchmarks(latest_revisions(rows), regions, directions, min_cities) == groups


def test_groups_share_identical_source_tuples() -> None:
    # One envelope per city and period carries every indicator: the sources of all groups of
    # one (period, scope) are the same, and shared rather than copied.
    rows = [
        (f"c{i}", ind, "2025", 1, float(i), sha(f"c{i}"))
        for i in range(6)
        for ind in ("A", "B", "C")
    ]
    groups = compute_benchmarks(
        rows, {f"c{i}": "r" for i in range(6)}, {"A": "good_up", "B": "good_up", "C": "context"}, 1
    )
    by_scope: dict[str, list[BenchmarkGroup]] = {}
    for g in groups:
        by_scope.setdefault(g.scope, []).append(g)
    for same in by_scope.values():
        assert len(same) == 3
        assert all(g.sources is same[0].sources for g in same)


def test_rows_with_their_own_string_copies_give_the_same_groups() -> None:
    # A database driver returns a new str object per row and column; the recompute shares
    # equal neighbouring strings for speed, which must not change a thing.
    def copy(text: str) -> str:
        return "".join(list(text))

    rows = _rows()
    copied = [(copy(c), copy(i), copy(p), r, v, copy(h)) for c, i, p, r, v, h in rows]
    assert copied[0][0] is not rows[0][0]
    for order in (copied, sorted(copied), list(reversed(copied))):
        assert compute_benchmarks(order, REGIONS, DIRECTIONS, 2) == compute_benchmarks(
            rows, REGIONS, DIRECTIONS, 2
        )
