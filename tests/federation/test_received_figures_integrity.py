"""A received figure always names a received summary, on both databases (issue 14).

SQLite keeps the foreign key ``received_figures.summary_id → received_summaries.id``
(``ON DELETE CASCADE``); on PostgreSQL migration 0021 replaced it by statement-level triggers
(the row-by-row check was 40 % of the server's work per received summary). The rule, the same
on both: a figure naming no summary is refused (the whole statement, nothing written); deleting
summaries deletes their figures and no other; a summary's id cannot change while figures name
it. Both databases through the ``app`` fixture.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import delete, func, insert, literal, select, text, update
from sqlalchemy.exc import IntegrityError

from node.network.models import InEnvelope, ReceivedFigure, ReceivedSummary
from tests.federation.test_inbox_cost import _envelope_row

NOW = datetime(2026, 12, 7, tzinfo=UTC)


def _summary(session: Any, seq: int) -> int:
    """A stored envelope and its summary; the summary's id."""
    envelope = _envelope_row(seq, NOW)
    session.add(envelope)
    session.flush()
    envelope_id = envelope.id
    return int(
        session.execute(
            insert(ReceivedSummary)
            .values(
                envelope_id=envelope_id,
                origin="gent",
                period=f"2025-{seq:02d}",
                revision=1,
                current=True,
                received_at=NOW,
            )
            .returning(ReceivedSummary.id)
        ).scalar_one()
    )


def _figures(summary_id: int, count: int) -> list[dict[str, Any]]:
    return [
        {"summary_id": summary_id, "indicator": "HRC-HOU-01", "disaggregation_key": f"D={i}",
         "value_text": str(i)}
        for i in range(count)
    ]  # fmt: skip


def _count(db: Callable[[], Any], summary_id: int | None = None) -> int:
    with db() as session:
        query = select(func.count()).select_from(ReceivedFigure)
        if summary_id is not None:
            query = query.where(ReceivedFigure.summary_id == summary_id)
        return int(session.scalar(query))


@pytest.fixture
def two_summaries(app: Flask, db: Callable[[], Any]) -> tuple[int, int]:
    with db() as session:
        first, second = _summary(session, 1), _summary(session, 2)
        session.execute(insert(ReceivedFigure), _figures(first, 3) + _figures(second, 2))
    return first, second


def test_a_figure_naming_no_summary_is_refused_with_its_whole_statement(
    db: Callable[[], Any], two_summaries: tuple[int, int]
) -> None:
    first, second = two_summaries
    missing = second + 1000
    # One statement: two good rows and a bad one; and a single bad row.
    for rows in (_figures(first, 2) + _figures(missing, 1), _figures(missing, 1)):
        with pytest.raises(IntegrityError), db() as session:
            session.execute(insert(ReceivedFigure), rows)
    # The multi-row form PostgreSQL's inbox uses (one INSERT … SELECT).
    with pytest.raises(IntegrityError), db() as session:
        session.execute(
            insert(ReceivedFigure).from_select(
                ["summary_id", "indicator", "disaggregation_key", "value_text"],
                select(ReceivedSummary.id + 1000, literal("X"), literal(""), literal("1")).where(
                    ReceivedSummary.id == first
                ),
            )
        )
    assert (_count(db), _count(db, first), _count(db, second)) == (5, 3, 2)


def test_a_figure_moved_to_no_summary_is_refused(
    db: Callable[[], Any], two_summaries: tuple[int, int]
) -> None:
    first, second = two_summaries
    with pytest.raises(IntegrityError), db() as session:
        session.execute(
            update(ReceivedFigure)
            .where(ReceivedFigure.summary_id == first)
            .values(summary_id=second + 1000)
        )
    with db() as session:  # to another summary that exists: allowed
        session.execute(
            update(ReceivedFigure)
            .where(ReceivedFigure.summary_id == second)
            .values(summary_id=first)
        )
    assert (_count(db, first), _count(db, second)) == (5, 0)


def test_deleting_a_summary_deletes_its_figures_and_no_other(
    db: Callable[[], Any], two_summaries: tuple[int, int]
) -> None:
    first, second = two_summaries
    with db() as session:
        session.execute(delete(ReceivedSummary).where(ReceivedSummary.id == first))
    assert (_count(db), _count(db, first), _count(db, second)) == (2, 0, 2)


def test_a_summary_named_by_figures_keeps_its_id(
    db: Callable[[], Any], two_summaries: tuple[int, int]
) -> None:
    first, second = two_summaries
    with pytest.raises(IntegrityError), db() as session:
        session.execute(
            update(ReceivedSummary).where(ReceivedSummary.id == first).values(id=second + 1000)
        )
    with db() as session:  # other columns change freely (the inbox marks revisions not current)
        session.execute(update(ReceivedSummary).values(current=False))
        empty = _summary(session, 3)
    with db() as session:  # a summary no figure names may take another id
        session.execute(
            update(ReceivedSummary).where(ReceivedSummary.id == empty).values(id=second + 2000)
        )
    assert (_count(db), _count(db, first), _count(db, second)) == (5, 3, 2)


def test_stored_envelopes_are_compressed_with_lz4_on_postgresql(
    app: Flask, db: Callable[[], Any]
) -> None:
    """Migration 0021: pglz's compression of the stored envelope was ~0.3 of the server's
    CPU-ms per received summary; lz4 where the server has it (this test's servers do)."""
    with db() as session:
        if session.get_bind().dialect.name != "postgresql":
            pytest.skip("a PostgreSQL column setting")
        method = session.execute(
            text(
                "SELECT attcompression FROM pg_attribute "
                "WHERE attrelid = 'in_envelopes'::regclass AND attname = 'raw'"
            )
        ).scalar_one()
        _summary(session, 1)
        session.execute(update(InEnvelope).values(raw='{"figures": "' + "x1" * 40_000 + '"}'))
        stored = session.execute(
            text("SELECT pg_column_compression(raw) FROM in_envelopes")
        ).scalar_one()
    assert (method, stored) == ("l", "lz4")
