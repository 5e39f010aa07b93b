"""The charts of one indicator, each with its data table: the trend with baseline and target,
the breakdowns of each ground side by side, and each ground's equality gap.

One module for every page that shows them (core, so features may use it): the staff's
``indicator.html`` (:mod:`node.web.views`) and the public portal (:mod:`node.portal`: its
indicator page, the embeds, the annual report). The SVG comes from the core kit
:mod:`node.charts` (pure, escaped), the words are translated here and numbers are written the
page language's way (:func:`node.i18n.format_number`). What figures reach here is the caller's
choice: the portal passes published figures only.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from flask_babel import gettext as _
from markupsafe import Markup

from node.charts import (
    ChartBlock,
    ChartWords,
    Guide,
    Series,
    bar_chart_svg,
    line_chart_svg,
    no_data_svg,
    plain_number,
)
from node.equality import GapBlock, GapSeries, gap_series, grounds_of, groups_by_period
from node.i18n import current_locale, format_number
from node.services.overview import Figure
from schemas.periods import parse_period

__all__ = [
    "ChartBlock",
    "GapBlock",
    "breakdown_blocks",
    "cell",
    "chart_number",
    "chart_words",
    "fast_number",
    "gap_blocks",
    "gap_text",
    "gap_trend_labels",
    "ground_label",
    "group_label",
    "trend_block",
    "trend_svg",
]


def chart_number(value: float) -> str:
    """A chart's number: 4 significant digits, written the page language's way."""
    text = plain_number(value)
    return fast_number(Decimal(text)) if text != "n/a" else text


def chart_words() -> ChartWords:
    """The words the chart kit writes itself, in the page's language."""
    return ChartWords(no_data=_("no data"), nothing_to_draw=_("No figures for these periods yet."))


def _svg(svg: str) -> Markup:
    """Charts are drawn by node.charts, which escapes every text it is given: safe markup."""
    return Markup(svg)  # noqa: S704


_PROBE = re.compile(r"^(\D*)1(\D+)234(\D+)567(\D+)5$")


@functools.lru_cache(maxsize=16)
def _symbols(locale: str) -> tuple[str, str, str] | None:
    """(minus, group, decimal) as :func:`node.i18n.format_number` writes them in ``locale``.

    Read from that function's own output for one probe number, so the two can never disagree;
    None (use format_number itself) if the probe does not have the expected shape.
    """
    match = _PROBE.match(format_number(Decimal("-1234567.5")))
    if match is None or match.group(2) != match.group(3):
        return None
    return match.group(1), match.group(2), match.group(4)


def fast_number(value: Decimal) -> str:
    """:func:`node.i18n.format_number` for a finite Decimal, without a Babel call per number.

    A chart's table can hold thousands of figures (monthly periods × groups); Babel parses its
    pattern and locale on every call. Same output (every digit kept, thousands grouped by three,
    the language's signs), pinned by a test against format_number in all six languages.
    """
    symbols = _symbols(current_locale()) if value.is_finite() else None
    if symbols is None:
        return format_number(value)
    minus, group, point = symbols
    text = format(value, "f")
    negative = text.startswith("-")
    whole, _dot, fraction = text.lstrip("-").partition(".")
    grouped = ""
    while len(whole) > 3:
        whole, grouped = whole[:-3], group + whole[-3:] + grouped
    return (minus if negative else "") + whole + grouped + (point + fraction if fraction else "")


def cell(value: Decimal | bool | None) -> str:
    """A table cell: the exact figure as stored, written the page language's way."""
    if value is None:
        return "\N{EN DASH}"
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    return fast_number(value)


def gap_text(value: Decimal) -> str:
    """A computed gap without the trailing zeros subtraction leaves (63.5 - 59.5 = 4.0 → 4)."""
    trimmed = (
        value.quantize(Decimal(1)) if value == value.to_integral_value() else value.normalize()
    )
    return cell(trimmed)


def _by_time(periods: Sequence[str] | set[str]) -> list[str]:
    return sorted(periods, key=lambda text: parse_period(text).sort_key)


def ground_label(dimensions: Mapping[str, Any], ground: str) -> str:
    """A dimension's name without its bracketed note ("Sex (at birth)" → "Sex")."""
    dim = dimensions.get(ground)
    return str(dim.label).split(" (")[0] if dim is not None else ground


def group_label(dimensions: Mapping[str, Any], ground: str, code: str) -> str:
    """A dimension code's label ("F" → "Female"), or the code itself when unknown."""
    dim = dimensions.get(ground)
    if dim is not None:
        for item in dim.codes:
            if item.code == code:
                return str(item.label)
    return code


def _number(value: Decimal | bool) -> float | None:
    return None if isinstance(value, bool) else float(value)


def _totals(figures: Sequence[Figure]) -> dict[str, Decimal]:
    """The total's numbers by period (yes/no figures have no trend line)."""
    return {f.period: f.value for f in figures if not f.breakdown and not isinstance(f.value, bool)}


def _guides(progress: Mapping[str, Any]) -> list[Guide]:
    """The baseline and the target as labelled reference lines (when they are numbers)."""
    guides: list[Guide] = []
    for name, point, colour, dash in (
        ("baseline", progress.get("baseline"), "#4b5563", "2 3"),
        ("target", progress.get("target"), "#047857", "8 4"),
    ):
        if not point or isinstance(point.get("value"), bool) or point.get("value") is None:
            continue
        text = (
            _(
                "Baseline (%(period)s): %(value)s",
                period=point["period"],
                value=cell(point["value"]),
            )
            if name == "baseline"
            else _(
                "Target (%(period)s): %(value)s",
                period=point["period"],
                value=cell(point["value"]),
            )
        )
        guides.append(Guide(text, float(point["value"]), dash=dash, colour=colour))
    return guides


def trend_svg(indicator: Any, figures: Sequence[Figure], progress: Mapping[str, Any]) -> str:
    """The total's trend with the baseline and target as an SVG; the "no data" chart when the
    total has no number (a standalone image must always be one)."""
    totals = _totals(figures)
    title = _("Trend of the total")
    if not totals:
        return no_data_svg(
            label=f"{indicator.code}: {title}",
            unit=indicator.unit_label,
            message=_("No figures for these periods yet."),
            chart_id=f"trend-{indicator.code}",
        )
    periods = _by_time(set(totals))
    return line_chart_svg(
        periods,
        [Series(_("Total"), [float(totals[p]) for p in periods], marker="circle", dash="")],
        label=f"{indicator.code}: {title}",
        unit=indicator.unit_label,
        guides=_guides(progress),
        chart_id=f"trend-{indicator.code}",
        number=chart_number,
        words=chart_words(),
    )


def trend_block(
    indicator: Any, figures: Sequence[Figure], progress: Mapping[str, Any]
) -> ChartBlock | None:
    """The total's trend with the baseline and target as labelled lines; None without a total.

    Yes/no figures have no trend line (None as well).
    """
    totals = _totals(figures)
    if not totals:
        return None
    periods = _by_time(set(totals))
    rows = [(p, [cell(totals[p])]) for p in periods]
    for guide_name, point in (
        (_("Baseline"), progress.get("baseline")),
        (_("Target"), progress.get("target")),
    ):
        if point:
            rows.append((f"{guide_name} ({point['period']})", [cell(point.get("value"))]))
    return ChartBlock(
        anchor="chart-trend",
        title=_("Trend of the total"),
        svg=_svg(trend_svg(indicator, figures, progress)),
        caption=_("Total by period, with the baseline and the target"),
        columns=[_("Period"), _("Total")],
        rows=rows,
    )


def _by_ground(figures: Sequence[Figure]) -> list[tuple[str, dict[str, dict[str, Decimal]]]]:
    """Each ground with numbers, and its figures as period → group → value."""
    triples = [(f.period, f.breakdown, f.value) for f in figures]
    grounds = [(ground, groups_by_period(triples, ground)) for ground in grounds_of(triples)]
    return [(ground, by_period) for ground, by_period in grounds if by_period]


def breakdown_blocks(
    indicator: Any, figures: Sequence[Figure], dimensions: Mapping[str, Any]
) -> list[ChartBlock]:
    """For each ground (a dimension broken down alone), one line per group, side by side."""
    blocks: list[ChartBlock] = []
    for ground, by_period in _by_ground(figures):
        periods = _by_time(set(by_period))
        order = {
            item.code: i for i, item in enumerate(getattr(dimensions.get(ground), "codes", []))
        }
        codes = sorted(
            {code for values in by_period.values() for code in values},
            key=lambda code: (order.get(code, len(order)), code),
        )
        names = [group_label(dimensions, ground, code) for code in codes]
        label = ground_label(dimensions, ground)
        title = _("By %(ground)s", ground=label)
        svg = line_chart_svg(
            periods,
            [
                Series(
                    name,
                    [
                        _number(by_period[p][code]) if code in by_period[p] else None
                        for p in periods
                    ],
                )
                for code, name in zip(codes, names, strict=True)
            ],
            label=f"{indicator.code}: {title}",
            unit=indicator.unit_label,
            chart_id=f"groups-{indicator.code}-{ground}",
            number=chart_number,
            words=chart_words(),
        )
        blocks.append(
            ChartBlock(
                anchor=f"chart-groups-{ground}",
                title=title,
                svg=_svg(svg),
                caption=_("%(ground)s: each group by period", ground=label),
                columns=[_("Period"), *names],
                rows=[(p, [cell(by_period[p].get(code)) for code in codes]) for p in periods],
            )
        )
    return blocks


def gap_trend_labels() -> dict[str, str]:
    """The trend of a gap in words (the rule is :mod:`node.equality`'s)."""
    return {
        "closing": _("Closing"),
        "widening": _("Widening"),
        "unchanged": _("Unchanged"),
        "mixed": _("Mixed"),
        "too_few": _("Too few periods to compare"),
        "not_assessed": _("Not judged (no better side)"),
    }


def _groups(dimensions: Mapping[str, Any], ground: str, codes: Sequence[str]) -> str:
    return ", ".join(group_label(dimensions, ground, code) for code in codes)


def gap_verdict(series: GapSeries, unit: str) -> str:
    """One sentence: the latest gap, what it is compared with, and the conclusion."""
    latest, previous, first = series.latest, series.previous, series.first
    if latest is None:
        return _("No period has figures for two groups or more.")
    said = _(
        "Latest gap: %(gap)s %(unit)s in %(period)s.",
        gap=gap_text(latest.gap),
        unit=unit,
        period=latest.period,
    )
    if series.trend == "not_assessed":
        return (
            said
            + " "
            + _("A context indicator has no better side: the spread is shown, not judged.")
        )
    if previous is None or first is None:
        return said + " " + _("There is no earlier period to compare it with.")
    compared = _(
        "Previous: %(previous)s in %(previous_period)s; first: %(first)s in %(first_period)s.",
        previous=gap_text(previous.gap),
        previous_period=previous.period,
        first=gap_text(first.gap),
        first_period=first.period,
    )
    return f"{said} {compared} {gap_trend_labels()[series.trend]}."


def gap_blocks(
    indicator: Any, figures: Sequence[Figure], dimensions: Mapping[str, Any]
) -> list[GapBlock]:
    """For each ground with a gap in at least one period: the gap over time, and its trend."""
    blocks: list[GapBlock] = []
    for ground, by_period in _by_ground(figures):
        series = gap_series(ground, by_period, indicator.direction)
        if not series.points:
            continue
        label = ground_label(dimensions, ground)
        judged = series.trend != "not_assessed"
        title = (
            _("Equality gap by %(ground)s", ground=label)
            if judged
            else _("Spread by %(ground)s", ground=label)
        )
        notes = [
            _(
                "best-off: %(best)s (%(best_value)s), worst-off: %(worst)s (%(worst_value)s)",
                best=_groups(dimensions, ground, p.best),
                best_value=cell(p.best_value),
                worst=_groups(dimensions, ground, p.worst),
                worst_value=cell(p.worst_value),
            )
            if judged
            else _(
                "highest %(high)s, lowest %(low)s",
                high=cell(p.best_value),
                low=cell(p.worst_value),
            )
            for p in series.points
        ]
        svg = bar_chart_svg(
            [(p.period, float(p.gap)) for p in series.points],
            label=f"{indicator.code}: {title}",
            unit=indicator.unit_label,
            notes=notes,
            chart_id=f"gap-{indicator.code}-{ground}",
            number=chart_number,
            words=chart_words(),
        )
        columns = (
            [_("Period"), _("Gap"), _("Best-off"), _("Worst-off"), _("Groups")]
            if judged
            else [_("Period"), _("Spread"), _("Highest"), _("Lowest"), _("Groups")]
        )
        rows = [
            (
                p.period,
                [
                    gap_text(p.gap),
                    f"{_groups(dimensions, ground, p.best)} ({cell(p.best_value)})"
                    if judged
                    else cell(p.best_value),
                    f"{_groups(dimensions, ground, p.worst)} ({cell(p.worst_value)})"
                    if judged
                    else cell(p.worst_value),
                    fast_number(Decimal(p.groups)),
                ],
            )
            for p in series.points
        ]
        chart = ChartBlock(
            anchor=f"chart-gap-{ground}",
            title=title,
            svg=_svg(svg),
            caption=_(
                "%(ground)s: the gap between the best- and worst-off groups by period", ground=label
            )
            if judged
            else _(
                "%(ground)s: the spread between the highest and lowest groups by period",
                ground=label,
            ),
            columns=columns,
            rows=rows,
        )
        blocks.append(
            GapBlock(chart, series, series.trend, gap_verdict(series, indicator.unit_label))
        )
    return blocks
