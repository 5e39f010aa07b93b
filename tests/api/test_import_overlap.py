"""The import's two passes run together on PostgreSQL when every outlier is confirmed (issue 14,
eighth round), and the answer stays the one the whole-file definition gives.

``exchange._passes_together``: with ``confirm_outliers`` no batch's plan needs the rest of the
file, so on PostgreSQL each batch is planned and written as soon as it is checked, its UPDATE
left running on the server (``results.BatchWriter(overlap=True)``) while Python reads the next
batch. What must hold: batch k is written before row k+1 is read there, and only there; an error
of the file found after batches were written still leaves nothing; an UPDATE that fails on the
server is raised as SQLAlchemy raises it, and nothing is left either. The property test in
``test_import_streamed`` compares the whole answer with the plain definition on random files
(``confirm_outliers`` drawn) on both databases. Both databases through the ``app`` fixture.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from hypothesis import event, given
from hypothesis import strategies as st
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from node.models import Result, ResultChange
from node.permissions import OPERATOR
from node.services import exchange, results
from tests.api.test_import_streamed import (
    GOOD,
    LATER,
    SETTINGS,
    _reset,
    _state,
    as_csv,
    compare,
)
from tests.conftest import NodeHandle

STORED = [
    {"indicator": "HRC-HOU-01", "period": row[1], "value": "1", "status": "published"}
    for row in GOOD
    if row[5] == ""
]


class Spy:
    """How many figures the parser handed on (``_StreamCollector.add``), in all and at each
    ``BatchWriter.write``."""

    def __init__(self) -> None:
        self.read = 0
        self.writes: list[int] = []


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> Iterator[Spy]:
    seen = Spy()
    add, write = exchange._StreamCollector.add, results.BatchWriter.write

    def counting_add(self: Any, *args: Any, **kwargs: Any) -> None:
        seen.read += 1
        add(self, *args, **kwargs)

    def spying_write(self: Any, changes: Any) -> None:
        seen.writes.append(seen.read)
        write(self, changes)

    monkeypatch.setattr(exchange._StreamCollector, "add", counting_add)
    monkeypatch.setattr(results.BatchWriter, "write", spying_write)
    yield seen


def _import(session: Any, rows: list[list[str]], **options: Any) -> exchange.ImportReport:
    """The operator's import of ``rows`` (a reason given for the published figures)."""
    return exchange.import_file(
        session, "f.csv", as_csv(rows), user=OPERATOR, now=LATER, reason="corrected", **options
    )


@pytest.mark.parametrize("confirm", [False, True])
def test_each_batch_is_written_before_the_next_is_read_on_postgresql(
    node: NodeHandle, db: Callable[[], Any], spy: Spy, confirm: bool
) -> None:
    _reset(db, STORED)
    rows = [list(row) for row in GOOD[:5]]  # in period order
    with db() as session:
        report = _import(session, rows, confirm_outliers=confirm, batch_size=2)
    assert report.imported == 5
    assert spy.read == 5  # read once
    if node.backend == "postgresql":
        assert spy.writes == [2, 4, 5]  # batches of two, each written as soon as it is full
    else:
        assert spy.writes == [5, 5, 5]  # every row read and checked first


# HRC-HOU-01 is a number of households: more than FACTOR (2) times the previous period's value
# is an outlier. Its totals for 2021 and 2022, none stored.
TEN = ["HRC-HOU-01", "2021", "10", "published", "", ""]
THOUSAND = ["HRC-HOU-01", "2022", "1000", "published", "", ""]
FILLER = [["HRC-HOU-01", "2020", "9", "published", "", sex] for sex in ("F", "M")]


@pytest.mark.parametrize(
    ("rows", "read_again"),
    [
        ([TEN, *FILLER, THOUSAND], False),  # 2021 read (and checked) before 2022
        ([THOUSAND, FILLER[0], TEN, FILLER[1]], True),  # 2022's batch checked before 2021
        ([FILLER[0], THOUSAND, TEN, FILLER[1]], True),  # 2021 the next row, but next batch
        ([THOUSAND, *FILLER, TEN], True),  # 2021 in a batch begun before it
        ([THOUSAND, TEN, *FILLER], False),  # after, but in the same batch (batches of two)
        ([*FILLER, THOUSAND, TEN], False),  # the same, in the last batch
    ],
)
def test_a_previous_period_given_after_its_successor_was_checked_reads_the_file_again(
    node: NodeHandle,
    db: Callable[[], Any],
    spy: Spy,
    rows: list[list[str]],
    read_again: bool,
) -> None:
    """Without confirmation the outlier check compares 2022 with the file's 2021 wherever the
    file gives it (the plain definition): refused. Where 2021 comes after 2022's batch was
    checked, PostgreSQL's import reads the file again the plain way, and only then."""
    _reset(db, [])
    answer = compare(db, as_csv(rows), batch_size=2)
    assert answer[0] == "refused"
    assert answer[1][1] == "outlier_unconfirmed"
    assert [error["row"] for error in answer[1][4]] == [rows.index(THOUSAND) + 2]
    assert spy.read == len(rows) * (2 if read_again and node.backend == "postgresql" else 1)
    with db() as session:
        assert _lines_at(session, LATER) == []


@pytest.mark.parametrize("bad_at", [0, 2, 4, 5])
def test_an_error_of_the_file_after_batches_were_written_leaves_nothing(
    node: NodeHandle, db: Callable[[], Any], spy: Spy, bad_at: int
) -> None:
    """A row the checks refuse, first, at a batch's edge, in the last batch (and a figure the
    file gives twice, last): the refusal is the whole-file definition's, nothing is written,
    even where earlier batches were already sent to the server."""
    _reset(db, STORED)
    rows = [list(row) for row in GOOD[:6]]
    if bad_at == 5:
        rows.append([*rows[0][:2], "99", *rows[0][3:]])  # the first figure again, another value
    else:
        rows[bad_at][2] = "not a number"
    answer = compare(db, as_csv(rows), batch_size=2, reason="corrected", confirm_outliers=True)
    assert answer[0] == "refused"
    refusal = answer[1]
    assert refusal[1] == "import_rejected"
    assert [error["row"] for error in refusal[4]] == [(bad_at if bad_at < 5 else 6) + 2]
    # The batches before the bad row's were written (and undone) where the passes run together.
    bad_row_batch = (bad_at if bad_at < 5 else 6) // 2
    assert len(spy.writes) == (bad_row_batch if node.backend == "postgresql" else 0)
    with db() as session:
        assert _state(session) == answer[2]
        assert _lines_at(session, LATER) == []


@pytest.mark.parametrize(
    "node", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
def test_an_update_the_server_refuses_is_raised_and_leaves_nothing(
    node: NodeHandle, db: Callable[[], Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The UPDATE of the second batch fails on the server (a trigger refuses one value) while
    Python reads the third: the import raises SQLAlchemy's error for it (as in line), no figure
    changes, and the caller's session goes on."""
    assert node.backend == "postgresql"  # the overlap is PostgreSQL's
    _reset(db, STORED)
    with db() as session:
        session.execute(
            text(
                "CREATE FUNCTION refuse_77() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                "IF NEW.value_text = '77' THEN RAISE EXCEPTION 'seventy-seven refused'; END IF; "
                "RETURN NEW; END $$"
            )
        )
        session.execute(
            text(
                "CREATE TRIGGER refuse_77 BEFORE UPDATE ON results "
                "FOR EACH ROW EXECUTE FUNCTION refuse_77()"
            )
        )
    rows = [list(row) for row in GOOD if row[5] == ""]  # the three stored figures
    rows[1][2] = "77"
    before = _published(db)
    raised = {}
    # First the passes one after the other (as on SQLite), each UPDATE run in line, so
    # SQLAlchemy raises its error for it; then together, the UPDATE left running.
    for together in (False, True):
        monkeypatch.setattr(exchange, "_passes_together", lambda *_args, on=together: on)
        with db() as session:
            with pytest.raises(DBAPIError) as refused:
                _import(session, rows, confirm_outliers=True, batch_size=1)
            raised[together] = refused.value
            # The savepoint's rollback left the caller's transaction usable.
            assert session.scalar(select(Result.id).limit(1)) is not None
        assert _published(db) == before
    assert "seventy-seven refused" in str(raised[True])
    assert type(raised[True]) is type(raised[False])
    assert type(raised[True].orig) is type(raised[False].orig)
    with db() as session:
        assert _lines_at(session, LATER) == []


def _lines_at(session: Any, moment: Any) -> list[ResultChange]:
    return list(session.scalars(select(ResultChange).where(ResultChange.changed_at == moment)))


def _published(db: Callable[[], Any]) -> list[tuple[str, str, str]]:
    with db() as session:
        return sorted(
            (row.period, row.disaggregation_key, row.value_text)
            for row in session.scalars(select(Result))
        )


def test_a_locked_figure_found_early_waits_for_the_errors_of_the_whole_file(
    app: Flask, db: Callable[[], Any], create_user: Any
) -> None:
    """A collector changes a published figure in the first batch (``result_locked``) and the
    last row is unreadable: the file's own errors come first, as in the plain definition (the
    passes running together must not raise the refusal of the first batch before the rest of
    the file is read)."""
    _reset(db, STORED)
    collector = create_user("data_collector").email
    rows = [[*row[:3], "draft", *row[4:]] for row in GOOD[:5]]  # a collector's drafts
    rows[4][2] = "abc"
    refused = compare(db, as_csv(rows), batch_size=1, user_email=collector, confirm_outliers=True)
    assert refused[0] == "refused"
    assert refused[1][1] == "import_rejected"
    rows[4][2] = "9"
    locked = compare(db, as_csv(rows), batch_size=1, user_email=collector, confirm_outliers=True)
    assert locked[0] == "refused"
    assert locked[1][1] == "result_locked"


# One breakdown's yearly and quarterly figures: every period's previous period is in the set but
# the first of each kind, and values a factor of ten apart make outliers of most neighbours.
ORDER_PERIODS = ["2019", "2020", "2021", "2022", "2021-Q3", "2021-Q4", "2022-Q1", "2022-Q2"]


@SETTINGS
@given(
    order=st.permutations(range(len(ORDER_PERIODS))),
    values=st.lists(
        st.sampled_from(["1", "10", "12", "100"]),
        min_size=len(ORDER_PERIODS),
        max_size=len(ORDER_PERIODS),
    ),
    stored=st.lists(st.sampled_from(ORDER_PERIODS), max_size=3, unique=True),
    batch_size=st.integers(1, 4),
)
def test_any_order_gives_the_whole_file_definitions_outliers(
    app: Flask,
    db: Callable[[], Any],
    order: list[int],
    values: list[str],
    stored: list[str],
    batch_size: int,
) -> None:
    """Files in every order (periods before, after and among their successors' batches), no
    outlier confirmed: the same refusal or import as the plain definition, on both databases
    (on PostgreSQL the passes run together and read the file again when they must)."""
    _reset(
        db,
        [
            {"indicator": "HRC-HOU-01", "period": period, "value": "10", "status": "draft"}
            for period in stored
        ],
    )
    rows = [["HRC-HOU-01", ORDER_PERIODS[i], values[i], "draft", "", ""] for i in order]
    answer = compare(db, as_csv(rows), batch_size=batch_size)
    event(answer[0] if answer[0] == "imported" else f"refused: {answer[1][1]}")
