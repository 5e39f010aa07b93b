"""Benchmark positions at exactly q1, the median and q3, and just either side, both directions.

The rule (``node.secretariat.stats`` module docstring, ``docs/protocol.md`` benchmarks):
quartile 1 is the best quarter; "a value exactly on a cut point belongs to the better quarter";
the distance to the best quarter is ``q3 − value`` (higher is better) or ``value − q1`` (lower is
better), never negative. The cut points below are worked out by hand from the type-7 definition
(linear interpolation, the minimum the 0th and the maximum the 100th percentile), and are
distinct, so a value on the median cannot hide behind a coinciding q1.
"""

from __future__ import annotations

import pytest

from node.secretariat.stats import group_stats, position

# Five cities: positions (n − 1)·p = 1, 2, 3 → q1 = 20, median = 30, q3 = 40 exactly.
FIVE = [50.0, 10.0, 40.0, 20.0, 30.0]
# Four cities: (n − 1)·p = 0.75, 1.5, 2.25 → q1 = 1 + 0.75·(2 − 1) = 1.75,
# median = 2 + 0.5·(4 − 2) = 3, q3 = 4 + 0.25·(8 − 4) = 5 (all exact in binary).
FOUR = [8.0, 1.0, 4.0, 2.0]
EPS = 0.5  # well inside the gaps between cut points of both groups


def test_the_cut_points_are_the_hand_worked_ones() -> None:
    five, four = group_stats(FIVE, 1), group_stats(FOUR, 1)
    assert five is not None and four is not None
    assert (five.q1, five.median, five.q3) == (20.0, 30.0, 40.0)
    assert (four.q1, four.median, four.q3) == (1.75, 3.0, 5.0)


def _cases(q1: float, median: float, q3: float) -> list[tuple[str, float, int, float]]:
    """(direction, value, quartile, distance) at, just below and just above each cut point."""
    return [
        # Higher is better: q3 and above is the best quarter.
        ("good_up", q3 + EPS, 1, 0.0),
        ("good_up", q3, 1, 0.0),
        ("good_up", q3 - EPS, 2, EPS),
        ("good_up", median + EPS, 2, q3 - median - EPS),
        ("good_up", median, 2, q3 - median),
        ("good_up", median - EPS, 3, q3 - median + EPS),
        ("good_up", q1 + EPS, 3, q3 - q1 - EPS),
        ("good_up", q1, 3, q3 - q1),
        ("good_up", q1 - EPS, 4, q3 - q1 + EPS),
        # Lower is better: q1 and below is the best quarter.
        ("good_down", q1 - EPS, 1, 0.0),
        ("good_down", q1, 1, 0.0),
        ("good_down", q1 + EPS, 2, EPS),
        ("good_down", median - EPS, 2, median - q1 - EPS),
        ("good_down", median, 2, median - q1),  # exactly the median: the better (2nd) quarter
        ("good_down", median + EPS, 3, median - q1 + EPS),
        ("good_down", q3 - EPS, 3, q3 - q1 - EPS),
        ("good_down", q3, 3, q3 - q1),
        ("good_down", q3 + EPS, 4, q3 - q1 + EPS),
    ]


@pytest.mark.parametrize(
    ("values", "direction", "value", "quartile", "distance"),
    [(FIVE, *case) for case in _cases(20.0, 30.0, 40.0)]
    + [(FOUR, *case) for case in _cases(1.75, 3.0, 5.0)],
)
def test_quartile_and_distance_at_each_cut_point(
    values: list[float], direction: str, value: float, quartile: int, distance: float
) -> None:
    placed = position(group_stats(values, 1), value, direction)
    assert placed is not None
    assert placed.quartile == quartile, (direction, value)
    assert placed.distance_to_best_quartile == pytest.approx(distance, abs=1e-12)


@pytest.mark.parametrize(
    ("direction", "value", "rank", "percentile"),
    [
        # Members of FIVE: rank 1 = best, percentile = share of cities done at least as well as.
        ("good_up", 40.0, 2, 80.0),
        ("good_up", 30.0, 3, 60.0),
        ("good_up", 20.0, 4, 40.0),
        ("good_down", 20.0, 2, 80.0),
        ("good_down", 30.0, 3, 60.0),
        ("good_down", 40.0, 4, 40.0),
    ],
)
def test_rank_and_percentile_on_the_cut_points(
    direction: str, value: float, rank: int, percentile: float
) -> None:
    placed = position(group_stats(FIVE, 1), value, direction)
    assert placed is not None
    assert (placed.rank, placed.percentile) == (rank, percentile)
