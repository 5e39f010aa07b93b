"""Benchmark statistics at the edges that mutation testing (``make mutate``) found unpinned.

Every expected answer below is worked out by hand from the rule in the docstrings of
:mod:`node.secretariat.stats` (inclusive quartiles, the mean, chronological order, distinct
sorted sources, the later of two equal revisions), not read from the code.
"""

from __future__ import annotations

import math

import pytest

from node.secretariat.stats import (
    NETWORK_SCOPE,
    GroupStats,
    compute_benchmarks,
    decimal_text,
    group_stats,
    position,
    stats_of_sorted,
    trend,
)

# --- the mean and the middle -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "mean"),
    [
        ([1.0, 5.0, 6.0], 4.0),  # the mean below the second value
        ([0.0, 1.0, 8.0], 3.0),  # the mean above the second-to-last value
        ([-6.0, -5.0, -1.0], -4.0),  # one sign, negative
        ([-3.0, 1.0, 8.0], 2.0),  # mixed signs
    ],
)
def test_the_mean_is_the_mean_wherever_it_falls(values: list[float], mean: float) -> None:
    stats = group_stats(values, 1)
    assert stats is not None
    assert stats.mean == mean


def test_stats_of_sorted_gives_the_same_statistics_as_group_stats() -> None:
    # (1, 2, 3, 10): m = 3, q1 at position 0.75, median (2 + 3) / 2, q3 at 2.25.
    expected = GroupStats(4, 1.0, 1.75, 2.5, 4.75, 10.0, 4.0, (1.0, 2.0, 3.0, 10.0))
    assert stats_of_sorted([1.0, 2.0, 3.0, 10.0]) == expected
    assert group_stats([10.0, 3.0, 1.0, 2.0], 1) == expected


def test_huge_values_interpolate_between_their_own_neighbours() -> None:
    # Near the top of the float range the plain interpolation overflows; the cut points and
    # the median must still lie between the two values they come from.
    stats = group_stats([1.0e308, 1.2e308, 1.6e308], 1)
    assert stats is not None
    # m = 2: q1 at position 0.5 (half-way from 1.0 to 1.2), q3 at 1.5 (from 1.2 to 1.6).
    assert math.isclose(stats.q1, 1.1e308, rel_tol=1e-12)
    assert math.isclose(stats.q3, 1.4e308, rel_tol=1e-12)
    even = group_stats([1.0e308, 1.2e308, 1.4e308, 1.6e308], 1)
    assert even is not None
    assert math.isclose(even.median, 1.3e308, rel_tol=1e-12)  # (1.2 + 1.4) / 2


# --- argument checks name the problem ----------------------------------------------------------


def test_refusals_say_what_is_wrong() -> None:
    with pytest.raises(ValueError, match=r"^min_cities must be an integer >= 1, not 0$"):
        group_stats([1.0], 0)
    with pytest.raises(ValueError, match=r"^benchmark values must be finite numbers$"):
        group_stats([1.0, math.nan, 3.0], 1)
    with pytest.raises(ValueError, match=r"^benchmark values must be finite numbers$"):
        group_stats([-math.inf, 1.0, math.inf], 1)  # mixed signs: the exact-sum path
    with pytest.raises(
        ValueError, match=r"^direction must be one of good_up, good_down, context, not 'up'$"
    ):
        trend(1.0, 2.0, "up")
    with pytest.raises(ValueError, match=r"^no region may be called 'network'"):
        compute_benchmarks([], {"c1": NETWORK_SCOPE}, {"A": "good_up"}, 1)
    with pytest.raises(ValueError, match=r"^cannot render inf as a decimal$"):
        decimal_text(math.inf)
    with pytest.raises(ValueError, match=r"^digits must be at least 1$"):
        decimal_text(1.0, 0)


def test_position_refuses_an_unknown_direction_by_name() -> None:
    stats = group_stats([1.0, 2.0, 3.0], 1)
    with pytest.raises(ValueError, match=r"not 'sideways'$"):
        position(stats, 2.0, "sideways")


# --- wire text ---------------------------------------------------------------------------------


def test_as_wire_honours_the_requested_significant_digits() -> None:
    stats = GroupStats(3, 1.23456, 2.34567, 3.45678, 4.56789, 5.67891, 6.78912, ())
    assert stats.as_wire(3) == {
        "min": "1.23",
        "q1": "2.35",
        "median": "3.46",
        "q3": "4.57",
        "max": "5.68",
        "mean": "6.79",
    }


# --- groups --------------------------------------------------------------------------------------


def test_periods_come_in_calendar_order_not_text_order() -> None:
    # "2025-07" sorts before "2025-H1" as text, but the first half ends on 30 June: earlier.
    rows = [
        ("c1", "A", "2025-07", 1, 1.0, "e1"),
        ("c1", "A", "2025-H1", 1, 2.0, "e2"),
    ]
    groups = compute_benchmarks(rows, {}, {"A": "good_up"}, 1)
    assert [g.period for g in groups] == ["2025-H1", "2025-07"]


def test_equal_revisions_the_later_row_wins_in_the_benchmarks_too() -> None:
    # The later row wins even when its value is the smaller (a sort on the whole row would
    # keep the larger).
    rows = [
        ("c1", "A", "2025", 1, 5.0, "e-later-value-lower"),
        ("c1", "A", "2025", 1, 3.0, "e-first"),
    ]
    (group,) = compute_benchmarks(rows, {}, {"A": "good_up"}, 1)
    assert group.values_by_city == {"c1": 3.0}
    assert group.sources == ("e-first",)


def test_sources_are_distinct_even_if_two_cities_cite_one_envelope() -> None:
    # Storage never lets two cities share an envelope; the function still promises sorted,
    # distinct sources for whatever it is given.
    rows = [
        ("c1", "A", "2025", 1, 1.0, "same"),
        ("c2", "A", "2025", 1, 2.0, "same"),
        ("c3", "A", "2025", 1, 3.0, "other"),
        ("c4", "A", "2025", 1, 4.0, "same"),
    ]
    regions = {"c1": "r1", "c2": "r1", "c3": "r1", "c4": "r2"}
    groups = compute_benchmarks(rows, regions, {"A": "good_up"}, 1)
    by_scope = {g.scope: g.sources for g in groups}
    assert by_scope == {
        NETWORK_SCOPE: ("other", "same"),
        "r1": ("other", "same"),
        "r2": ("same",),
    }


def test_a_mixed_sign_group_with_small_values_is_summed_exactly() -> None:
    # -1 + 1e-20 + 1: a plain left-to-right sum loses the 1e-20 (it gives 0); the mean of the
    # exact sum is 1e-20 / 3.
    stats = group_stats([-1.0, 1.0, 1e-20], 1)
    assert stats is not None
    assert stats.mean == 1e-20 / 3


@pytest.mark.parametrize(
    ("values", "mean"),
    [
        # Sums beyond the largest float: the mean still fits and lies where it lies, below
        # the second value or above the second-to-last.
        ([1.0e308, 1.7e308, 1.7e308], 1.0e308 / 3 + 1.7e308 / 3 * 2),
        ([1.0e308, 1.0e308, 1.7e308], 1.0e308 / 3 * 2 + 1.7e308 / 3),
        # Mixed signs whose exact sum overflows on the way (fsum raises): divided first.
        ([-1.0e308, 1.7e308, 1.7e308], 1.7e308 / 3 * 2 - 1.0e308 / 3),
    ],
)
def test_the_mean_of_huge_values_is_not_pulled_to_a_neighbour(
    values: list[float], mean: float
) -> None:
    stats = group_stats(values, 1)
    assert stats is not None
    assert math.isclose(stats.mean, mean, rel_tol=1e-12)
