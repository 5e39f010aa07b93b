"""The core chart kit (node.charts): well-formed, accessible, script-free SVG, told apart without
colour, in the caller's words and number format, and never failing on odd data."""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.charts import (
    ChartWords,
    Guide,
    Series,
    bar_chart_svg,
    line_chart_svg,
    make_chart_id,
    no_data_svg,
    plain_number,
)
from tests.svg_support import HOSTILE, SVG, desc_of, parse, texts

# --- numbers -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.0, "0"),
        (-0.0, "0"),
        (0.5, "0.5"),
        (12.0, "12"),
        (1234.5678, "1235"),  # four significant digits
        (19.25, "19.25"),
        (-3.14159, "-3.142"),
        (999_999_999.0, "1000000000"),  # just below the compact threshold
        (1e9, "1e+09"),  # at it
        (0.0001, "0.0001"),  # the smallest plain one
        (0.00009999, "0.0001"),  # below it: compact, 3 significant digits
        (math.nan, "n/a"),
        (math.inf, "n/a"),
    ],
)
def test_plain_number(value: float, text: str) -> None:
    assert plain_number(value) == text


# --- line charts -------------------------------------------------------------------------------


def test_series_differ_by_marker_and_dash_not_only_colour() -> None:
    series = [Series(f"Group {i}", [1.0 * i, 2.0 * i]) for i in range(4)]
    root = parse(line_chart_svg(["2023", "2024"], series, label="X", unit="%"))
    paths = [p for p in root.iter(f"{SVG}path") if p.get("fill") == "none"]
    dashes = [p.get("stroke-dasharray") for p in paths]
    assert len(paths) == 4 and len(set(dashes)) == 4  # four dash patterns, one solid
    # Every name is in the legend, beside a sample of its line.
    assert [f"Group {i}" for i in range(4)] == [t for t in texts(root) if t.startswith("Group")]
    # Marker shapes: circles for the first, squares for the second, paths for the others.
    groups = [g for g in root.iter(f"{SVG}g") if g.get("fill") and g.get("color")]
    drawn = [g for g in groups if g.find(f"{SVG}g") is None]
    shapes = [tuple(child.tag for child in g) for g in drawn]
    assert shapes[0] == (f"{SVG}circle",) * 2 and shapes[1] == (f"{SVG}rect",) * 2


def test_guides_are_lines_named_in_words_and_widen_the_range() -> None:
    root = parse(
        line_chart_svg(
            ["2023", "2024"],
            [Series("Total", [10.0, 12.0])],
            label="Poverty",
            unit="%",
            guides=[Guide("Baseline (2015): 20", 20.0), Guide("Target (2030): 5", 5.0)],
        )
    )
    assert "Baseline (2015): 20" in texts(root) and "Target (2030): 5" in texts(root)
    # The y range covers the guides, not only the values: 5 at the bottom, 20 at the top.
    assert "20" in texts(root) and "5" in texts(root)
    assert desc_of(root).endswith("Baseline (2015): 20. Target (2030): 5.")


def test_description_spells_every_number_period_by_period_with_gaps() -> None:
    root = parse(
        line_chart_svg(
            ["2022", "2023", "2024"],
            [Series("Women", [1.5, None, 3.0]), Series("Men", [2.0, 2.5])],  # Men short by one
            label="X",
            unit="%",
        )
    )
    assert desc_of(root) == (
        "2022: Women 1.5 %, Men 2 %; 2023: Women no data, Men 2.5 %; 2024: Women 3 %, Men no data."
    )
    women = next(p for p in root.iter(f"{SVG}path") if p.get("fill") == "none")
    assert (women.get("d") or "").count("M") == 2  # the 2023 gap breaks the line


def test_words_and_number_format_come_from_the_caller() -> None:
    def french(value: float) -> str:
        return plain_number(value).replace(".", ",")

    words = ChartWords(no_data="pas de données", nothing_to_draw="Rien à montrer.")
    root = parse(
        line_chart_svg(
            ["2023", "2024"],
            [Series("Femmes", [1.5, None])],
            label="X",
            unit="%",
            number=french,
            words=words,
        )
    )
    assert desc_of(root) == "2023: Femmes 1,5 %; 2024: Femmes pas de données."
    empty = parse(line_chart_svg(["2023"], [Series("F", [None])], label="X", unit="", words=words))
    assert "Rien à montrer." in texts(empty)


@pytest.mark.parametrize(
    "values",
    [[], [None], [math.nan, math.inf, -math.inf]],
)
def test_nothing_finite_gives_the_no_data_chart(values: list) -> None:
    root = parse(line_chart_svg(["2024"] * len(values), [Series("A", values)], label="X", unit=""))
    assert not list(root.iter(f"{SVG}path"))
    assert any("No figures" in t for t in texts(root))


def test_all_text_is_escaped() -> None:
    svg = line_chart_svg(
        [HOSTILE],
        [Series(HOSTILE, [1.0])],
        label=HOSTILE,
        unit=HOSTILE,
        guides=[Guide(HOSTILE, 2.0, dash=HOSTILE)],
    )
    assert "<script" not in svg
    root = parse(svg)
    assert HOSTILE in texts(root)
    title = root.find(f"{SVG}title")
    assert title is not None and title.text == HOSTILE


def test_ids_are_stable_and_safe() -> None:
    one = line_chart_svg(["2024"], [Series("A", [1.0])], label="A", unit="")
    assert one == line_chart_svg(["2024"], [Series("A", [1.0])], label="A", unit="")
    other = line_chart_svg(["2024"], [Series("A", [2.0])], label="A", unit="")
    assert parse(one).get("aria-labelledby") != parse(other).get("aria-labelledby")
    assert make_chart_id("trend-1") == "trend-1"
    assert re.fullmatch(r"c-x-y-[0-9a-f]{12}", make_chart_id("x y"))
    assert make_chart_id("x y") != make_chart_id("x-y")


def test_a_long_legend_wraps_into_rows_and_the_chart_grows() -> None:
    few = parse(line_chart_svg(["2024"], [Series("A", [1.0])], label="X", unit=""))
    many = parse(
        line_chart_svg(
            ["2024"],
            [Series(f"District number {i}", [float(i)]) for i in range(12)],
            label="X",
            unit="",
        )
    )
    height = {r: int((r.get("viewBox") or "").split()[3]) for r in (few, many)}
    assert height[many] > height[few]


@settings(max_examples=150)
@given(
    st.lists(st.one_of(st.from_regex(r"20[0-9]{2}", fullmatch=True), st.text()), max_size=20),
    st.lists(st.lists(st.one_of(st.none(), st.floats()), max_size=25), max_size=8),
    st.lists(st.floats(), max_size=3),
    st.text(max_size=20),
)
def test_line_chart_is_always_well_formed(
    periods: list[str], rows: list[list[float | None]], guides: list[float], label: str
) -> None:
    series = [Series(f"s{i}", row) for i, row in enumerate(rows)]
    parse(
        line_chart_svg(
            periods, series, label=label, unit=label, guides=[Guide("g", v) for v in guides]
        )
    )


# --- bar charts --------------------------------------------------------------------------------


def test_bars_from_zero_with_their_values_and_a_dash_where_missing() -> None:
    root = parse(
        bar_chart_svg(
            [("2022", 4.0), ("2023", None), ("2024", 2.0)],
            label="Gap",
            unit="points",
            notes=["best: A, worst: B", "", "best: A, worst: C"],
        )
    )
    bars = list(root.iter(f"{SVG}rect"))
    assert len(bars) == 2
    heights = [float(b.get("height") or 0) for b in bars]
    assert heights[0] == pytest.approx(2 * heights[1], abs=0.2)  # 4 is twice 2, from zero
    assert "\N{EN DASH}" in texts(root) and "4" in texts(root) and "2" in texts(root)
    assert desc_of(root) == (
        "2022: 4 points (best: A, worst: B); 2023: no data; 2024: 2 points (best: A, worst: C)."
    )


def test_bars_of_zero_and_negative_are_flat_but_written() -> None:
    root = parse(bar_chart_svg([("2023", 0.0), ("2024", -1.0)], label="G", unit=""))
    assert all(float(b.get("height") or 1) == 0 for b in root.iter(f"{SVG}rect"))
    assert "-1" in texts(root)


def test_bars_without_values_are_the_no_data_chart() -> None:
    root = parse(bar_chart_svg([("2024", None)], label="G", unit=""))
    assert not list(root.iter(f"{SVG}rect"))


@settings(max_examples=100)
@given(st.lists(st.tuples(st.text(max_size=8), st.one_of(st.none(), st.floats())), max_size=40))
def test_bar_chart_is_always_well_formed(points: list[tuple[str, float | None]]) -> None:
    parse(bar_chart_svg(points, label="G", unit="u"))


def test_no_data_chart_says_its_message() -> None:
    root = parse(no_data_svg(label="", unit="", message="Nothing here."))
    assert "Nothing here." in texts(root)
    title = root.find(f"{SVG}title")
    assert title is not None and title.text == "Chart"  # never an empty accessible name
