"""Server-rendered SVG charts for benchmarks: a city within its group, and over time.

Pure functions returning SVG text, to be inlined in pages and e-mails: no JavaScript, no
external resources, presentation attributes only (no ``style``), so they render the same with
scripts off and under a strict Content-Security-Policy. Every chart is an accessible image
(``role="img"``, labelled by its ``<title>`` and ``<desc>``, the latter spelling out the numbers
the picture shows), has a fixed ``viewBox`` and scales to the width of its container.

All text passes through :func:`html.escape` (after dropping the few characters XML cannot
hold at all, such as control characters). Degenerate input never raises: a single city, all
values equal, negative or huge values, missing points; with nothing to draw, a "no data" chart.
Meaning is never carried by colour alone: the highlighted city is a larger diamond with a
"you" label, the group median a dashed line with square markers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from node.charts import (
    BOX_FILL,
    BOX_LINE,
    DOT,
    GRID,
    LEFT,
    MUTED,
    RIGHT,
    YOU,
    Scale,
    Series,
    heading,
    line_chart_svg,
    make_chart_id,
    no_data_svg,
    svg_open,
    with_unit,
)
from node.charts import coord as _f
from node.charts import esc as _esc
from node.charts import plain_number as _fmt
from node.secretariat.stats import GroupStats
from schemas.catalogue import DIRECTIONS

__all__ = ["distribution_svg", "no_data_svg", "trend_svg"]


# --- a city within its group -------------------------------------------------------------------


def distribution_svg(
    stats: GroupStats | None,
    highlight: float | None,
    *,
    label: str,
    unit: str,
    direction: str,
    chart_id: str | None = None,
) -> str:
    """A box plot of the group with every city as a dot and ``highlight`` marked "you".

    Whiskers run from min to max, the box from q1 to q3 with the median as a thick line; below
    it, a strip with one dot per city (anonymous; ties are spread vertically so they stay
    countable). The highlighted value, if any and finite, is a larger diamond in another
    colour with the text "you" and a thin guide line through the box. A note says which side
    is better (``good_up``: right, ``good_down``: left, ``context``: neither). ``stats`` None
    (a suppressed group) gives the "no data" chart.
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}, not {direction!r}")
    if stats is None:
        return no_data_svg(
            label=label, unit=unit, message="Too few cities reported: nothing is published."
        )
    if highlight is not None and not math.isfinite(highlight):
        highlight = None
    values = list(stats.sorted_values)
    bounds = [stats.min, stats.max, *([] if highlight is None else [highlight])]
    scale = Scale(bounds, LEFT + 8, RIGHT - 8)
    cid = make_chart_id(chart_id, "distribution", stats, highlight, label, unit, direction)

    better = {
        "good_up": "higher is better \N{RIGHTWARDS ARROW}",
        "good_down": "\N{LEFTWARDS ARROW} lower is better",
        "context": "context indicator: no better side",
    }[direction]
    summary = (
        f"{stats.n} {'city' if stats.n == 1 else 'cities'}: minimum {with_unit(stats.min, unit)}, "
        f"first quartile {_fmt(stats.q1)}, median {_fmt(stats.median)}, "
        f"third quartile {_fmt(stats.q3)}, maximum {_fmt(stats.max)}, mean {_fmt(stats.mean)}."
    )
    you = (
        " Your city is not in this group."
        if highlight is None
        else f" Your city: {with_unit(highlight, unit)}."
    )
    parts = svg_open(
        cid, 230, label, f"{summary}{you} {better.capitalize()}.", fallback="Benchmark chart"
    )
    parts.append(heading(label, unit))
    anchor = {"good_up": "end", "good_down": "start", "context": "end"}[direction]
    note_x = RIGHT if anchor == "end" else LEFT
    parts.append(
        f'<text x="{note_x}" y="44" text-anchor="{anchor}" fill="{MUTED}">{_esc(better)}</text>'
    )

    # Box plot, centred on y = 90.
    x_min, x_q1, x_med, x_q3, x_max = map(
        scale, (stats.min, stats.q1, stats.median, stats.q3, stats.max)
    )
    parts.append(
        f'<g stroke="{BOX_LINE}" stroke-width="1.5">'
        f'<line x1="{_f(x_min)}" y1="90" x2="{_f(x_max)}" y2="90"/>'
        f'<line x1="{_f(x_min)}" y1="80" x2="{_f(x_min)}" y2="100"/>'
        f'<line x1="{_f(x_max)}" y1="80" x2="{_f(x_max)}" y2="100"/>'
        f'<rect x="{_f(x_q1)}" y="70" width="{_f(max(x_q3 - x_q1, 1.0))}" height="40" '
        f'fill="{BOX_FILL}"/>'
        f'<line x1="{_f(x_med)}" y1="70" x2="{_f(x_med)}" y2="110" stroke-width="3.5"/>'
        "</g>"
    )

    # One dot per city on a strip; the k-th equal value is shifted vertically so that ties
    # show as a small column instead of a single dot.
    dots: list[str] = []
    previous, repeat = None, 0
    for value in values:
        repeat = repeat + 1 if value == previous else 0
        previous = value
        y = 140 - (repeat % 6) * 5
        dots.append(f'<circle cx="{_f(scale(value))}" cy="{y}" r="3.5"/>')
    parts.append(f'<g fill="{DOT}" fill-opacity="0.7">{"".join(dots)}</g>')

    if highlight is not None:
        x = scale(highlight)
        parts.append(
            f'<line x1="{_f(x)}" y1="62" x2="{_f(x)}" y2="150" stroke="{YOU}" '
            f'stroke-width="1.5" stroke-dasharray="4 3"/>'
            f'<path d="M{_f(x)} 131 l9 9 l-9 9 l-9 -9 z" fill="{YOU}" stroke="#ffffff" '
            f'stroke-width="1.5"/>'
            f'<text x="{_f(x)}" y="168" text-anchor="middle" font-weight="700" '
            f'fill="{YOU}">you</text>'
        )

    # Axis: the ends of the scale (one label if they coincide), then the five numbers in
    # words, on a line of their own so that they can never overlap.
    if scale.lo == scale.hi:
        ends = (
            f'<text x="{_f(scale(scale.lo))}" y="198" text-anchor="middle">'
            f"{_esc(_fmt(scale.lo))}</text>"
        )
    else:
        ends = (
            f'<text x="{_f(scale(scale.lo))}" y="198" text-anchor="start">'
            f"{_esc(_fmt(scale.lo))}</text>"
            f'<text x="{_f(scale(scale.hi))}" y="198" text-anchor="end">'
            f"{_esc(_fmt(scale.hi))}</text>"
        )
    parts.append(
        f'<g fill="{MUTED}" font-size="12">'
        f'<line x1="{LEFT}" y1="182" x2="{RIGHT}" y2="182" stroke="{GRID}"/>'
        f"{ends}"
        f'<text x="{LEFT}" y="220">{_esc(_legend(stats, unit))}</text>'
        "</g>"
    )
    parts.append("</svg>")
    return "\n".join(parts)


def _legend(stats: GroupStats, unit: str) -> str:
    numbers = " \N{MIDDLE DOT} ".join(
        f"{name} {_fmt(value)}"
        for name, value in (
            ("min", stats.min),
            ("Q1", stats.q1),
            ("median", stats.median),
            ("Q3", stats.q3),
            ("max", stats.max),
        )
    )
    cities = f"{stats.n} {'city' if stats.n == 1 else 'cities'}"
    return f"{cities}: {numbers}" + (f" ({unit})" if unit else "")


# --- over time ---------------------------------------------------------------------------------


def trend_svg(
    points: Sequence[tuple[str, float | None, float | None]],
    *,
    label: str,
    unit: str,
    chart_id: str | None = None,
) -> str:
    """The city's value and the group median per period: ``(period, value, median)`` points.

    Periods are spread evenly on x in the order given (oldest first); the city is a solid line
    with round markers, the median a dashed line with square markers
    (:func:`node.charts.line_chart_svg`). A missing (None or non-finite) value leaves a gap; an
    isolated point still shows as its marker. With no value at all, the "no data" chart.
    """
    return line_chart_svg(
        [period for period, _, _ in points],
        [
            Series("your city", [v for _, v, _ in points], marker="circle", dash="", colour=YOU),
            Series(
                "group median",
                [m for _, _, m in points],
                marker="square",
                dash="6 4",
                colour=BOX_LINE,
            ),
        ],
        label=label,
        unit=unit,
        chart_id=chart_id,
    )
