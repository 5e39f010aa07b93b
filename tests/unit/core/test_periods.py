"""The period grammar: 2025, 2025-H1, 2025-Q3, 2025-07 — parsed, validated, ordered."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.periods import Period, PeriodError, is_period, parse_period

periods = st.one_of(
    st.builds(lambda y: Period(y, "year", 1), st.integers(1900, 2200)),
    st.builds(lambda y, i: Period(y, "half", i), st.integers(1900, 2200), st.integers(1, 2)),
    st.builds(lambda y, i: Period(y, "quarter", i), st.integers(1900, 2200), st.integers(1, 4)),
    st.builds(lambda y, i: Period(y, "month", i), st.integers(1900, 2200), st.integers(1, 12)),
)


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("2025", date(2025, 1, 1), date(2025, 12, 31)),
        ("2025-H1", date(2025, 1, 1), date(2025, 6, 30)),
        ("2025-H2", date(2025, 7, 1), date(2025, 12, 31)),
        ("2025-Q3", date(2025, 7, 1), date(2025, 9, 30)),
        ("2024-02", date(2024, 2, 1), date(2024, 2, 29)),
        ("2025-12", date(2025, 12, 1), date(2025, 12, 31)),
    ],
)
def test_period_bounds(text: str, start: date, end: date) -> None:
    period = parse_period(text)
    assert (period.start, period.end) == (start, end)
    assert str(period) == text


@pytest.mark.parametrize(
    "text",
    [
        "",
        "25",
        "2025-H3",
        "2025-Q0",
        "2025-Q5",
        "2025-13",
        "2025-00",
        "2025-7",
        "2025-q3",
        " 2025",
        "2025 ",
        "1899",
        "2201",
        "2025-S1",
        "2025-W01",
        "２０２５",
    ],
)
def test_invalid_periods_are_refused_with_a_message(text: str) -> None:
    with pytest.raises(PeriodError, match="period|Year"):
        parse_period(text)
    assert not is_period(text)


@pytest.mark.parametrize("value", [None, 2025, 20.25, ["2025"], {"p": 1}])
def test_non_strings_are_refused(value: object) -> None:
    with pytest.raises(PeriodError):
        parse_period(value)


def test_order_shorter_period_first_when_they_start_together() -> None:
    ordered = sorted(parse_period(p) for p in ["2025", "2025-H1", "2025-Q1", "2025-01", "2024"])
    assert [str(p) for p in ordered] == ["2024", "2025-01", "2025-Q1", "2025-H1", "2025"]


@given(periods)
def test_round_trip(period: Period) -> None:
    assert parse_period(str(period)) == period


@given(periods)
def test_previous_is_adjacent_and_earlier(period: Period) -> None:
    before = period.previous()
    assert before < period
    assert (period.start - before.end).days == 1


@given(periods)
def test_following_is_adjacent_and_later_and_undoes_previous(period: Period) -> None:
    after = period.following()
    assert after > period
    assert (after.start - period.end).days == 1
    assert after.kind == period.kind
    assert after.previous() == period
    assert period.previous().following() == period


@pytest.mark.parametrize(
    ("text", "after"),
    [("2024", "2025"), ("2024-H2", "2025-H1"), ("2024-Q4", "2025-Q1"), ("2024-12", "2025-01"),
     ("2025-H1", "2025-H2"), ("2025-Q3", "2025-Q4"), ("2025-11", "2025-12")],
)  # fmt: skip
def test_following_at_the_year_edge(text: str, after: str) -> None:
    assert str(parse_period(text).following()) == after


@given(st.text(max_size=12))
def test_any_text_parses_or_raises_period_error(text: str) -> None:
    try:
        parsed = parse_period(text)
    except PeriodError:
        return
    assert str(parsed) == text
