"""The set-based statements of issue 14's sixth round give what the plain definitions give.

On PostgreSQL, ``results._stored_figures`` reads the stored figures of many identities with one
join against the identities sent as JSON, ``results.refresh_latest`` refreshes many breakdowns'
latest rows with three statements, and the import's COPY writes JSON columns as their text once.
SQLite keeps its own statements. Both databases run every test here (the ``app`` fixture), and
each answer is computed from the rule (the rows as the ORM reads them), not from the code.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask
from sqlalchemy import Text, cast, delete, select

from node.models import LatestResult, Result, ResultChange, Target
from node.permissions import OPERATOR
from node.services import exchange, results
from schemas.periods import parse_period
from tests.api.test_import_streamed import HEADER, as_csv

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
LATER = T0 + timedelta(hours=1)

STORED = [
    {"indicator": "HRC-HOU-01", "period": "2020", "value": "10", "status": "published"},
    {"indicator": "HRC-HOU-01", "period": "2021", "value": "11", "status": "validated"},
    {"indicator": "HRC-HOU-01", "period": "2022", "value": "12", "status": "draft"},
    {
        "indicator": "HRC-HOU-01",
        "period": "2021",
        "value": "21",
        "status": "published",
        "disaggregation": {"SEX": "F"},
    },
    {
        "indicator": "HRC-HOU-01",
        "period": "2022-Q1",
        "value": "22",
        "status": "draft",
        "disaggregation": {"SEX": "M"},
    },
    {"indicator": "HRC-GOV-01", "period": "2021", "value": True, "status": "published"},
]


def _reset(db: Callable[[], Any]) -> None:
    with db() as session:
        for table in (ResultChange, LatestResult, Result, Target):
            session.execute(delete(table))
        results.record_results(session, STORED, user=OPERATOR, now=T0)


def _rows(session: Any) -> list[Result]:
    session.expire_all()
    return list(session.scalars(select(Result)))


def test_stored_figures_are_exactly_the_identities_that_exist(
    app: Flask, db: Callable[[], Any]
) -> None:
    """Existing, missing (another period, breakdown, indicator), repeated, non-ASCII identities
    and one whose text looks like a JSON escape: the answer holds every existing one once, with
    its row's id, status and value text, and nothing else."""
    _reset(db)
    with db() as session:
        rows = _rows(session)
        by_identity = {(r.indicator_code, r.period, r.disaggregation_key): r for r in rows}
        existing = sorted(by_identity)
        missing = [
            ("HRC-HOU-01", "2019", ""),
            ("HRC-HOU-01", "2021", "SEX=M"),
            ("HRC-SOC-02", "2021", ""),
            ("HRC-HOU-01", "2021", "SEX=É"),
            ("HRC-HOU-01", '20"21', "\\"),
        ]
        for asked in (
            existing + missing + existing[:2],
            missing,
            existing[1:2],
            [],
            [*existing, ("HRC-HOU-01", "2021", "\\u0000")],
        ):
            found = results._stored_figures(session, asked)
            wanted = {identity for identity in asked if identity in by_identity}
            assert set(found) == wanted
            for identity, row in found.items():
                stored = by_identity[identity]
                assert (row.id, row.status, row.value_text) == (
                    stored.id,
                    stored.status,
                    stored.value_text,
                )


def _latest_by_rule(rows: list[Result]) -> set[tuple[str, str, str, str, str]]:
    """``results_latest`` as its definition says: per breakdown and scope, the figure of the
    scope's statuses whose period ends last (then starts last)."""
    out = set()
    for scope, statuses in results.LATEST_SCOPES.items():
        newest: dict[tuple[str, str], Result] = {}
        for row in rows:
            if row.status not in statuses:
                continue
            pair = (row.indicator_code, row.disaggregation_key)
            seen = newest.get(pair)
            if seen is None or (row.period_end, row.period_start) > (
                seen.period_end,
                seen.period_start,
            ):
                newest[pair] = row
        out |= {(c, scope, k, r.period, r.value_text) for (c, k), r in newest.items()}
    return out


def _latest(session: Any) -> set[tuple[str, str, str, str, str]]:
    return {
        tuple(row)
        for row in session.execute(
            select(
                LatestResult.indicator_code,
                LatestResult.scope,
                LatestResult.disaggregation_key,
                LatestResult.period,
                LatestResult.value_text,
            )
        )
    }


def test_refresh_latest_gives_the_definition_for_the_pairs_asked_and_leaves_the_others(
    app: Flask, db: Callable[[], Any]
) -> None:
    """Rows changed behind ``results_latest``'s back (a newer period published, a figure back
    to draft so a scope loses it, a breakdown emptied of vouched figures): refreshing some
    pairs gives exactly the definition for them, the other pairs keep their rows, and a pair
    with no figure at all is simply absent."""
    _reset(db)
    with db() as session:
        before = _latest(session)
        assert before == _latest_by_rule(_rows(session))
        total = session.scalars(
            select(Result).where(Result.indicator_code == "HRC-HOU-01", Result.period == "2022")
        ).one()
        total.status = "published"  # newer than 2020 for both scopes
        female = session.scalars(select(Result).where(Result.disaggregation_key == "SEX=F")).one()
        female.status = "draft"  # the breakdown loses both scopes
        start, end = parse_period("2023").start, parse_period("2023").end
        session.add(
            Result(
                indicator_code="HRC-HOU-01",
                period="2023",
                period_start=start,
                period_end=end,
                disaggregation_key="SEX=M",
                disaggregation={"SEX": "M"},
                value_text="23",
                status="validated",
                entered_at=T0,
                updated_at=T0,
            )
        )
        session.flush()
        asked = {("HRC-HOU-01", ""), ("HRC-HOU-01", "SEX=F"), ("HRC-HOU-01", "SEX=M")}
        results.refresh_latest(session, [*asked, ("HRC-HOU-01", "SEX=X")])
        after = _latest(session)
        rule = _latest_by_rule(_rows(session))
        assert {row for row in after if row[::2][:2] in asked} == {
            row for row in rule if row[::2][:2] in asked
        }
        assert {row for row in after if row[::2][:2] not in asked} == {
            row for row in before if row[::2][:2] not in asked
        }
        assert not any(row[2] == "SEX=F" for row in after)
        assert ("HRC-HOU-01", "official", "SEX=M", "2023", "23") in after
        session.rollback()


def test_the_import_writes_json_columns_as_the_orm_writes_them(
    app: Flask, db: Callable[[], Any]
) -> None:
    """The batched import (COPY on PostgreSQL) stores a breakdown and an empty list of
    affected summaries as the same JSON text as the ORM's row-by-row write of the same
    figures (JSON ``null``, not SQL NULL; the breakdown's object)."""
    assert HEADER[-1] == "SEX"
    rows = [
        ["HRC-HOU-01", "2024", "5", "draft", "", "F"],
        ["HRC-HOU-01", "2025", "6", "draft", "", ""],
    ]

    def written(session: Any) -> list[tuple[Any, ...]]:
        session.expire_all()
        return sorted(
            tuple(row)
            for row in session.execute(
                select(
                    Result.period,
                    cast(Result.disaggregation, Text),
                    cast(ResultChange.affected_summaries, Text),
                    ResultChange.affected_summaries.is_(None),
                ).join(ResultChange, ResultChange.result_id == Result.id)
            )
        )

    with db() as session:
        for table in (ResultChange, LatestResult, Result, Target):
            session.execute(delete(table))
        report = exchange.import_file(
            session, "f.csv", as_csv(rows), user=OPERATOR, now=LATER, confirm_outliers=True
        )
        assert report.imported == 2
        imported = written(session)
        session.rollback()
    with db() as session:
        for table in (ResultChange, LatestResult, Result, Target):
            session.execute(delete(table))
        results.record_results(
            session,
            [
                {
                    "indicator": "HRC-HOU-01",
                    "period": "2024",
                    "value": "5",
                    "status": "draft",
                    "disaggregation": {"SEX": "F"},
                },
                {"indicator": "HRC-HOU-01", "period": "2025", "value": "6", "status": "draft"},
            ],
            user=OPERATOR,
            now=LATER,
        )
        plain = written(session)
        session.rollback()
    assert imported == plain
    assert len(imported) == 2


def test_the_import_writes_one_history_line_per_new_or_changed_figure_only(
    app: Flask, db: Callable[[], Any]
) -> None:
    """A file with an unchanged, a changed and a new figure, in batches of 2 (on PostgreSQL
    the changed figures' lines are written by their UPDATE's statement): one line for the
    changed figure (old and new value and status, the reason, the operator) and one for the
    new one, none for the unchanged figure, which is still rewritten (its ``updated_at``)."""
    with db() as session:
        for table in (ResultChange, LatestResult, Result, Target):
            session.execute(delete(table))
        results.record_results(
            session,
            [
                {"indicator": "HRC-HOU-01", "period": "2020", "value": "10", "status": "draft"},
                {"indicator": "HRC-HOU-01", "period": "2021", "value": "11", "status": "draft"},
            ],
            user=OPERATOR,
            now=T0,
        )
    rows = [
        ["HRC-HOU-01", "2020", "10", "draft", "", ""],
        ["HRC-HOU-01", "2021", "15", "validated", "", ""],
        ["HRC-HOU-01", "2022", "13", "draft", "", ""],
    ]
    with db() as session:
        report = exchange.import_file(
            session,
            "f.csv",
            as_csv(rows),
            user=OPERATOR,
            now=LATER,
            reason="fix",
            confirm_outliers=True,
            batch_size=2,
        )
        assert (report.unchanged, report.changed, report.new) == (1, 1, 1)
        session.flush()
        session.expire_all()
        lines = sorted(
            (
                period,
                line.old_value_text,
                line.new_value_text,
                line.old_status,
                line.new_status,
                line.reason,
                line.changed_by,
                line.changed_by_id,
                line.affected_summaries,
            )
            for line, period in session.execute(
                select(ResultChange, Result.period)
                .join(Result, Result.id == ResultChange.result_id)
                .where(ResultChange.changed_at == LATER)
            ).all()
        )
        rewritten = session.scalars(select(Result).where(Result.period == "2020")).one()
        assert rewritten.updated_at == LATER
        session.rollback()
    assert lines == [
        ("2021", "11", "15", "draft", "validated", "fix", "operator", None, None),
        ("2022", None, "13", None, "draft", "fix", "operator", None, None),
    ]
