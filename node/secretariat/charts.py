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

import hashlib
import math
import re
from collections.abc import Sequence
from html import escape

from node.secretariat.stats import GroupStats, decimal_text
from schemas.catalogue import DIRECTIONS

__all__ = ["distribution_svg", "no_data_svg", "trend_svg"]

WIDTH = 640
LEFT, RIGHT = 48, WIDTH - 24  # horizontal plot range shared by both charts
TEXT = "#1f2937"
MUTED = "#4b5563"
BOX_FILL, BOX_LINE = "#dbeafe", "#1e40af"
DOT = "#6b7280"
YOU = "#c2410c"  # orange-brown: distinct from the blues; 5.2:1 on white, fit for text
FONT = "system-ui, -apple-system, 'Segoe UI', sans-serif"
MAX_X_LABELS = 8  # period labels on a trend axis before they would overlap

_ID_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
# Characters XML 1.0 does not allow at all, not even escaped: controls, lone surrogates.
_NOT_XML_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


# --- shared pieces -----------------------------------------------------------------------------


def _esc(text: str) -> str:
    """Text safe inside an SVG element: XML-invalid characters dropped, then escaped."""
    return escape(_NOT_XML_RE.sub("", text))


def _fmt(value: float) -> str:
    """A number for people to read: 4 significant digits, compact when huge or tiny."""
    if not math.isfinite(value):
        return "n/a"
    magnitude = abs(value)
    if magnitude >= 1e9 or 0 < magnitude < 1e-4:
        return format(value, ".3g")  # 1.23e+12 beats a 13-digit string in a chart label
    return decimal_text(value, 4)


def _with_unit(value: float, unit: str) -> str:
    return f"{_fmt(value)} {unit}".rstrip()


def _digest(*parts: object) -> str:
    return hashlib.sha256(repr(parts).encode("utf-8", "backslashreplace")).hexdigest()[:12]


def _chart_id(chart_id: str | None, *parts: object) -> str:
    """A valid XML id: the caller's, or one derived from the content (stable across renders).

    Two charts inlined in one page need distinct ids for ``aria-labelledby``; the same chart
    twice would collide, which is why callers may pass their own. A caller's id that is not a
    safe id as it stands (``dist-Europe West``: region names are free text) is made one
    rather than refused: unsafe characters become ``-`` and a digest of the original keeps
    distinct inputs distinct.
    """
    if chart_id is None:
        return f"hrc-chart-{_digest(*parts)}"
    if _ID_RE.match(chart_id):
        return chart_id
    safe = re.sub(r"[^A-Za-z0-9_-]", "-", chart_id)[:40]
    return f"c-{safe}-{_digest(chart_id)}"


def _open(cid: str, height: int, title: str, desc: str) -> list[str]:
    # An image's accessible name must not be empty, whatever label the caller had.
    title = _NOT_XML_RE.sub("", title).strip() or "Benchmark chart"
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" '
        f'width="100%" role="img" aria-labelledby="{cid}-title {cid}-desc" '
        f'font-family="{escape(FONT)}" font-size="13" fill="{TEXT}">',
        f'<title id="{cid}-title">{_esc(title)}</title>',
        f'<desc id="{cid}-desc">{_esc(desc)}</desc>',
    ]


def _heading(label: str, unit: str) -> str:
    text = f"{label} ({unit})" if unit else label
    return f'<text x="{LEFT}" y="22" font-size="15" font-weight="600">{_esc(text)}</text>'


class _Scale:
    """A linear map from values onto [a, b] pixels that cannot overflow or produce NaN.

    The span is computed on halves (``hi/2 - lo/2``) so that values near ±1.8e308 do not
    overflow; anything non-finite lands in the middle rather than breaking the drawing.
    """

    def __init__(self, values: Sequence[float], a: float, b: float) -> None:
        finite = [v for v in values if math.isfinite(v)]
        self.lo = min(finite) if finite else 0.0
        self.hi = max(finite) if finite else 0.0
        self.a, self.b = a, b
        self.half_span = self.hi / 2 - self.lo / 2

    def __call__(self, value: float) -> float:
        if not math.isfinite(value) or self.half_span <= 0:
            return (self.a + self.b) / 2  # one distinct value: centre it
        share = (value / 2 - self.lo / 2) / self.half_span
        if not math.isfinite(share):
            return (self.a + self.b) / 2
        return self.a + min(1.0, max(0.0, share)) * (self.b - self.a)


def _f(x: float) -> str:
    return f"{x:.1f}"


def no_data_svg(*, label: str, unit: str = "", message: str = "No data to show.") -> str:
    """A small chart that says there is nothing to draw (also for suppressed groups)."""
    cid = _chart_id(None, "no-data", label, unit, message)
    parts = _open(cid, 80, label, message)
    parts.append(_heading(label, unit))
    parts.append(f'<text x="{LEFT}" y="54" fill="{MUTED}">{_esc(message)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


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
    scale = _Scale(bounds, LEFT + 8, RIGHT - 8)
    cid = _chart_id(chart_id, "distribution", stats, highlight, label, unit, direction)

    better = {
        "good_up": "higher is better \N{RIGHTWARDS ARROW}",
        "good_down": "\N{LEFTWARDS ARROW} lower is better",
        "context": "context indicator: no better side",
    }[direction]
    summary = (
        f"{stats.n} {'city' if stats.n == 1 else 'cities'}: minimum {_with_unit(stats.min, unit)}, "
        f"first quartile {_fmt(stats.q1)}, median {_fmt(stats.median)}, "
        f"third quartile {_fmt(stats.q3)}, maximum {_fmt(stats.max)}, mean {_fmt(stats.mean)}."
    )
    you = (
        " Your city is not in this group."
        if highlight is None
        else f" Your city: {_with_unit(highlight, unit)}."
    )
    parts = _open(cid, 230, label, f"{summary}{you} {better.capitalize()}.")
    parts.append(_heading(label, unit))
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
        f'<line x1="{LEFT}" y1="182" x2="{RIGHT}" y2="182" stroke="#d1d5db"/>'
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


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _path(xs: Sequence[float], ys: Sequence[float | None]) -> str:
    """Path data through the present points; a missing point breaks the line (a gap)."""
    commands: list[str] = []
    pen_down = False
    for x, y in zip(xs, ys, strict=True):
        if y is None:
            pen_down = False
            continue
        commands.append(f"{'L' if pen_down else 'M'}{_f(x)} {_f(y)}")
        pen_down = True
    return " ".join(commands)


def trend_svg(
    points: Sequence[tuple[str, float | None, float | None]],
    *,
    label: str,
    unit: str,
    chart_id: str | None = None,
) -> str:
    """The city's value and the group median per period: ``(period, value, median)`` points.

    Periods are spread evenly on x in the order given (oldest first); the city is a solid line
    with round markers, the median a dashed line with square markers. A missing (None or
    non-finite) value leaves a gap; an isolated point still shows as its marker. With no
    value at all, the "no data" chart.
    """
    clean = [(str(period), _finite(value), _finite(median)) for period, value, median in points]
    present = [v for _, value, median in clean for v in (value, median) if v is not None]
    if not present:
        return no_data_svg(label=label, unit=unit, message="No figures for these periods yet.")

    top, bottom = 56, 190
    scale_y = _Scale(present, bottom, top)  # reversed: larger values higher up
    count = len(clean)
    if count == 1:
        xs = [(LEFT + RIGHT) / 2]
    else:
        step = (RIGHT - 16 - (LEFT + 16)) / (count - 1)
        xs = [LEFT + 16 + i * step for i in range(count)]
    cid = _chart_id(chart_id, "trend", clean, label, unit)

    def said(value: float | None) -> str:
        return "no data" if value is None else _with_unit(value, unit)

    desc = "; ".join(
        f"{period}: your city {said(value)}, group median {said(median)}"
        for period, value, median in clean
    )
    parts = _open(cid, 228, label, f"Over {count} period{'s' if count != 1 else ''}: {desc}.")
    parts.append(_heading(label, unit))

    # Legend: shape and dash pattern, not only colour, tell the two series apart.
    parts.append(
        f'<g font-size="12" fill="{MUTED}">'
        f'<line x1="{LEFT}" y1="40" x2="{LEFT + 24}" y2="40" stroke="{YOU}" stroke-width="2.5"/>'
        f'<circle cx="{LEFT + 12}" cy="40" r="3.5" fill="{YOU}"/>'
        f'<text x="{LEFT + 30}" y="44">your city</text>'
        f'<line x1="{LEFT + 110}" y1="40" x2="{LEFT + 134}" y2="40" stroke="{BOX_LINE}" '
        f'stroke-width="2" stroke-dasharray="6 4"/>'
        f'<rect x="{LEFT + 119}" y="37" width="6" height="6" fill="{BOX_LINE}"/>'
        f'<text x="{LEFT + 140}" y="44">group median</text>'
        "</g>"
    )

    # Frame and the y range (a flat series gets one label, level with its line).
    if scale_y.lo == scale_y.hi:
        y_labels = (
            f'<text x="{LEFT - 6}" y="{_f(scale_y(scale_y.lo) + 4)}" text-anchor="end">'
            f"{_esc(_fmt(scale_y.lo))}</text>"
        )
    else:
        y_labels = (
            f'<text x="{LEFT - 6}" y="{top + 4}" text-anchor="end">'
            f"{_esc(_fmt(scale_y.hi))}</text>"
            f'<text x="{LEFT - 6}" y="{bottom + 4}" text-anchor="end">'
            f"{_esc(_fmt(scale_y.lo))}</text>"
        )
    parts.append(
        f'<g font-size="12" fill="{MUTED}">'
        f'<line x1="{LEFT}" y1="{bottom + 8}" x2="{RIGHT}" y2="{bottom + 8}" stroke="#d1d5db"/>'
        f"{y_labels}"
        "</g>"
    )

    medians_y = [None if m is None else scale_y(m) for _, _, m in clean]
    values_y = [None if v is None else scale_y(v) for _, v, _ in clean]
    median_path = _path(xs, medians_y)
    if median_path:
        parts.append(
            f'<path d="{median_path}" fill="none" stroke="{BOX_LINE}" stroke-width="2" '
            f'stroke-dasharray="6 4"/>'
        )
    parts.append(
        f'<g fill="{BOX_LINE}">'
        + "".join(
            f'<rect x="{_f(x - 3)}" y="{_f(y - 3)}" width="6" height="6"/>'
            for x, y in zip(xs, medians_y, strict=True)
            if y is not None
        )
        + "</g>"
    )
    value_path = _path(xs, values_y)
    if value_path:
        parts.append(f'<path d="{value_path}" fill="none" stroke="{YOU}" stroke-width="2.5"/>')
    parts.append(
        f'<g fill="{YOU}">'
        + "".join(
            f'<circle cx="{_f(x)}" cy="{_f(y)}" r="4"/>'
            for x, y in zip(xs, values_y, strict=True)
            if y is not None
        )
        + "</g>"
    )

    # Period labels: all of them when they fit, else every k-th plus the last one.
    every = max(1, math.ceil(count / MAX_X_LABELS))
    shown = {i for i in range(0, count, every)} | {count - 1}
    parts.append(
        f'<g font-size="12" fill="{MUTED}" text-anchor="middle">'
        + "".join(
            f'<text x="{_f(xs[i])}" y="{bottom + 26}">{_esc(clean[i][0])}</text>'
            for i in sorted(shown)
        )
        + "</g>"
    )
    parts.append("</svg>")
    return "\n".join(parts)
