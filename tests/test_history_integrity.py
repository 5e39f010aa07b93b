"""A figure's history line always names a figure, on both databases (issue 14).

SQLite keeps the foreign key ``result_changes.result_id → results.id`` (``ON DELETE
CASCADE``); on PostgreSQL migration 0023 replaced it by triggers (its row-by-row check was
~0.4 server CPU-s of an import of 100,000 figures). The rule, the same on both: a line naming no
figure is refused with its whole statement (nothing written); deleting figures deletes their
history and no other; a figure's id cannot change while lines name it, and the import's
updates of values and statuses pass. Both databases through the ``app`` fixture.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from node.models import Result, ResultChange
from node.permissions import OPERATOR
from node.services import results
from tests.api.test_group_counts import T0, _reset

FIGURES = [
    {"indicator": "HRC-HOU-01", "period": period, "value": "7", "status": "validated"}
    for period in ("2021", "2022")
]


def _lines(db: Callable[[], Any], result_id: int | None = None) -> int:
    with db() as session:
        query = select(func.count()).select_from(ResultChange)
        if result_id is not None:
            query = query.where(ResultChange.result_id == result_id)
        return int(session.scalar(query))


@pytest.fixture
def two_figures(app: Flask, db: Callable[[], Any]) -> tuple[int, int]:
    """Two figures with one history line each (their creation)."""
    _reset(db)
    with db() as session:
        rows = results.record_results(session, FIGURES, user=OPERATOR, now=T0)
        return rows[0].id, rows[1].id


def _line(result_id: int) -> dict[str, Any]:
    return {
        "result_id": result_id,
        "changed_at": T0,
        "changed_by": "operator",
        "new_value_text": "1",
        "new_status": "draft",
    }


def test_a_line_naming_no_figure_is_refused_with_its_whole_statement(
    db: Callable[[], Any], two_figures: tuple[int, int]
) -> None:
    first, second = two_figures
    missing = max(first, second) + 1000
    for lines in ([_line(first), _line(missing)], [_line(missing)]):
        with pytest.raises(IntegrityError), db() as session:
            session.execute(insert(ResultChange), lines)
    with pytest.raises(IntegrityError), db() as session:
        session.execute(
            update(ResultChange).where(ResultChange.result_id == first).values(result_id=missing)
        )
    assert (_lines(db), _lines(db, first), _lines(db, second)) == (2, 1, 1)


def test_deleting_a_figure_deletes_its_history_and_no_other(
    db: Callable[[], Any], two_figures: tuple[int, int]
) -> None:
    first, second = two_figures
    with db() as session:
        session.execute(delete(Result).where(Result.id == first))
    assert (_lines(db), _lines(db, first), _lines(db, second)) == (1, 0, 1)


def test_a_figure_with_history_keeps_its_id_and_its_values_still_change(
    db: Callable[[], Any], two_figures: tuple[int, int]
) -> None:
    first, second = two_figures
    with pytest.raises(IntegrityError), db() as session:
        session.execute(update(Result).where(Result.id == first).values(id=first + 1000))
    with db() as session:  # what an import and a status change write
        session.execute(update(Result).values(value_text="8", status="published"))
        session.execute(update(Result).where(Result.id == second).values(id=second))  # same id
    with db() as session:
        results.change_status(
            session, status="draft", user=OPERATOR, now=T0, indicator="HRC-HOU-01", reason="x"
        )
    assert (_lines(db), _lines(db, first), _lines(db, second)) == (4, 2, 2)
