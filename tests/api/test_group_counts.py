"""The equality gaps' maintained counts (``results_group_counts``, issue 14) equal their plain
definition after any sequence of writes, and the dashboard's gaps read from them equal the gaps
computed from the figures as before.

The plain definition, written here over the stored rows: for each audience (``published``:
published figures; ``official``: validated or published; drafts never), the figures broken down
by one dimension alone (a key ``"DIM=CODE"``: not the total, not a cross) whose value is a number
(not yes/no), counted per (indicator, period, dimension). The gaps' plain definition is the code
of ``equality_gaps`` before the counts were maintained (one aggregate query over ``results`` at
every cold dashboard), kept here as :func:`gaps_as_before`.

Both databases: the ``app`` fixture runs every test on SQLite and (lane ``postgres``) PostgreSQL.
"""

from __future__ import annotations

import csv
import importlib.util
import io
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, select, text

from node import disaggregation as disagg
from node.equality import gap_series, groups_by_period
from node.models import (
    Indicator,
    LatestResult,
    Result,
    ResultChange,
    ResultGroupCount,
    Target,
)
from node.permissions import OPERATOR
from node.services import exchange, overview, results
from schemas.periods import parse_period

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
# good_down with several grounds, good_up, a context indicator, a yes/no one without dimensions.
BREAKDOWNS: dict[str, list[dict[str, str]]] = {
    "HRC-HOU-01": [
        {},
        {"SEX": "F"},
        {"SEX": "M"},
        {"SEX": "X"},
        {"DISABILITY": "DIS"},
        {"DISABILITY": "NODIS"},
        {"SEX": "F", "DISABILITY": "DIS"},
        {"SEX": "M", "DISABILITY": "NODIS"},
    ],
    "HRC-SOC-02": [{}, {"SEX": "F"}, {"SEX": "M"}, {"MIGRANT_STATUS": "NAT"}],
    "HRC-EQU-01": [{}, {"SEX": "F"}, {"SEX": "M"}],
    "HRC-GOV-01": [{}],
}
COLUMNS = ["SEX", "DISABILITY", "MIGRANT_STATUS"]
PERIODS = ["2020", "2021", "2021-H2", "2021-Q4", "2021-12", "2022-01", "2022", "2023-07"]
STATUSES = ["draft", "validated", "published"]
SCOPES = {"published": ("published",), "official": ("validated", "published")}
SETTINGS = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@st.composite
def figures(draw: st.DrawFn, max_size: int = 20) -> list[dict[str, Any]]:
    """Distinct random figures (indicator, period, breakdown) with values and statuses."""
    out: dict[tuple[str, str, str], dict[str, Any]] = {}
    for _ in range(draw(st.integers(0, max_size))):
        code = draw(st.sampled_from(sorted(BREAKDOWNS)))
        breakdown = draw(st.sampled_from(BREAKDOWNS[code]))
        period = draw(st.sampled_from(PERIODS))
        value: Any
        if code == "HRC-GOV-01":
            value = draw(st.booleans())
        else:
            # 0-100 (HRC-SOC-02 is a percentage); few values, so equal groups (ties) happen.
            value = str(draw(st.decimals(0, 100, places=draw(st.integers(0, 1)))))
        out[(code, period, disagg.disaggregation_key(breakdown))] = {
            "indicator": code,
            "period": period,
            "disaggregation": breakdown,
            "value": value,
            "status": draw(st.sampled_from(STATUSES)),
            "reason": "revised",
            "confirm_outlier": True,
        }
    return list(out.values())


# One write of any kind: figures entered (new or corrected), a status change (of a period, an
# indicator, or everything), an import of a file.
operations = st.one_of(
    st.tuples(st.just("record"), figures()),
    st.tuples(
        st.just("status"),
        st.sampled_from(STATUSES),
        st.sampled_from([None, *PERIODS]),
        st.sampled_from([None, "HRC-HOU-01", "HRC-SOC-02"]),
    ),
    st.tuples(st.just("import"), figures(max_size=30)),
)


def _reset(db: Callable[[], Any]) -> None:
    with db() as session:
        for table in (ResultChange, LatestResult, ResultGroupCount, Result, Target):
            session.execute(delete(table))


def _csv(items: list[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["indicator", "period", "value", "status", *COLUMNS])
    for item in items:
        value = item["value"]
        writer.writerow(
            [
                item["indicator"],
                item["period"],
                ("true" if value else "false") if isinstance(value, bool) else value,
                item["status"],
                *(item["disaggregation"].get(column, "") for column in COLUMNS),
            ]
        )
    return out.getvalue().encode()


def _apply(session: Any, operation: tuple[Any, ...], now: datetime) -> None:
    kind = operation[0]
    if kind == "record":
        results.record_results(session, operation[1], user=OPERATOR, now=now)
    elif kind == "status":
        _, status, period, indicator = operation
        if period is None and indicator is None:
            indicator = "HRC-HOU-01"  # change_status asks for a period or an indicator
        results.change_status(
            session,
            status=status,
            user=OPERATOR,
            now=now,
            indicator=indicator,
            period=period,
            reason="revised",
        )
    else:
        exchange.import_file(
            session,
            "figures.csv",
            _csv(operation[1]),
            user=OPERATOR,
            now=now,
            reason="revised",
            confirm_outliers=True,
        )


# --- the plain definitions --------------------------------------------------------------------


def plain_counts(session: Any) -> dict[tuple[str, str, str, str], int]:
    """(indicator, period, scope, ground) → groups, from the stored figures, by the rule."""
    out: dict[tuple[str, str, str, str], int] = {}
    for row in session.scalars(select(Result)):
        key = row.disaggregation_key
        if not key or disagg.KEY_SEPARATOR in key or row.value_text in ("true", "false"):
            continue
        ground = key.split("=", 1)[0]
        for scope, statuses in SCOPES.items():
            if row.status in statuses:
                ident = (row.indicator_code, row.period, scope, ground)
                out[ident] = out.get(ident, 0) + 1
    return out


def stored_counts(session: Any) -> dict[tuple[str, str, str, str], int]:
    table = ResultGroupCount
    return {
        (code, period, scope, ground): groups
        for code, period, scope, ground, groups in session.execute(
            select(table.indicator_code, table.period, table.scope, table.ground, table.groups)
        )
    }


def gaps_as_before(
    session: Any, *, published_only: bool, indicator: str | None = None
) -> list[overview.IndicatorGap]:
    """``overview.equality_gaps`` as it was before the counts were maintained (c749649)."""
    statuses = ("published",) if published_only else ("validated", "published")
    conditions = results.single_dimension_numbers(statuses)
    if indicator:
        conditions.append(Result.indicator_code == indicator)
    position = (
        func.instr(Result.disaggregation_key, "=")
        if session.get_bind().dialect.name == "sqlite"
        else func.strpos(Result.disaggregation_key, "=")
    )
    ground = func.substr(Result.disaggregation_key, 1, position - 1)
    counts = session.execute(
        select(Result.indicator_code, ground, Result.period, func.count())
        .where(*conditions)
        .group_by(Result.indicator_code, ground, Result.period)
    ).all()
    with_gap: dict[tuple[str, str], list[str]] = {}
    for code, dimension, period, groups in counts:
        if groups >= 2:
            with_gap.setdefault((code, dimension), []).append(period)
    chosen: dict[str, set[str]] = {}
    for (code, _dimension), periods in with_gap.items():
        periods.sort(key=lambda p: parse_period(p).sort_key)
        chosen.setdefault(code, set()).update({periods[0], *periods[-2:]})
    figures_by_code: dict[str, list[tuple[str, dict[str, str], Any]]] = {}
    for code, wanted in sorted(chosen.items()):
        query = select(Result.period, Result.disaggregation_key, Result.value_text).where(
            *conditions, Result.indicator_code == code, Result.period.in_(sorted(wanted))
        )
        figures_by_code[code] = [
            (
                period,
                disagg.parse_key(key),
                (value == "true") if value in ("true", "false") else Decimal(value),
            )
            for period, key, value in session.execute(query)
        ]
    indicators = {i.code: i for i in session.scalars(select(Indicator))}
    out = []
    for code, dimension in sorted(with_gap):
        info = indicators.get(code)
        if info is None:
            continue
        by_period = groups_by_period(figures_by_code[code], dimension)
        wanted = {with_gap[(code, dimension)][0], *with_gap[(code, dimension)][-2:]}
        series = gap_series(
            dimension, {p: v for p, v in by_period.items() if p in wanted}, info.direction
        )
        if series.points:
            out.append(overview.IndicatorGap(code, info.name, info.unit_label, series))
    return out


def _check(session: Any) -> None:
    assert stored_counts(session) == plain_counts(session)
    for published_only in (True, False):
        for indicator in (None, "HRC-HOU-01", "HRC-GOV-01"):
            assert overview.equality_gaps(
                session, published_only=published_only, indicator=indicator
            ) == gaps_as_before(session, published_only=published_only, indicator=indicator)


# --- the tests --------------------------------------------------------------------------------


@SETTINGS
@given(
    writes=st.lists(operations, min_size=1, max_size=5),
    recount_limit=st.sampled_from([0, 1, 60]),
    batch=st.sampled_from([3, 5000]),
)
def test_group_counts_and_gaps_equal_the_plain_definitions_after_any_writes(
    app: Flask,
    db: Callable[[], Any],
    monkeypatch: pytest.MonkeyPatch,
    writes: list[tuple[Any, ...]],
    recount_limit: int,
    batch: int,
) -> None:
    # Both ways of recounting: whole indicators (0, 1) or one (indicator, period) at a time.
    monkeypatch.setattr(results, "_RECOUNT_LIMIT", recount_limit)
    monkeypatch.setattr(results, "IMPORT_BATCH", batch)  # an import in several batches, or one
    _reset(db)
    moment = T0
    for operation in writes:
        moment += timedelta(minutes=1)
        try:
            with db() as session:
                _apply(session, operation, moment)
        except Exception as exc:  # noqa: BLE001 - a refused write must leave the counts exact
            assert getattr(exc, "status", None) in (400, 404, 409, 422), exc
        with db() as session:
            _check(session)


def test_a_cold_dashboard_reads_the_counts_not_every_figure(
    app: Flask, db: Callable[[], Any]
) -> None:
    """The attack of issue 14: every first dashboard after a write counted the groups of every
    single-dimension figure. The counts are now kept at each write: emptied behind the
    services' back, the gaps are empty although the figures would give one."""
    _reset(db)
    items = [
        {
            "indicator": "HRC-HOU-01",
            "period": period,
            "disaggregation": {"SEX": sex},
            "value": value,
            "status": "published",
        }
        for period, sex, value in [
            ("2021", "F", "10"),
            ("2021", "M", "14"),
            ("2022", "F", "11"),
            ("2022", "M", "13"),
        ]
    ]
    with db() as session:
        results.record_results(session, items, user=OPERATOR, now=T0)
    with db() as session:
        assert stored_counts(session) == {
            ("HRC-HOU-01", period, scope, "SEX"): 2
            for period in ("2021", "2022")
            for scope in SCOPES
        }
        [gap] = overview.equality_gaps(session, published_only=True)
        assert (gap.indicator, gap.series.ground, gap.series.trend) == (
            "HRC-HOU-01",
            "SEX",
            "closing",
        )
        assert [p.gap for p in gap.series.points] == [Decimal(4), Decimal(2)]
    with db() as session:
        session.execute(delete(ResultGroupCount))
    with db() as session:
        assert overview.equality_gaps(session, published_only=True) == []
        assert gaps_as_before(session, published_only=True) != []


@pytest.mark.parametrize("threshold", ["below", "at", "above"])
def test_a_recount_of_many_periods_rebuilds_the_indicator_at_the_limit(
    app: Flask, db: Callable[[], Any], monkeypatch: pytest.MonkeyPatch, threshold: str
) -> None:
    """Periods to recount ≤ the limit: one query per period; above it: the whole indicator.
    Either way the counts are exact (a figure of an untouched period is counted too)."""
    limit = len(PERIODS) - 1
    monkeypatch.setattr(results, "_RECOUNT_LIMIT", limit)
    _reset(db)
    touched = {"below": limit - 1, "at": limit, "above": limit + 1}[threshold]
    items = [
        {
            "indicator": "HRC-HOU-01",
            "period": period,
            "disaggregation": {"SEX": sex},
            "value": "12",
            "status": "validated",
        }
        for period in PERIODS[:touched]
        for sex in ("F", "M")
    ]
    with db() as session:
        results.record_results(session, items, user=OPERATOR, now=T0)
        # Behind the services' back: a count no write made, in a period the write touches.
        session.execute(
            text(
                "UPDATE results_group_counts SET groups = 7 WHERE period = :period AND "
                "scope = 'official'"
            ),
            {"period": PERIODS[0]},
        )
    with db() as session:
        results.change_status(
            session,
            status="published",
            user=OPERATOR,
            now=T0 + timedelta(minutes=1),
            indicator="HRC-HOU-01",
        )
    with db() as session:
        assert stored_counts(session) == plain_counts(session)
        assert len(plain_counts(session)) == 2 * touched


def test_the_migration_fills_the_counts_of_an_existing_node(
    app: Flask, db: Callable[[], Any]
) -> None:
    """0019 fills ``results_group_counts`` with the same definition, on either database."""
    path = Path(results.__file__).parents[1] / "migrations" / "versions" / "0019_group_counts.py"
    spec = importlib.util.spec_from_file_location("migration_0019", path)
    assert spec is not None and spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    _reset(db)
    items = [
        {
            "indicator": code,
            "period": period,
            "disaggregation": breakdown,
            "value": True if code == "HRC-GOV-01" else str(10 + number),
            "status": STATUSES[number % 3],
            "reason": "revised",
            "confirm_outlier": True,
        }
        for code, breakdowns in sorted(BREAKDOWNS.items())
        for number, breakdown in enumerate(breakdowns)
        for period in PERIODS[:3]
    ]
    with db() as session:
        results.record_results(session, items, user=OPERATOR, now=T0)
        expected = plain_counts(session)
        assert stored_counts(session) == expected
        session.execute(delete(ResultGroupCount))
        position = "instr" if session.get_bind().dialect.name == "sqlite" else "strpos"
        for scope, statuses in (
            ("'published'", "('published')"),
            ("'official'", "('validated', 'published')"),
        ):
            session.execute(
                text(migration.FILL.format(scope=scope, statuses=statuses, position=position))
            )
    with db() as session:
        assert stored_counts(session) == expected
