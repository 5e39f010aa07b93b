"""The unit rules and the outlier rule of issue 15, at their edges (``node.units``).

Expected answers come from the rules as written in ``docs/results.md``: a percentage is within
0-100, a count a whole number 0 or more, a rate per N between 0 and N; a new percentage more
than 10 points from the previous period's, or any other number more than double or less than
half of it, is an outlier to confirm.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from node import units
from node.network.summaries import _is_count_unit


def code_of(unit: str, value: str) -> str | None:
    problem = units.check_unit(unit, Decimal(value))
    return None if problem is None else problem.code


@pytest.mark.parametrize(
    ("value", "expected"),
    [("-0.01", "value_out_of_range"), ("0", None), ("100", None), ("100.01", "value_out_of_range")],
)
def test_a_percentage_is_within_0_and_100(value: str, expected: str | None) -> None:
    assert code_of("PT", value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("-1", "value_out_of_range"),
        ("0", None),
        ("3", None),
        ("2.5", "value_not_whole_number"),
        ("3.0", None),  # 3.0 is the whole number 3
    ],
)
@pytest.mark.parametrize("unit", ["COUNT", "PERSONS", "N_PEOPLE", "count_cases"])
def test_a_count_is_a_whole_number_0_or_more(unit: str, value: str, expected: str | None) -> None:
    assert code_of(unit, value) == expected


@pytest.mark.parametrize(
    ("unit", "base"),
    [
        ("PER_10K_HH", 10_000),
        ("PER_1K_HH", 1_000),
        ("PER_100K", 100_000),
        ("PER_100", 100),
        ("PER_1M", 1_000_000),
    ],
)
def test_a_rate_is_between_0_and_its_base(unit: str, base: int) -> None:
    assert units.rate_base(unit) == base
    assert code_of(unit, "-0.01") == "value_out_of_range"
    assert code_of(unit, "0") is None
    assert code_of(unit, str(base)) is None
    assert code_of(unit, f"{base}.01") == "value_out_of_range"
    assert code_of(unit, "12.75") is None  # rates are not whole numbers


@pytest.mark.parametrize("unit", ["MONTHS", "UG_M3", "EUR_PC", "PERCENTILE", "PER_CAPITA"])
def test_other_units_are_taken_as_they_are(unit: str) -> None:
    assert units.rate_base(unit) is None
    for value in ("-5", "0", "2.5", "1000000"):
        assert code_of(unit, value) is None


def test_counts_are_the_units_the_small_cell_rule_counts() -> None:
    # One idea of "a count of people or cases" for the unit check and the small-cell rule.
    for unit in (
        "COUNT",
        "PERSONS",
        "PEOPLE",
        "CASES",
        "VICTIMS",
        "HOUSEHOLDS",
        "N",
        "N_X",
        "COUNT_Y",
        "NUM_Z",
        "PT",
        "PER_10K",
        "MONTHS",
        "BOOL",
        "SCORE_1_5",
        "count",
    ):
        assert units.is_count_unit(unit) == _is_count_unit(unit), unit


def outlier(unit: str, new: str, previous: str | None) -> bool:
    before = None if previous is None else Decimal(previous)
    return units.outlier(unit, "number", Decimal(new), before, "2024") is not None


@pytest.mark.parametrize(
    ("new", "expected"),
    [("30", False), ("30.01", True), ("10", False), ("9.99", True), ("20.8", False)],
)
def test_a_percentage_is_an_outlier_beyond_10_points(new: str, expected: bool) -> None:
    assert outlier("PT", new, "20") is expected


@pytest.mark.parametrize(
    ("new", "expected"),
    [("20", False), ("20.01", True), ("5", False), ("4.99", True), ("10", False)],
)
def test_another_number_is_an_outlier_beyond_double_or_half(new: str, expected: bool) -> None:
    assert outlier("PER_10K", new, "10") is expected


def test_from_zero_any_other_value_is_an_outlier() -> None:
    assert outlier("PER_10K", "0", "0") is False
    assert outlier("PER_10K", "0.01", "0") is True
    assert outlier("PER_10K", "12", None) is False  # no previous period: nothing to compare


def test_yes_no_and_scores_are_never_outliers() -> None:
    assert units.outlier("BOOL", "boolean", True, False, "2024") is None
    assert units.outlier("SCORE_1_5", "ordinal", Decimal(5), Decimal(1), "2024") is None
    found = units.outlier("PT", "number", Decimal(50), Decimal(20), "2024")
    assert found == units.Outlier("2024", "20", "points")
