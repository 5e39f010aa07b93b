"""Direction-aware progress: a straight line from baseline to target."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from node.progress import Point, assess
from schemas.periods import parse_period


def p(period: str, value: str | bool) -> Point:
    return Point(parse_period(period), value if isinstance(value, bool) else D(value))


BASE, TARGET = p("2020", "100"), p("2030", "50")  # good_down: halve it by 2030


@pytest.mark.parametrize(
    ("latest", "value", "status"),
    [
        ("2025", "75", "on_track"),  # half way, the line asks for about 75
        ("2024", "81", "off_track"),  # four years in, the line asks for about 80
    ],
)
def test_good_down_against_the_line(latest: str, value: str, status: str) -> None:
    result = assess("good_down", p(latest, value), BASE, TARGET)
    assert result.status == status
    assert result.expected is not None


def test_expected_value_is_on_the_straight_line() -> None:
    result = assess("good_down", p("2025", "74"), BASE, TARGET)
    assert result.status == "on_track"
    assert result.expected is not None and abs(result.expected - D("74.99")) < D("0.1")


def test_good_up_achieved_and_off_track() -> None:
    assert assess("good_up", p("2024", "51"), p("2020", "20"), p("2030", "50")).status == "achieved"
    assert (
        assess("good_up", p("2029", "21"), p("2020", "20"), p("2030", "50")).status == "off_track"
    )


def test_no_data_no_target_and_context() -> None:
    assert assess("good_up", None, BASE, TARGET).status == "no_data"
    assert assess("good_up", p("2025", "3")).status == "no_target"
    assert assess("context", p("2025", "3"), BASE, TARGET).status == "not_assessed"


def test_trend_without_target_is_direction_aware() -> None:
    assert assess("good_down", p("2025", "90"), BASE).status == "improving"
    assert assess("good_up", p("2025", "90"), BASE).status == "worsening"
    assert assess("good_up", p("2025", "100"), BASE).status == "no_change"


def test_boolean_indicator_reaches_its_target() -> None:
    assert (
        assess("good_up", p("2025", True), p("2020", False), p("2026", True)).status == "achieved"
    )
    assert (
        assess("good_up", p("2025", False), p("2020", False), p("2026", True)).status == "off_track"
    )


def test_latest_past_target_date_and_not_reached_is_off_track() -> None:
    assert assess("good_down", p("2032", "60"), BASE, TARGET).status == "off_track"
