"""Where the city stands: regional benchmarks received from the secretariat, with charts
(server-rendered SVG: the distribution with the city highlighted, the trend over periods)."""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from typing import Any

from flask import Blueprint, render_template, request
from markupsafe import Markup
from sqlalchemy import select

from node.models import Indicator
from node.runtime import db_session
from node.secretariat import charts, stats
from node.secretariat.models import ReceivedBenchmark
from schemas.periods import parse_period

# The templates live in the package (templates/secretariat/*.html); the blueprint keeps its
# name, so every url_for("benchmarks_web.…") still resolves.
bp = Blueprint("benchmarks_web", __name__, template_folder="templates")
log = logging.getLogger(__name__)


def _number(text: Any) -> float | None:
    """A received decimal string as a float, or None when it is not a finite number.

    The inbox validates benchmark numbers (schemas.secretariat), but rows stored before that
    rule, or by an older version, must still never crash the page: what cannot be read is
    left out of the chart.
    """
    try:
        value = float(str(text))
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _trusted_svg(svg: str) -> Markup:
    """Charts are drawn by node.secretariat.charts from numbers, and every text in them is
    escaped there (html.escape): safe to embed as markup."""
    return Markup(svg)  # noqa: S704


def _received(session: Any, indicator: str | None = None) -> list[ReceivedBenchmark]:
    query = select(ReceivedBenchmark)
    if indicator:
        query = query.where(ReceivedBenchmark.indicator == indicator)
    return list(session.scalars(query))


@bp.get("/benchmarks")
def benchmarks_page() -> Any:
    """The newest group of each (indicator, scope) received, optionally one region's only."""
    session = db_session()
    region = request.args.get("region") or None
    received = _received(session)
    scopes = sorted({row.scope for row in received}, key=lambda s: (s != "network", s))
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for row in received:
        if region is not None and row.scope != region:
            continue
        key = (row.indicator, row.scope)
        current = latest.get(key)
        if current is None or parse_period(row.period) > parse_period(current["period"]):
            latest[key] = row.group
    names = {i.code: i.name for i in session.scalars(select(Indicator))}
    rows = sorted(
        latest.values(), key=lambda g: (g["indicator"], g["scope"] != "network", g["scope"])
    )
    return render_template(
        "secretariat/benchmarks.html", rows=rows, names=names, scopes=scopes, region=region
    )


@bp.get("/benchmarks/<indicator>")
def benchmark_page(indicator: str) -> Any:
    session = db_session()
    ind = session.get(Indicator, indicator)
    label = ind.name if ind else indicator
    unit = ind.unit_label if ind else ""
    by_scope: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in _received(session, indicator):
        by_scope[row.scope].append(row.group)
    sections = []
    unreadable = 0
    for scope, groups in sorted(by_scope.items(), key=lambda kv: (kv[0] != "network", kv[0])):
        try:
            sections.append(_section(scope, groups, label, unit))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            # A malformed stored group (received before the inbox checked numbers) is left
            # out with a note on the page, never a 500.
            log.warning("benchmark %s/%s unreadable: %s", indicator, scope, exc)
            unreadable += 1
    return render_template(
        "secretariat/benchmark.html",
        indicator=indicator,
        label=label,
        unit=unit,
        sections=sections,
        unreadable=unreadable,
    )


def _section(scope: str, groups: list[dict[str, Any]], label: str, unit: str) -> dict[str, Any]:
    """One scope's charts and position, from the stored groups (oldest first after sorting)."""
    groups.sort(key=lambda g: parse_period(g["period"]).sort_key)
    newest = groups[-1]
    values = [v for v in map(_number, newest["distribution"]) if v is not None]
    group_stats = stats.group_stats(values, 1) if values else None
    position = newest.get("position") or {}
    mine = _number(position.get("value"))
    distribution = _trusted_svg(
        charts.distribution_svg(
            group_stats,
            mine,
            label=f"{label} — {newest['period']}, {scope}",
            unit=unit,
            direction=newest["direction"],
            chart_id=f"dist-{scope}",
        )
    )
    trend = _trusted_svg(
        charts.trend_svg(
            [
                (
                    g["period"],
                    _number((g.get("position") or {}).get("value")),
                    _number((g.get("stats") or {}).get("median")),
                )
                for g in groups
            ],
            label=f"{label}, {scope}",
            unit=unit,
            chart_id=f"trend-{scope}",
        )
    )
    return {
        "scope": scope,
        "newest": newest,
        "groups": groups,
        "distribution": distribution,
        "trend": trend,
    }
