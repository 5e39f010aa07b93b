"""The equality gap (node.equality), against hand-computed answers from the rule in its docstring:
best/worst by direction, ties, one group, missing periods, context, equal values, the trend."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from node.equality import (
    GapPoint,
    gap_of_period,
    gap_series,
    gap_trend,
    grounds_of,
    groups_by_period,
)


def point(gap: str, period: str = "2020") -> GapPoint:
    return GapPoint(period, D(gap), ("A",), ("B",), D(gap), D(0), 2)


# --- one period --------------------------------------------------------------------------------


def test_good_up_best_is_highest_worst_is_lowest() -> None:
    # Literacy, higher is better: F 92.5, M 95.0, X 88.25 → best M, worst X, gap 6.75.
    p = gap_of_period("2024", {"F": D("92.5"), "M": D("95.0"), "X": D("88.25")}, "good_up")
    assert p is not None
    assert (p.best, p.worst, p.gap, p.groups) == (("M",), ("X",), D("6.75"), 3)
    assert (p.best_value, p.worst_value) == (D("95.0"), D("88.25"))


def test_good_down_best_is_lowest_worst_is_highest() -> None:
    # Poverty rate, lower is better: F 21.4, M 18.9 → best M (18.9), worst F (21.4), gap 2.5.
    p = gap_of_period("2024", {"F": D("21.4"), "M": D("18.9")}, "good_down")
    assert p is not None
    assert (p.best, p.worst, p.gap) == (("M",), ("F",), D("2.5"))
    assert (p.best_value, p.worst_value) == (D("18.9"), D("21.4"))


def test_ties_name_every_tied_group_sorted() -> None:
    p = gap_of_period("2024", {"D3": D(5), "D1": D(9), "D2": D(5), "D4": D(9)}, "good_up")
    assert p is not None
    assert (p.best, p.worst, p.gap) == (("D1", "D4"), ("D2", "D3"), D(4))


def test_all_groups_equal_is_a_gap_of_zero_every_group_at_both_ends() -> None:
    p = gap_of_period("2024", {"F": D("10.0"), "M": D("10")}, "good_down")
    assert p is not None
    assert p.gap == 0 and p.best == p.worst == ("F", "M")


@pytest.mark.parametrize("values", [{}, {"F": D(3)}])
def test_fewer_than_two_groups_has_no_gap(values: dict[str, D]) -> None:
    assert gap_of_period("2024", values, "good_up") is None


def test_two_groups_is_enough() -> None:
    p = gap_of_period("2024", {"F": D(3), "M": D(1)}, "good_up")
    assert p is not None and p.gap == D(2)


@pytest.mark.parametrize("direction", ["context", "sideways"])
def test_context_has_a_spread_but_no_best_or_worst(direction: str) -> None:
    p = gap_of_period("2024", {"F": D(3), "M": D(10)}, direction)
    assert p is not None
    assert (p.gap, p.best, p.worst) == (D(7), (), ())


def test_negative_values_keep_the_gap_positive() -> None:
    # Net migration, higher is better: -4 and 2.5 → 6.5 apart.
    p = gap_of_period("2024", {"A": D(-4), "B": D("2.5")}, "good_up")
    assert p is not None and p.gap == D("6.5") and p.worst == ("A",)


# --- the trend ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("gaps", "trend"),
    [
        ([], "too_few"),
        (["5"], "too_few"),  # one period: nothing to compare
        (["5", "4.9"], "closing"),  # previous == first: one comparison
        (["5", "5.1"], "widening"),
        (["5", "5"], "unchanged"),
        (["5", "5.0"], "unchanged"),  # exact decimals: 5 == 5.0
        (["6", "3", "5"], "mixed"),  # wider than last period, narrower than at the start
        (["2", "5", "3"], "mixed"),  # narrower than last period, wider than at the start
        (["3", "5", "3"], "closing"),  # back to the first: "not wider than the first"
        (["5", "3", "5"], "widening"),  # back to the first: "not narrower than the first"
        (["6", "4", "4"], "unchanged"),  # same as the previous, whatever the first
        (["0.3", "0.1", "0.2"], "mixed"),
        (["0", "0"], "unchanged"),  # equal groups throughout
    ],
)
def test_trend_rule_at_its_edges(gaps: list[str], trend: str) -> None:
    points = [point(g, str(2020 + i)) for i, g in enumerate(gaps)]
    assert gap_trend(points, "good_up") == trend
    assert gap_trend(points, "good_down") == trend  # the gap is already direction-aware


def test_context_trend_is_not_assessed() -> None:
    assert gap_trend([point("5"), point("1")], "context") == "not_assessed"


# --- over periods ------------------------------------------------------------------------------


def test_series_sorts_periods_skips_those_with_one_group_and_compares_with_the_last_gap() -> None:
    by_period = {
        "2023": {"F": D(20), "M": D(12)},  # gap 8 (good_down: best M, worst F)
        "2021": {"F": D(30), "M": D(20)},  # gap 10 (first)
        "2022": {"F": D(25)},  # one group only: skipped
        "2024": {"F": D(18), "M": D(11)},  # gap 7 (latest)
    }
    series = gap_series("SEX", by_period, "good_down")
    assert [p.period for p in series.points] == ["2021", "2023", "2024"]
    assert [p.gap for p in series.points] == [D(10), D(8), D(7)]
    assert series.skipped == ("2022",)
    assert series.first is not None and series.first.period == "2021"
    # The previous gap is 2023's (2022 has none): 7 < 8 and 7 <= 10 → closing.
    assert series.previous is not None and series.previous.period == "2023"
    assert series.trend == "closing"


def test_series_orders_periods_oldest_first_whatever_the_input_order() -> None:
    by_period = {"2024-12": {"A": D(1), "B": D(2)}, "2024-02": {"A": D(1), "B": D(5)}}
    series = gap_series("G", by_period, "good_up")
    assert [p.period for p in series.points] == ["2024-02", "2024-12"]
    assert series.trend == "closing"  # 4 → 1


def test_series_without_any_gap() -> None:
    series = gap_series("SEX", {"2024": {"F": D(1)}}, "good_up")
    assert series.points == () and series.skipped == ("2024",)
    assert series.latest is None and series.previous is None and series.trend == "too_few"


# --- picking a ground's figures ----------------------------------------------------------------


FIGURES = [
    ("2024", {}, D(10)),  # the total: not a group
    ("2024", {"SEX": "F"}, D(12)),
    ("2024", {"SEX": "M"}, D(8)),
    ("2024", {"SEX": "_T"}, D(10)),  # "_T" is the total too
    ("2024", {"SEX": "F", "AGE": "Y65"}, D(20)),  # a cross-breakdown: another population
    ("2024", {"SEX": "F", "AGE": "_T"}, D(99)),  # = {"SEX": "F"} spelled long: overrides
    ("2024", {"DISTRICT": "D1"}, True),  # a yes/no figure has no size
    ("2023", {"DISTRICT": "D1"}, D(3)),
    ("2023", {"DISTRICT": "D2"}, D("NaN")),  # not finite: left out
]


def test_grounds_are_dimensions_with_single_dimension_figures() -> None:
    assert grounds_of(FIGURES) == ["DISTRICT", "SEX"]


def test_groups_by_period_keeps_one_ground_alone_and_numbers_only() -> None:
    assert groups_by_period(FIGURES, "SEX") == {"2024": {"F": D(99), "M": D(8)}}
    assert groups_by_period(FIGURES, "DISTRICT") == {"2023": {"D1": D(3)}}
    assert groups_by_period(FIGURES, "AGE") == {}
