"""Benchmark charts: well-formed, accessible, script-free SVG that never fails on odd data."""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.secretariat.charts import distribution_svg, no_data_svg, trend_svg
from node.secretariat.stats import GroupStats, group_stats
from tests.svg_support import HOSTILE, SVG, parse, texts

STATS = group_stats([5.0, 10.0, 15.0, 20.0, 20.0, 25.0, 30.0, 40.0], 1)


# --- distribution --------------------------------------------------------------------------------


def test_distribution_shows_box_every_city_and_you() -> None:
    assert STATS is not None
    root = parse(
        distribution_svg(STATS, 22.0, label="Evictions", unit="per 10,000", direction="good_down")
    )
    circles = list(root.iter(f"{SVG}circle"))
    assert len(circles) == STATS.n  # one dot per city, the highlight is a diamond path
    assert len(list(root.iter(f"{SVG}rect"))) == 1  # the q1-q3 box
    assert "you" in texts(root)
    assert any("lower is better" in t for t in texts(root))
    desc = root.find(f"{SVG}desc")
    assert desc is not None and desc.text is not None
    assert "8 cities" in desc.text and "median 20" in desc.text and "22 per 10,000" in desc.text
    # The two tied cities at 20 are stacked, not drawn on top of each other.
    tied = [c for c in circles if c.get("cx") == circles[3].get("cx")]
    assert len(tied) == 2 and tied[0].get("cy") != tied[1].get("cy")


@pytest.mark.parametrize(
    ("direction", "note"),
    [
        ("good_up", "higher is better"),
        ("good_down", "lower is better"),
        ("context", "no better side"),
    ],
)
def test_distribution_says_which_side_is_better(direction: str, note: str) -> None:
    assert STATS is not None
    root = parse(distribution_svg(STATS, None, label="X", unit="", direction=direction))
    assert any(note in t for t in texts(root))
    assert "you" not in texts(root)  # no highlight, no marker


def test_distribution_escapes_all_text() -> None:
    assert STATS is not None
    svg = distribution_svg(STATS, 1.0, label=HOSTILE, unit=HOSTILE, direction="good_up")
    assert "<script" not in svg
    root = parse(svg)
    title = root.find(f"{SVG}title")
    assert title is not None and title.text == HOSTILE  # escaped, and read back intact


def test_distribution_of_a_suppressed_group_is_a_no_data_chart() -> None:
    root = parse(distribution_svg(None, 3.0, label="X", unit="%", direction="good_up"))
    assert not list(root.iter(f"{SVG}circle"))
    assert any("Too few cities" in t for t in texts(root))


def test_distribution_refuses_an_unknown_direction() -> None:
    assert STATS is not None
    with pytest.raises(ValueError):
        distribution_svg(STATS, 1.0, label="X", unit="", direction="sideways")


def test_chart_ids_are_stable_distinct_and_overridable() -> None:
    assert STATS is not None
    one = distribution_svg(STATS, 1.0, label="A", unit="", direction="good_up")
    assert one == distribution_svg(STATS, 1.0, label="A", unit="", direction="good_up")
    other = distribution_svg(STATS, 2.0, label="A", unit="", direction="good_up")
    assert parse(one).get("aria-labelledby") != parse(other).get("aria-labelledby")
    own = distribution_svg(STATS, 1.0, label="A", unit="", direction="good_up", chart_id="c-7")
    assert parse(own).get("aria-labelledby") == "c-7-title c-7-desc"
    # Free-text ids (region names) are made safe, and stay distinct.
    ids = {
        parse(
            distribution_svg(STATS, 1.0, label="A", unit="", direction="good_up", chart_id=raw)
        ).get("aria-labelledby")
        for raw in ('x"y', "x y", "dist-Europe West", "1st", "é", "")
    }
    assert len(ids) == 6
    for pair in ids:
        assert pair is not None and re.fullmatch(r"[A-Za-z][\w-]* [A-Za-z][\w-]*", pair)


@pytest.mark.parametrize(
    "values",
    [
        [42.0],  # a single city
        [3.0, 3.0, 3.0, 3.0],  # all equal
        [-50.0, -20.5, -3.0, -3.0],  # negative
        [1e300, 1.5e308, 1.7e308],  # huge
        [-1.7e308, 0.0, 1.7e308],  # the whole float range
        [1e-300, 2e-300, 5e-324],  # tiny
        [0.0] * 1000,  # many ties
    ],
)
@pytest.mark.parametrize("highlight", [None, 0.0, 3.0, -1e308, 1.7e308, math.nan, math.inf])
def test_distribution_survives_degenerate_input(
    values: list[float], highlight: float | None
) -> None:
    stats = group_stats(values, 1)
    assert stats is not None
    parse(distribution_svg(stats, highlight, label="Edge", unit="u", direction="good_up"))


@settings(max_examples=200)
@given(
    st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1, max_size=40),
    st.one_of(st.none(), st.floats()),
    st.sampled_from(["good_up", "good_down", "context"]),
    st.text(max_size=30),
)
def test_distribution_is_always_well_formed(
    values: list[float], highlight: float | None, direction: str, label: str
) -> None:
    # Arbitrary text, control characters and lone surrogates included: they are dropped.
    stats = group_stats(values, 1)
    assert stats is not None
    parse(distribution_svg(stats, highlight, label=label, unit=label, direction=direction))


def test_distribution_of_a_hand_built_empty_group() -> None:
    # Not produced by group_stats, but a caller might build one: still no crash.
    empty = GroupStats(0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, ())
    parse(distribution_svg(empty, None, label="X", unit="", direction="good_up"))


# --- trend ---------------------------------------------------------------------------------------


def test_trend_draws_both_series_with_gaps() -> None:
    points = [
        ("2021", 10.0, 12.0),
        ("2022", None, 13.0),
        ("2023", 14.0, None),
        ("2024", 15.0, 14.0),
        ("2025", 13.0, 14.5),
    ]
    root = parse(trend_svg(points, label="Rent burden", unit="%"))
    paths = {p.get("stroke-dasharray"): p.get("d") or "" for p in root.iter(f"{SVG}path")}
    city, median = paths[None], paths["6 4"]
    # The city's line restarts after the 2022 gap; the median's after the 2023 gap.
    assert city.count("M") == 2 and city.count("L") == 2
    assert median.count("M") == 2 and median.count("L") == 2
    labels = texts(root)
    assert all(period in labels for period, _, _ in points)
    assert "your city" in labels and "group median" in labels
    desc = root.find(f"{SVG}desc")
    assert desc is not None and desc.text is not None
    assert "2022: your city no data, group median 13 %" in desc.text


def test_trend_without_any_value_is_a_no_data_chart() -> None:
    for points in ([], [("2024", None, None)], [("2024", math.nan, math.inf)]):
        root = parse(trend_svg(points, label="X", unit=""))
        assert not list(root.iter(f"{SVG}path"))
        assert any("No figures" in t for t in texts(root))


def test_trend_escapes_periods_and_labels() -> None:
    svg = trend_svg([(HOSTILE, 1.0, 2.0)], label=HOSTILE, unit=HOSTILE)
    assert "<script" not in svg
    assert HOSTILE in texts(parse(svg))


def test_trend_thins_out_period_labels() -> None:
    points = [(f"{2000 + i // 12}-{i % 12 + 1:02d}", float(i), float(i)) for i in range(40)]
    labels = texts(parse(trend_svg(points, label="Monthly", unit="")))
    shown = [t for t in labels if re.fullmatch(r"\d{4}-\d{2}", t)]
    assert 2 <= len(shown) <= 9 and shown[-1] == "2003-04"


@pytest.mark.parametrize(
    "points",
    [
        [("2025", 5.0, 5.0)],  # a single period, equal values
        [("2024", 5.0, None), ("2025", None, 5.0)],  # only isolated points
        [("2024", -1e308, 1.7e308), ("2025", 1.7e308, -1.7e308)],  # huge, negative
        [("2024", 0.0, 0.0), ("2025", 0.0, 0.0)],  # flat zero
        [("2024", 1.0, math.nan), ("2025", math.inf, 2.0)],  # non-finite: gaps
    ],
)
def test_trend_survives_degenerate_input(points: list) -> None:
    parse(trend_svg(points, label="Edge", unit="u"))


@settings(max_examples=200)
@given(
    st.lists(
        st.tuples(
            st.one_of(st.from_regex(r"20[0-9]{2}(-Q[1-4])?", fullmatch=True), st.text()),
            st.one_of(st.none(), st.floats()),
            st.one_of(st.none(), st.floats()),
        ),
        max_size=30,
    )
)
def test_trend_is_always_well_formed(points: list) -> None:
    parse(trend_svg(points, label="Any", unit="%"))


def test_no_data_svg() -> None:
    root = parse(no_data_svg(label=HOSTILE, unit="%", message=HOSTILE))
    assert HOSTILE in texts(root)


def test_characters_xml_cannot_hold_are_dropped() -> None:
    root = parse(no_data_svg(label="a\x00b\x1bc\ud800d", message="m"))
    assert "abcd" in texts(root)
