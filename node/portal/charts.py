"""The portal's charts of one indicator: the total's trend against its baseline and target, and
each ground's equality gap, drawn by the core kit (:mod:`node.charts`, :mod:`node.equality`).

Only published figures reach here (the caller reads them with ``published_only=True``). Words
are translated here; numbers go through the page's ``number`` filter (the visitor's language).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from flask import current_app
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
from node.equality import GapBlock, gap_series, grounds_of, groups_by_period
from node.services.overview import Figure
from schemas.periods import parse_period

__all__ = ["ChartBlock", "GapBlock", "cell", "gap_blocks", "trend_block", "trend_svg"]


def _format(value: Any) -> str:
    return str(current_app.jinja_env.filters["number"](value))


def chart_number(value: float) -> str:
    """A chart's number: 4 significant digits, written the page language's way."""
    return _format(plain_number(value))


def _words() -> ChartWords:
    return ChartWords(no_data=_("no data"), nothing_to_draw=_("No figures for these periods yet."))


def _svg(svg: str) -> Markup:
    """node.charts escapes every text it is given: its output is safe markup."""
    return Markup(svg)  # noqa: S704


def cell(value: Decimal | bool | None) -> str:
    """A figure as a table cell, in the page's language."""
    if value is None:
        return "\N{EN DASH}"
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    return _format(value)


def _by_time(periods: set[str]) -> list[str]:
    return sorted(periods, key=lambda text: parse_period(text).sort_key)


def _guides(progress: Mapping[str, Any]) -> list[Guide]:
    guides = []
    for name, colour, dash in (("baseline", "#4b5563", "2 3"), ("target", "#047857", "8 4")):
        point = progress.get(name)
        if not point or point.get("value") is None or isinstance(point.get("value"), bool):
            continue
        if name == "baseline":
            text = _(
                "Baseline (%(period)s): %(value)s",
                period=point["period"],
                value=cell(point["value"]),
            )
        else:
            text = _(
                "Target (%(period)s): %(value)s", period=point["period"], value=cell(point["value"])
            )
        guides.append(Guide(text, float(point["value"]), dash=dash, colour=colour))
    return guides


def trend_svg(indicator: Any, figures: Sequence[Figure], progress: Mapping[str, Any]) -> str:
    """The SVG of the total's trend with baseline and target (a "no data" chart without one)."""
    totals = {
        f.period: f.value for f in figures if not f.breakdown and not isinstance(f.value, bool)
    }
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
        words=_words(),
    )


def trend_block(
    indicator: Any, figures: Sequence[Figure], progress: Mapping[str, Any]
) -> ChartBlock | None:
    """The total's trend and its table; None when the total has no published number."""
    totals = {
        f.period: f.value for f in figures if not f.breakdown and not isinstance(f.value, bool)
    }
    if not totals:
        return None
    periods = _by_time(set(totals))
    rows = [(p, [cell(totals[p])]) for p in periods]
    for label, point in (
        (_("Baseline"), progress.get("baseline")),
        (_("Target"), progress.get("target")),
    ):
        if point:
            rows.append((f"{label} ({point['period']})", [cell(point.get("value"))]))
    return ChartBlock(
        anchor="chart-trend",
        title=_("Trend of the total"),
        svg=_svg(trend_svg(indicator, figures, progress)),
        caption=_("Total by period, with the baseline and the target"),
        columns=[_("Period"), _("Total")],
        rows=rows,
    )


def _trend_labels() -> dict[str, str]:
    return {
        "closing": _("Closing"),
        "widening": _("Widening"),
        "unchanged": _("Unchanged"),
        "mixed": _("Mixed"),
        "too_few": _("Too few periods to compare"),
        "not_assessed": _("Not judged (no better side)"),
    }


def _gap_text(value: Decimal) -> str:
    trimmed = (
        value.quantize(Decimal(1)) if value == value.to_integral_value() else value.normalize()
    )
    return cell(trimmed)


def gap_blocks(
    indicator: Any, figures: Sequence[Figure], dimensions: Mapping[str, Any]
) -> list[GapBlock]:
    """For each ground with a gap in at least one published period: its chart, table and trend."""
    triples = [(f.period, f.breakdown, f.value) for f in figures]
    blocks = []
    for ground in grounds_of(triples):
        series = gap_series(ground, groups_by_period(triples, ground), indicator.direction)
        if not series.points:
            continue
        dim = dimensions.get(ground)
        label = str(dim.label).split(" (")[0] if dim is not None else ground
        title = _("Equality gap by %(ground)s", ground=label)
        svg = bar_chart_svg(
            [(p.period, float(p.gap)) for p in series.points],
            label=f"{indicator.code}: {title}",
            unit=indicator.unit_label,
            chart_id=f"gap-{indicator.code}-{ground}",
            number=chart_number,
            words=_words(),
        )
        latest = series.latest
        verdict = (
            _("Latest gap: %(gap)s %(unit)s in %(period)s.", gap=_gap_text(latest.gap),
              unit=indicator.unit_label, period=latest.period)
            if latest is not None
            else ""
        )  # fmt: skip
        chart = ChartBlock(
            anchor=f"chart-gap-{ground}",
            title=title,
            svg=_svg(svg),
            caption=_(
                "%(ground)s: the gap between the best- and worst-off groups by period", ground=label
            ),
            columns=[_("Period"), _("Gap")],
            rows=[(p.period, [_gap_text(p.gap)]) for p in series.points],
        )
        blocks.append(
            GapBlock(chart, series, series.trend, f"{verdict} {_trend_labels()[series.trend]}.")
        )
    return blocks
