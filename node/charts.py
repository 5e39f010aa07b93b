"""Server-rendered, accessible SVG charts: the drawing kit every page's charts share.

Pure functions returning SVG text, to be inlined in pages (and e-mails): no JavaScript, no
external resources, presentation attributes only (no ``style``), so a chart renders the same
with scripts off and under a strict Content-Security-Policy. Every chart is an accessible image
(``role="img"``, labelled by its ``<title>`` and ``<desc>``, the latter spelling out the numbers
the picture shows), has a fixed ``viewBox`` and scales to the width of its container
(``width="100%"``: no horizontal scroll on a 390 px phone).

Safety: all text passes through :func:`esc` (XML-invalid characters dropped, then
:func:`html.escape`), so a label typed by anyone (a breakdown's name, a region, a period read
from a file) can never become markup. Degenerate input never raises: a single point, all values
equal, negative or huge values (up to ±1.8e308), missing or non-finite points; with nothing to
draw, a "no data" chart.

Meaning is never carried by colour alone: every series has its own marker shape *and* dash
pattern, shown in the legend next to its name; reference lines (baseline, target) are labelled
in words on the chart.

Words: the module knows no language. Every word a chart shows (series names, guide names, the
"no data" phrases: :class:`ChartWords`) comes from the caller, already translated, and numbers
go through the caller's ``number`` function (e.g. the page language's formatting); the defaults
are English and :func:`plain_number`.

Public API
----------
Charts:
    :func:`line_chart_svg` — one or more series over periods, with horizontal guides;
    :func:`bar_chart_svg` — one non-negative bar per period (e.g. an equality gap);
    :func:`no_data_svg` — a small chart saying there is nothing to draw.
Data shapes: :class:`Series`, :class:`Guide`, :class:`ChartWords`.
Building blocks for chart modules elsewhere (``node.secretariat.charts``): :func:`esc`,
:func:`plain_number`, :func:`with_unit`, :func:`make_chart_id`, :func:`svg_open`, :func:`heading`,
:class:`Scale`, :func:`coord`, :func:`line_path`, :func:`even_positions`, and the layout and
colour constants.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from html import escape

from markupsafe import Markup

__all__ = [
    "ChartBlock",
    "LEFT",
    "MARKERS",
    "PALETTE",
    "RIGHT",
    "WIDTH",
    "ChartWords",
    "Guide",
    "Scale",
    "Series",
    "bar_chart_svg",
    "coord",
    "esc",
    "even_positions",
    "heading",
    "line_chart_svg",
    "line_path",
    "make_chart_id",
    "no_data_svg",
    "plain_number",
    "svg_open",
    "with_unit",
]

WIDTH = 640
LEFT, RIGHT = 48, WIDTH - 24  # horizontal plot range
TEXT = "#1f2937"
MUTED = "#4b5563"
GRID = "#d1d5db"
BOX_FILL, BOX_LINE = "#dbeafe", "#1e40af"
DOT = "#6b7280"
YOU = "#c2410c"  # orange-brown: distinct from the blues; 5.2:1 on white, fit for text
FONT = "system-ui, -apple-system, 'Segoe UI', sans-serif"
MAX_X_LABELS = 8  # period labels on an axis before they would overlap

# Series colours, each at least 4.5:1 on white (they are also used for text), ordered so that
# neighbours differ for the common colour-vision deficiencies. Colour is a help, never the only
# cue: MARKERS and DASHES tell the series apart too.
PALETTE = ("#c2410c", "#1e40af", "#047857", "#7e22ce", "#a16207", "#be123c", "#374151")
MARKERS = ("circle", "square", "diamond", "triangle", "cross", "triangle-down")
DASHES = (None, "6 4", "2 3", "10 3 2 3")

_ID_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
# Characters XML 1.0 does not allow at all, not even escaped: controls, lone surrogates.
_NOT_XML_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

NumberFormat = Callable[[float], str]


# --- building blocks ---------------------------------------------------------------------------


def esc(text: str) -> str:
    """Text safe inside an SVG element or attribute: XML-invalid characters dropped, escaped."""
    return escape(_NOT_XML_RE.sub("", text))


def plain_number(value: float) -> str:
    """A number for people to read: 4 significant digits, compact when huge or tiny.

    ``1234.5678`` → ``"1235"``, ``0.5`` → ``"0.5"``, ``2e12`` → ``"2e+12"``, ``-0.0`` →
    ``"0"``; a non-finite value → ``"n/a"``. The default ``number`` of every chart.
    """
    if not math.isfinite(value):
        return "n/a"
    magnitude = abs(value)
    if magnitude >= 1e9 or 0 < magnitude < 1e-4:
        return format(value, ".3g")  # 1.23e+12 beats a 13-digit string in a chart label
    text = format(Decimal(format(value, ".4g")), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def with_unit(value: float, unit: str, number: NumberFormat = plain_number) -> str:
    """``value`` formatted by ``number``, followed by ``unit`` when there is one."""
    return f"{number(value)} {unit}".rstrip()


def _digest(*parts: object) -> str:
    return hashlib.sha256(repr(parts).encode("utf-8", "backslashreplace")).hexdigest()[:12]


def make_chart_id(own_id: str | None, *parts: object) -> str:
    """A valid XML id: the caller's ``own_id``, or one derived from ``parts`` (stable).

    Two charts inlined in one page need distinct ids for ``aria-labelledby``; the same chart
    twice would collide, which is why callers may pass their own. A caller's id that is not a
    safe id as it stands (``dist-Europe West``: names are free text) is made one rather than
    refused: unsafe characters become ``-`` and a digest of the original keeps distinct inputs
    distinct.
    """
    if own_id is None:
        return f"hrc-chart-{_digest(*parts)}"
    if _ID_RE.match(own_id):
        return own_id
    safe = re.sub(r"[^A-Za-z0-9_-]", "-", own_id)[:40]
    return f"c-{safe}-{_digest(own_id)}"


def svg_open(cid: str, height: int, title: str, desc: str, *, fallback: str = "Chart") -> list[str]:
    """The opening ``<svg>`` with its accessible name (``title``) and description (``desc``).

    An image's accessible name must never be empty: a blank ``title`` becomes ``fallback``.
    The caller appends the drawing and ``"</svg>"``.
    """
    title = _NOT_XML_RE.sub("", title).strip() or fallback
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" '
        f'width="100%" role="img" aria-labelledby="{cid}-title {cid}-desc" '
        f'font-family="{escape(FONT)}" font-size="13" fill="{TEXT}">',
        f'<title id="{cid}-title">{esc(title)}</title>',
        f'<desc id="{cid}-desc">{esc(desc)}</desc>',
    ]


def heading(label: str, unit: str) -> str:
    """The chart's visible heading: its label and, in brackets, the unit."""
    text = f"{label} ({unit})" if unit else label
    return f'<text x="{LEFT}" y="22" font-size="15" font-weight="600">{esc(text)}</text>'


class Scale:
    """A linear map from values onto [a, b] pixels that cannot overflow or produce NaN.

    The span is computed on halves (``hi/2 - lo/2``) so that values near ±1.8e308 do not
    overflow; anything non-finite lands in the middle rather than breaking the drawing, and
    values outside [lo, hi] are clamped to the ends. ``a > b`` is allowed (a y axis: larger
    values higher up).
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


def coord(x: float) -> str:
    """A pixel coordinate as SVG text, one decimal."""
    return f"{x:.1f}"


def finite_or_none(value: float | None) -> float | None:
    """``value`` when it is a finite number, else None (a gap in the chart)."""
    return value if value is not None and math.isfinite(value) else None


def line_path(xs: Sequence[float], ys: Sequence[float | None]) -> str:
    """Path data through the present points; a missing point breaks the line (a gap)."""
    commands: list[str] = []
    pen_down = False
    for x, y in zip(xs, ys, strict=True):
        if y is None:
            pen_down = False
            continue
        commands.append(f"{'L' if pen_down else 'M'}{coord(x)} {coord(y)}")
        pen_down = True
    return " ".join(commands)


def even_positions(count: int, left: float = LEFT + 16, right: float = RIGHT - 16) -> list[float]:
    """``count`` x positions spread evenly over [left, right]; one alone is centred."""
    if count <= 0:
        return []
    if count == 1:
        return [(left + right) / 2]
    step = (right - left) / (count - 1)
    return [left + i * step for i in range(count)]


def marker(shape: str, x: float, y: float, size: float = 4.0) -> str:
    """One marker of ``shape`` (one of :data:`MARKERS`) centred on (x, y), in the group's fill."""
    s = size
    if shape == "square":
        side = coord(2 * s - 1)
        return (
            f'<rect x="{coord(x - s + 0.5)}" y="{coord(y - s + 0.5)}" '
            f'width="{side}" height="{side}"/>'
        )
    if shape == "diamond":
        r = coord(s + 1)
        return f'<path d="M{coord(x)} {coord(y - s - 1)} l{r} {r} l-{r} {r} l-{r} -{r} z"/>'
    if shape in ("triangle", "triangle-down"):
        up = 1 if shape == "triangle" else -1  # the apex: above the centre, or below
        r, h, w = coord(s + 1), coord(2 * s * up), coord(-2 * s - 2)
        return f'<path d="M{coord(x)} {coord(y - (s + 1) * up)} l{r} {h} h{w} z"/>'
    if shape == "cross":
        return (
            f'<path d="M{coord(x - s)} {coord(y - s)} L{coord(x + s)} {coord(y + s)} '
            f'M{coord(x - s)} {coord(y + s)} L{coord(x + s)} {coord(y - s)}" stroke-width="2.5" '
            f'fill="none" stroke="currentColor"/>'
        )
    return f'<circle cx="{coord(x)}" cy="{coord(y)}" r="{coord(s)}"/>'


def no_data_svg(
    *, label: str, unit: str = "", message: str = "No data to show.", chart_id: str | None = None
) -> str:
    """A small chart that says there is nothing to draw (``message``, visible and in ``desc``)."""
    cid = make_chart_id(chart_id, "no-data", label, unit, message)
    parts = svg_open(cid, 80, label, message)
    parts.append(heading(label, unit))
    parts.append(f'<text x="{LEFT}" y="54" fill="{MUTED}">{esc(message)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


# --- charts ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChartWords:
    """The few words a chart writes itself; pass them translated (defaults: English)."""

    no_data: str = "no data"  # a missing point, in the description
    nothing_to_draw: str = "No figures for these periods yet."  # the "no data" chart


@dataclass(frozen=True)
class Series:
    """One line of a chart: a ``name`` and one value per period (None = missing).

    ``marker``/``dash``/``colour`` default to the series' position in the chart (each series
    gets its own shape and dash pattern, so that the lines can be told apart without colour).
    ``dash`` ``""`` forces a solid line.
    """

    name: str
    values: Sequence[float | None]
    marker: str | None = None
    dash: str | None = None
    colour: str | None = None


@dataclass(frozen=True)
class Guide:
    """A horizontal reference line across the chart (a baseline, a target) named in words.

    ``name`` is drawn on the chart next to the line, e.g. "Target (2030): 15"; the caller
    writes it (translated, number formatted).
    """

    name: str
    value: float
    dash: str = "3 3"
    colour: str = MUTED


@dataclass(frozen=True)
class _Style:
    marker: str
    dash: str | None
    colour: str


def _style(index: int, series: Series) -> _Style:
    dash = series.dash if series.dash is not None else DASHES[index % len(DASHES)]
    return _Style(
        marker=series.marker or MARKERS[index % len(MARKERS)],
        dash=dash or None,
        colour=series.colour or PALETTE[index % len(PALETTE)],
    )


def _legend(styles: Sequence[_Style], names: Sequence[str], top: int) -> tuple[list[str], int]:
    """Legend items (line sample, marker, name) laid out in rows; returns parts and rows used."""
    parts: list[str] = []
    x, row = LEFT, 0
    for style, name in zip(styles, names, strict=True):
        shown = name if len(name) <= 40 else name[:39] + "\N{HORIZONTAL ELLIPSIS}"
        width = 34 + 7 * len(shown) + 18
        if x > LEFT and x + width > RIGHT:
            x, row = LEFT, row + 1
        y = top + row * 18
        dash = f' stroke-dasharray="{style.dash}"' if style.dash else ""
        parts.append(
            f'<g fill="{style.colour}" stroke="{style.colour}" color="{style.colour}">'
            f'<line x1="{x}" y1="{y}" x2="{x + 26}" y2="{y}" stroke-width="2.5"{dash}/>'
            f'<g stroke="none">{marker(style.marker, x + 13, y, 3.5)}</g></g>'
            f'<text x="{x + 32}" y="{y + 4}" font-size="12" fill="{MUTED}">{esc(shown)}</text>'
        )
        x += width
    return parts, row + 1


def _period_labels(xs: Sequence[float], periods: Sequence[str], y: float) -> str:
    """Period labels under the x axis: all when they fit, else every k-th plus the last."""
    count = len(periods)
    every = max(1, math.ceil(count / MAX_X_LABELS))
    shown = {i for i in range(0, count, every)} | {count - 1}
    return (
        f'<g font-size="12" fill="{MUTED}" text-anchor="middle">'
        + "".join(
            f'<text x="{coord(xs[i])}" y="{coord(y)}">{esc(periods[i])}</text>'
            for i in sorted(shown)
        )
        + "</g>"
    )


def _y_range_labels(scale: Scale, top: float, bottom: float, number: NumberFormat) -> str:
    """The y range at the left (a flat series gets one label, level with its line)."""
    if scale.lo == scale.hi:
        return (
            f'<text x="{LEFT - 6}" y="{coord(scale(scale.lo) + 4)}" text-anchor="end">'
            f"{esc(number(scale.lo))}</text>"
        )
    return (
        f'<text x="{LEFT - 6}" y="{coord(top + 4)}" text-anchor="end">'
        f"{esc(number(scale.hi))}</text>"
        f'<text x="{LEFT - 6}" y="{coord(bottom + 4)}" text-anchor="end">'
        f"{esc(number(scale.lo))}</text>"
    )


def line_chart_svg(
    periods: Sequence[str],
    series: Sequence[Series],
    *,
    label: str,
    unit: str,
    guides: Sequence[Guide] = (),
    chart_id: str | None = None,
    number: NumberFormat = plain_number,
    words: ChartWords = ChartWords(),  # noqa: B008 (frozen, so sharing it is safe)
) -> str:
    """Lines over ``periods`` (oldest first, spread evenly on x), one per :class:`Series`.

    Each series is drawn with its own colour, marker shape and dash pattern, named in a legend
    above the plot; a missing (None or non-finite) value leaves a gap and an isolated point
    still shows as its marker. ``guides`` are labelled horizontal lines (baseline, target) and
    count in the y range. The description spells every number, period by period
    (``"2022: Women 12 %, Men no data"``), then the guides. With no finite value at all, the
    :func:`no_data_svg` chart saying ``words.nothing_to_draw``.
    """
    names = [str(s.name) for s in series]
    periods = [str(p) for p in periods]
    rows = [
        [finite_or_none(v) for v in list(s.values)[: len(periods)]]
        + [None] * max(0, len(periods) - len(s.values))
        for s in series
    ]
    clean_guides = [g for g in guides if math.isfinite(g.value)]
    present = [v for row in rows for v in row if v is not None]
    if not present:
        return no_data_svg(label=label, unit=unit, message=words.nothing_to_draw)

    styles = [_style(i, s) for i, s in enumerate(series)]
    legend, legend_rows = _legend(styles, names, 40)
    top = 40 + legend_rows * 18 + 8
    bottom = top + 134
    height = bottom + 38
    scale_y = Scale(present + [g.value for g in clean_guides], bottom, top)
    xs = even_positions(len(periods))
    cid = make_chart_id(chart_id, "lines", periods, names, rows, clean_guides, label, unit)

    def said(value: float | None) -> str:
        return words.no_data if value is None else with_unit(value, unit, number)

    described = "; ".join(
        f"{period}: "
        + ", ".join(f"{name} {said(row[i])}" for name, row in zip(names, rows, strict=True))
        for i, period in enumerate(periods)
    )
    described += "".join(f". {g.name}" for g in clean_guides)
    parts = svg_open(cid, height, label, f"{described}.")
    parts.append(heading(label, unit))
    parts.extend(legend)
    parts.append(
        f'<g font-size="12" fill="{MUTED}">'
        f'<line x1="{LEFT}" y1="{bottom + 8}" x2="{RIGHT}" y2="{bottom + 8}" stroke="{GRID}"/>'
        f"{_y_range_labels(scale_y, top, bottom, number)}"
        "</g>"
    )
    for guide in clean_guides:
        y = scale_y(guide.value)
        parts.append(
            f'<g fill="{guide.colour}" font-size="12">'
            f'<line x1="{LEFT}" y1="{coord(y)}" x2="{RIGHT}" y2="{coord(y)}" '
            f'stroke="{guide.colour}" stroke-width="1.5" stroke-dasharray="{esc(guide.dash)}"/>'
            f'<text x="{RIGHT}" y="{coord(y - 4)}" text-anchor="end">{esc(guide.name)}</text>'
            "</g>"
        )
    for style, row in zip(styles, rows, strict=True):
        ys = [None if v is None else scale_y(v) for v in row]
        path = line_path(xs, ys)
        dash = f' stroke-dasharray="{style.dash}"' if style.dash else ""
        if path:
            parts.append(
                f'<path d="{path}" fill="none" stroke="{style.colour}" stroke-width="2.5"{dash}/>'
            )
        parts.append(
            f'<g fill="{style.colour}" color="{style.colour}">'
            + "".join(
                marker(style.marker, x, y) for x, y in zip(xs, ys, strict=True) if y is not None
            )
            + "</g>"
        )
    parts.append(_period_labels(xs, periods, bottom + 26))
    parts.append("</svg>")
    return "\n".join(parts)


@dataclass(frozen=True)
class _Bar:
    period: str
    value: float | None
    note: str = ""


def bar_chart_svg(
    points: Sequence[tuple[str, float | None]],
    *,
    label: str,
    unit: str,
    notes: Sequence[str] = (),
    chart_id: str | None = None,
    number: NumberFormat = plain_number,
    words: ChartWords = ChartWords(),  # noqa: B008 (frozen, so sharing it is safe)
) -> str:
    """One bar per ``(period, value)`` from zero up, its value written above it.

    Made for non-negative sizes over time (an equality gap); a negative value is drawn as zero
    height but still written. A missing value shows as a "–" in the bar's place. ``notes`` (one
    per point, optional) are appended to that period in the description (e.g. which groups are
    best- and worst-off). With no finite value, the :func:`no_data_svg` chart.
    """
    bars = [
        _Bar(str(period), finite_or_none(value), notes[i] if i < len(notes) else "")
        for i, (period, value) in enumerate(points)
    ]
    present = [b.value for b in bars if b.value is not None]
    if not present:
        return no_data_svg(label=label, unit=unit, message=words.nothing_to_draw)
    top, bottom = 52, 186
    scale_y = Scale([0.0, *(max(v, 0.0) for v in present)], bottom, top)
    xs = even_positions(len(bars))
    slot = (RIGHT - LEFT - 32) / max(len(bars), 1)
    width = max(2.0, min(40.0, slot * 0.6))
    cid = make_chart_id(chart_id, "bars", bars, label, unit)
    described = "; ".join(
        f"{b.period}: {words.no_data if b.value is None else with_unit(b.value, unit, number)}"
        + (f" ({b.note})" if b.note else "")
        for b in bars
    )
    parts = svg_open(cid, bottom + 38, label, f"{described}.")
    parts.append(heading(label, unit))
    parts.append(
        f'<g font-size="12" fill="{MUTED}">'
        f'<line x1="{LEFT}" y1="{bottom}" x2="{RIGHT}" y2="{bottom}" stroke="{GRID}"/>'
        f'<text x="{LEFT - 6}" y="{bottom + 4}" text-anchor="end">{esc(number(0.0))}</text>'
        + (
            f'<text x="{LEFT - 6}" y="{top + 4}" text-anchor="end">{esc(number(scale_y.hi))}</text>'
            if scale_y.hi > 0
            else ""
        )
        + "</g>"
    )
    write_values = len(bars) <= 12  # beyond that the numbers would collide: desc and table
    drawn: list[str] = []
    for x, bar in zip(xs, bars, strict=True):
        if bar.value is None:
            drawn.append(
                f'<text x="{coord(x)}" y="{bottom - 4}" text-anchor="middle" '
                f'fill="{MUTED}">\N{EN DASH}</text>'
            )
            continue
        # Zero or below is no bar at all (the axis), however the others are scaled.
        y = scale_y(bar.value) if bar.value > 0 else float(bottom)
        drawn.append(
            f'<rect x="{coord(x - width / 2)}" y="{coord(y)}" width="{coord(width)}" '
            f'height="{coord(max(bottom - y, 0.0))}" fill="{BOX_LINE}"/>'
        )
        if write_values:
            drawn.append(
                f'<text x="{coord(x)}" y="{coord(y - 4)}" text-anchor="middle" '
                f'font-size="12">{esc(number(bar.value))}</text>'
            )
    parts.append("<g>" + "".join(drawn) + "</g>")
    parts.append(_period_labels(xs, [b.period for b in bars], bottom + 22))
    parts.append("</svg>")
    return "\n".join(parts)


@dataclass(frozen=True)
class ChartBlock:
    """A chart and its data table, as ``_charts.html`` shows them: ``columns`` head the table,
    ``rows`` are (header, cells). Shared by the city's pages and the public portal."""

    anchor: str
    title: str
    svg: Markup
    caption: str
    columns: list[str]
    rows: list[tuple[str, list[str]]] = field(default_factory=list)
