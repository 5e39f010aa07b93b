"""What the dashboard and the indicator pages read beyond progress: figures for charts, equality
gaps, which indicators have figures (through a local indicator too), and missing figures.

Built on :func:`node.services.monitoring.progress` (called, never rewritten) and on the pure
:mod:`node.equality`. Read-only: nothing here writes. Drafts never count; ``published_only``
(the public) sees published figures only, like everywhere else.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from node import disaggregation as disagg
from node.equality import GapSeries, gap_series
from node.models import Indicator, LatestResult, Result, ResultGroupCount
from node.services.results import single_dimension_numbers
from schemas.periods import parse_period

__all__ = [
    "Figure",
    "IndicatorGap",
    "MissingFigures",
    "dashboard_row",
    "dashboard_rows",
    "equality_gaps",
    "figures_for_charts",
    "link_mapped",
    "missing_for_period",
    "reporting_year",
]


@dataclass(frozen=True)
class Figure:
    """One counted figure: period, breakdown (dimension → code, empty for the total), value."""

    period: str
    breakdown: dict[str, str]
    value: Decimal | bool


@dataclass(frozen=True)
class IndicatorGap:
    """One ground's equality gap for one indicator (what the dashboard lists)."""

    indicator: str
    name: str
    unit: str
    series: GapSeries


def _statuses(published_only: bool) -> tuple[str, ...]:
    return ("published",) if published_only else ("validated", "published")


def _value(text: str) -> Decimal | bool:
    if text in ("true", "false"):
        return text == "true"
    return Decimal(text)


def _sorted_by_time(figures: Iterable[Figure]) -> list[Figure]:
    return sorted(
        figures,
        key=lambda f: (parse_period(f.period).sort_key, disagg.disaggregation_key(f.breakdown)),
    )


def figures_for_charts(session: Session, indicator: str, *, published_only: bool) -> list[Figure]:
    """Every counted figure of ``indicator`` (drafts never), oldest period first."""
    query = select(Result.period, Result.disaggregation_key, Result.value_text).where(
        Result.indicator_code == indicator, Result.status.in_(_statuses(published_only))
    )
    return _sorted_by_time(
        Figure(period, disagg.parse_key(key), _value(text))
        for period, key, text in session.execute(query)
    )


def _single_dimension_numbers(published_only: bool) -> list[Any]:
    """Conditions: counted figures of one breakdown dimension alone, numbers only (no yes/no)."""
    return single_dimension_numbers(_statuses(published_only))


def equality_gaps(
    session: Session,
    *,
    published_only: bool,
    indicator: str | None = None,
    indicators: Collection[str] | None = None,
) -> list[IndicatorGap]:
    """Each ground's equality gap, for every indicator (or ``indicator``, or the codes in
    ``indicators``), for the dashboard. An indicator's gaps depend on its own figures alone:
    those of a few indicators equal the full answer's gaps of the same indicators.

    The series holds the three periods the trend rule reads (:mod:`node.equality`): the first,
    the previous and the latest period with figures for two groups or more (fewer when there
    are fewer), so the trend is the one the indicator page shows from every period.

    Bounded work whatever the number of figures: the groups per (indicator, ground, period)
    are counted at each write (``results_group_counts``, kept equal to
    :func:`node.services.results.group_counts_query`), so only the periods with two groups or
    more are read here; the exact values are then read for the chosen periods only and
    compared as exact decimals (never as the database's floats).
    """
    conditions = _single_dimension_numbers(published_only)
    if indicator:
        conditions.append(Result.indicator_code == indicator)
    counts = select(
        ResultGroupCount.indicator_code, ResultGroupCount.ground, ResultGroupCount.period
    ).where(
        ResultGroupCount.scope == ("published" if published_only else "official"),
        ResultGroupCount.groups >= 2,
    )
    if indicator:
        counts = counts.where(ResultGroupCount.indicator_code == indicator)
    elif indicators is not None:
        counts = counts.where(ResultGroupCount.indicator_code.in_(sorted(indicators)))
    with_gap: dict[tuple[str, str], list[str]] = {}
    for code, dimension, period in session.execute(counts):
        with_gap.setdefault((code, dimension), []).append(period)
    sort_keys: dict[str, tuple[date, date]] = {}  # a few hundred periods, met thousands of times

    def sort_key(text: str) -> tuple[date, date]:
        found = sort_keys.get(text)
        if found is None:
            found = sort_keys[text] = parse_period(text).sort_key
        return found

    chosen: dict[str, set[str]] = {}
    for (code, _dimension), periods in with_gap.items():
        periods.sort(key=sort_key)
        chosen.setdefault(code, set()).update({periods[0], *periods[-2:]})
    if not chosen:
        return []
    # indicator → ground → period → group → value: what node.equality.groups_by_period gives
    # for each ground, built in one pass. The rows are single-dimension keys ("SEX=F") with
    # number values (the query's conditions), so the breakdown is the key split at its first
    # "=" (as disagg.parse_key splits it); as in groups_by_period, the total code is not a
    # group and only finite numbers have a size to compare.
    # Each indicator's chosen periods (the unique index serves each pair). PostgreSQL: one
    # query for up to 200 indicators (a round trip each cost ~60 ms for 25 at 1M); SQLite: one
    # query per indicator (no round trip, and its OR of index searches was twice as slow).
    grouped: dict[str, dict[str, dict[str, dict[str, Decimal]]]] = {code: {} for code in chosen}
    codes = sorted(chosen)
    step = 1 if session.get_bind().dialect.name == "sqlite" else 200
    for start in range(0, len(codes), step):
        query = select(
            Result.indicator_code, Result.period, Result.disaggregation_key, Result.value_text
        ).where(
            *conditions,
            or_(
                *(
                    and_(Result.indicator_code == code, Result.period.in_(sorted(chosen[code])))
                    for code in codes[start : start + step]
                )
            ),
        )
        for code, period, key, text in session.execute(query):
            dimension, _, group = key.partition("=")
            if group == disagg.TOTAL_CODE:
                continue
            number = Decimal(text)
            if not number.is_finite():
                continue
            grouped[code].setdefault(dimension, {}).setdefault(period, {})[group] = number
    indicators = {
        i.code: i
        for i in session.scalars(select(Indicator).where(Indicator.code.in_(sorted(chosen))))
    }
    out: list[IndicatorGap] = []
    for code, dimension in sorted(with_gap):
        info = indicators.get(code)
        if info is None:
            continue
        by_period = grouped[code].get(dimension, {})
        # Only the chosen periods of this ground (another ground's may have been read too).
        wanted = {with_gap[(code, dimension)][0], *with_gap[(code, dimension)][-2:]}
        series = gap_series(
            dimension, {p: v for p, v in by_period.items() if p in wanted}, info.direction
        )
        if series.points:
            out.append(IndicatorGap(code, info.name, info.unit_label, series))
    return out


def _latest_periods(row: dict[str, Any]) -> list[str]:
    """The distinct periods of the latest figures of a progress row (total and breakdowns)."""
    entries = [row, *row.get("breakdowns", [])]
    periods = {entry["latest"]["period"] for entry in entries if entry.get("latest")}
    return sorted(periods, key=lambda text: parse_period(text).sort_key)


def dashboard_rows(
    rows: Sequence[dict[str, Any]], indicators: Iterable[Indicator]
) -> list[dict[str, Any]]:
    """Progress rows (:func:`~node.services.monitoring.progress`) with what the dashboard says.

    Each row gains:

    - ``has_figures``: the total *or any breakdown* has a figure. An indicator reported only by
      breakdown (no total) has figures; it used to be listed "without figures".
    - ``latest_periods``: the distinct periods of its latest figures, total and breakdowns,
      oldest first; ``breakdown_periods`` those of the breakdowns alone. A breakdown's latest may
      be older than the total's: the page says so instead of implying one year for all.
    - ``via``: for a core indicator without figures of its own, the rows of the local
      indicators that map to it (``maps_to``) and have figures: the city does report on it,
      under its own indicator. Empty otherwise.
    """
    out = [dashboard_row(row) for row in rows]
    link_mapped(out, indicators)
    return out


def dashboard_row(row: dict[str, Any]) -> dict[str, Any]:
    """One progress row with ``has_figures``, ``latest_periods`` and ``breakdown_periods`` (see
    :func:`dashboard_rows`): what depends on the row alone, so it may be kept per indicator."""
    periods = _latest_periods(row)
    return {
        **row,
        "has_figures": bool(periods),
        "latest_periods": periods,
        "breakdown_periods": _latest_periods({"breakdowns": row.get("breakdowns", [])}),
    }


def link_mapped(rows: list[dict[str, Any]], indicators: Iterable[Indicator]) -> None:
    """Set each row's ``via`` (see :func:`dashboard_rows`) from the rows of
    :func:`dashboard_row`: the rows of the local indicators with figures mapped to it."""
    mapped: dict[str, list[str]] = {}
    for indicator in indicators:
        if indicator.maps_to:
            mapped.setdefault(indicator.maps_to, []).append(indicator.code)
    first: dict[str, dict[str, Any]] = {}  # one row per indicator; the first if ever more
    for row in rows:
        first.setdefault(row["indicator"], row)
    with_figures = {row["indicator"] for row in rows if row["has_figures"]}
    for row in rows:
        row["via"] = (
            []
            if row["has_figures"]
            else [
                first[local]
                for local in sorted(mapped.get(row["indicator"], []))
                if local in with_figures
            ]
        )


def reporting_year(now: datetime) -> int:
    """The year whose figures a city is expected to have by ``now``: the last full year."""
    return now.year - 1


@dataclass(frozen=True)
class MissingFigures:
    """An indicator reported before but not yet for the reporting year."""

    indicator: str
    name: str
    last_period: str


def missing_for_period(session: Session, *, now: datetime) -> tuple[int, list[MissingFigures]]:
    """(reporting year, indicators whose figures stop before it), in catalogue code order.

    The rule: an indicator that has validated or published figures (of the total or of any
    breakdown) but none for a period ending in the reporting year (:func:`reporting_year`) or
    later is missing its figures for the current period. Indicators that never had a figure are
    listed apart by the dashboard ("without figures"): nobody has started them.
    """
    year = reporting_year(now)
    latest: dict[str, str] = {}
    query = select(LatestResult.indicator_code, LatestResult.period).where(
        LatestResult.scope == "official"
    )
    for code, period in session.execute(query):
        current = latest.get(code)
        if current is None or parse_period(period) > parse_period(current):
            latest[code] = period
    names = {
        code: name
        for code, name in session.execute(
            select(Indicator.code, Indicator.name).where(Indicator.code.in_(latest))
        )
    }
    missing = [
        MissingFigures(code, names.get(code, code), period)
        for code, period in sorted(latest.items())
        if parse_period(period).end.year < year and code in names
    ]
    return year, missing
