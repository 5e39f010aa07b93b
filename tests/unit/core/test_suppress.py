"""Small-cell suppression (``node.network.summaries.suppress``) pinned at its edges, unit level.

The rule (docs/protocol.md, summaries): totals always travel; a breakdown is suppressed when it
rests on fewer than ``threshold`` people or cases, known from ``cases``, or else from the value
itself when the unit counts people (COUNT, PERSONS, PEOPLE, CASES, VICTIMS, HOUSEHOLDS, N, or a
code starting with N_, COUNT_ or NUM_, in any case); yes/no figures carry no count; a
threshold of 0 (or less) turns suppression off. Expected answers are written from that rule.
The API-level edges are in tests/api/test_small_cells.py.
"""

from __future__ import annotations

import pytest

from node.models import Result
from node.network.summaries import suppress


def cell(value: str, *, cases: int | None = None, key: str = "SEX=F") -> Result:
    """A result row, not stored (``suppress`` reads three fields)."""
    return Result(disaggregation_key=key, value_text=value, cases=cases)


@pytest.mark.parametrize(
    ("cases", "threshold", "expected"),
    [
        (4, 5, True),  # threshold - 1
        (5, 5, False),  # threshold
        (6, 5, False),  # threshold + 1
        (0, 1, True),
        (1, 1, False),
        (0, 0, False),  # threshold 0: off
        (0, -1, False),
    ],
)
def test_cases_decide(cases: int, threshold: int, expected: bool) -> None:
    # A percentage whose value says nothing about its size: only ``cases`` can.
    assert suppress(cell("12.5", cases=cases), "PERCENT", threshold) is expected


def test_cases_win_over_a_count_value() -> None:
    assert suppress(cell("100", cases=2), "PERSONS", 5) is True
    assert suppress(cell("1", cases=50), "PERSONS", 5) is False


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("4", True),
        ("4.9", True),
        ("5", False),
        ("5.0", False),
        ("6", False),
        ("-4", True),  # the size of a count is its magnitude
        ("-5", False),
        ("0", True),
    ],
)
def test_count_units_without_cases_use_the_value(value: str, expected: bool) -> None:
    assert suppress(cell(value), "PERSONS", 5) is expected


@pytest.mark.parametrize(
    "unit",
    [
        "COUNT",
        "count",
        "Persons",
        "PEOPLE",
        "CASES",
        "VICTIMS",
        "HOUSEHOLDS",
        "N",
        "n",
        "N_HOMES",
        "count_x",
        "NUM_SCHOOLS",
    ],
)
def test_count_units(unit: str) -> None:
    assert suppress(cell("3"), unit, 5) is True
    assert suppress(cell("5"), unit, 5) is False


@pytest.mark.parametrize(
    "unit", ["PERCENT", "RATE", "EUR", "NUMBER", "NX", "COUNTS", "XN_A", "INDEX"]
)
def test_other_units_without_cases_travel(unit: str) -> None:
    assert suppress(cell("3"), unit, 5) is False


@pytest.mark.parametrize("value", ["true", "false"])
def test_yes_no_figures_carry_no_count(value: str) -> None:
    assert suppress(cell(value), "COUNT", 5) is False
    # ... unless cases are known.
    assert suppress(cell(value, cases=4), "COUNT", 5) is True


def test_totals_always_travel() -> None:
    assert suppress(cell("1", cases=1, key=""), "PERSONS", 5) is False
    assert suppress(cell("1", key=""), "PERSONS", 5) is False


def test_threshold_zero_turns_suppression_off_for_values_too() -> None:
    assert suppress(cell("0"), "PERSONS", 0) is False
    assert suppress(cell("0"), "PERSONS", 1) is True
