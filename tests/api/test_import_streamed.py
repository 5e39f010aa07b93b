"""The streamed import (issue 14, fourth round) gives exactly what the whole-file definition gives.

``exchange.import_file`` reads a CSV upload row by row and checks and writes it in batches,
keeping of the whole file only one compact entry per figure and the first 500 errors. The plain
definition, written out here as the code was before (``plain_import``): read the file whole
(``read_table``), parse every row (``parse_own_layout``), check every figure
(``prepare_results``), plan every change (``plan_changes``) and only then write
(``import_results``). On random files, good and bad rows anywhere (first, middle, last batch),
random stored figures, users and options, both must give the same answer: the same stored
results, history lines and latest values, the same report, or the same refusal (class, code,
message, every row error with its row and code, counts) with nothing written.

Both databases: the ``app`` fixture runs every test on SQLite and (lane ``postgres``) PostgreSQL.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select

from node.errors import DomainError, InvalidInputError
from node.importing import TableError, parse_open_sdg, parse_own_layout, read_table
from node.models import LatestResult, Result, ResultChange, Target
from node.permissions import OPERATOR, Actor, allowed, require
from node.services import catalogue, exchange, results, users

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
LATER = T0 + timedelta(hours=1)
HEADER = ["indicator", "period", "value", "status", "source", "SEX"]
# HRC-HOU-01 and HRC-SOC-02 (a percentage) take SEX; HRC-GOV-01 is yes/no, totals only.
PERIODS = ["2020", "2021", "2022", "2021-Q4", "2022-Q1", "2022-01"]
SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


# --- the plain definition ----------------------------------------------------------------------


def plain_import(
    session: Any,
    filename: str,
    data: bytes,
    *,
    user: Actor | None,
    now: datetime,
    reason: str | None = None,
    confirm_outliers: bool = False,
    layout: str = "own",
    profile: dict[str, Any] | None = None,
) -> exchange.ImportReport:
    """The import as it was before streaming: every stage over the whole file."""
    require(user, "results.write")
    try:
        table = read_table(filename, data)
    except TableError as exc:
        raise InvalidInputError(
            f"The file cannot be read: {exc}",
            code="unreadable_file",
            errors=[{"row": None, "column": None, "message": str(exc)}],
        ) from exc
    view = catalogue.view(session)
    if layout == "own":
        outcome = parse_own_layout(table, view)
    else:
        outcome = parse_open_sdg(table, profile, view)
    row_errors = [
        {"row": e.row, "column": e.column, "message": e.message, "code": "unreadable_cell"}
        for e in outcome.errors
    ]
    may_validate = allowed(user, "results.validate")
    items = [parsed.item for parsed in outcome.rows]
    prepared, item_errors = results.prepare_results(items, view, may_validate=may_validate)
    row_numbers = [p.row for p in outcome.rows]
    row_errors += exchange._row_errors_from_items(item_errors, row_numbers)
    if row_errors:
        row_errors.sort(key=lambda e: (e["row"] or 0, e["column"] or ""))
        raise InvalidInputError(
            f"{len(row_errors)} problems in {filename}; nothing was imported.",
            code="import_rejected",
            errors=row_errors[: exchange.MAX_REPORTED_ERRORS],
            extra={
                "error_count": len(row_errors),
                "error_codes": sorted({e["code"] for e in row_errors}),
            },
        )
    reason = (reason or "").strip()[: results.MAX_REASON] or None
    plan, problems = results.plan_changes(
        session,
        prepared,
        view,
        may_validate=may_validate,
        reason=reason,
        confirm_outliers=confirm_outliers,
    )
    if problems:
        row_errors = exchange._row_errors_from_items(problems, row_numbers)
        codes = sorted({e["code"] for e in row_errors})
        counts = {kind: plan.count(kind) for kind in ("new", "changed", "unchanged")}
        detail = exchange._plan_detail(
            counts,
            sum(1 for p in problems.values() if "reason" in p),
            sum(1 for p in problems.values() if "value" in p),
            filename,
        )
        raise InvalidInputError(
            detail,
            code=codes[0] if len(codes) == 1 else "import_rejected",
            errors=row_errors[: exchange.MAX_REPORTED_ERRORS],
            extra={"error_count": len(row_errors), "error_codes": codes, **counts},
        )
    # The plainest write: one ORM row per figure (store_results), not the batched writer the
    # import uses (executemany on SQLite, COPY on PostgreSQL), so the property holds the batched
    # writes equal to it on both databases.
    results.store_results(session, plan, user=user, now=now)
    return exchange.ImportReport(
        imported=len(prepared),
        skipped=len(outcome.skipped),
        rows=len(outcome.rows) + len(outcome.skipped),
        new=plan.count("new"),
        changed=plan.count("changed"),
        unchanged=plan.count("unchanged"),
        affected_summaries=plan.affected_summaries(),
    )


# --- random files ------------------------------------------------------------------------------

# A row is good most of the time; otherwise it breaks one rule (a few break the table itself).
FAULTS = [
    "unknown indicator",
    "bad period",
    "not a number",
    "out of range",
    "bad status",
    "unknown code",
    "too few cells",
    "same figure again",
    "other value for a figure",
    "blank",
]


@st.composite
def good_row(draw: st.DrawFn) -> list[str]:
    code = draw(st.sampled_from(["HRC-HOU-01", "HRC-SOC-02", "HRC-GOV-01"]))
    if code == "HRC-GOV-01":
        value = draw(st.sampled_from(["true", "false", "yes", "0"]))
        sex = ""
    else:
        value = str(draw(st.decimals(0, 100, places=draw(st.sampled_from([0, 0, 0, 1, 2])))))
        sex = draw(st.sampled_from(["", "F", "M", "_T", "female"]))
    status = draw(st.sampled_from(["", "draft", "validated", "published", "Published"]))
    source = draw(st.sampled_from(["", "survey", "'=SUM(A1)"]))
    return [code, draw(st.sampled_from(PERIODS)), value, status, source, sex]


@st.composite
def file_rows(draw: st.DrawFn, max_size: int = 14) -> list[list[str]]:
    """Data rows (cells as text) with bad rows anywhere."""
    rows: list[list[str]] = []
    for _ in range(draw(st.integers(0, max_size))):
        row = draw(good_row())
        fault = draw(st.sampled_from([None] * 60 + FAULTS))
        if fault == "unknown indicator":
            row[0] = "HRC-NOPE-99"
        elif fault == "bad period":
            row[1] = draw(st.sampled_from(["2021-13", "", "last year"]))
        elif fault == "not a number":
            row[2] = draw(st.sampled_from(["abc", "", "1,5", "12%"]))
        elif fault == "out of range":
            row = ["HRC-SOC-02", row[1], "150", row[3], row[4], ""]
        elif fault == "bad status":
            row[3] = "final"
        elif fault == "unknown code":
            row = ["HRC-HOU-01", row[1], "1", row[3], row[4], "X9"]
        elif fault == "too few cells":
            row = row[:3]
        elif fault == "same figure again" and rows:
            row = list(draw(st.sampled_from(rows)))
        elif fault == "other value for a figure" and rows:
            first = draw(st.sampled_from(rows))
            row = [*first[:2], "99" if first[2] != "99" else "98", *first[3:]]
        elif fault == "blank":
            row = [""] * len(HEADER)
        rows.append(row)
    return rows


@st.composite
def stored_figures(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Figures already stored before the import (some vouched for: changing them needs a reason,
    and a collector may not)."""
    out: dict[tuple[str, str, str], dict[str, Any]] = {}
    for _ in range(draw(st.integers(0, 8))):
        code = draw(st.sampled_from(["HRC-HOU-01", "HRC-SOC-02", "HRC-GOV-01"]))
        sex = "" if code == "HRC-GOV-01" else draw(st.sampled_from(["", "F", "M"]))
        period = draw(st.sampled_from(PERIODS))
        value: Any = draw(st.booleans()) if code == "HRC-GOV-01" else str(draw(st.integers(0, 90)))
        out[(code, period, sex)] = {
            "indicator": code,
            "period": period,
            "disaggregation": {"SEX": sex} if sex else {},
            "value": value,
            "status": draw(st.sampled_from(["draft", "validated", "published"])),
            "reason": "set up",
            "confirm_outlier": True,
        }
    return list(out.values())


def as_csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    writer.writerows(rows)
    return out.getvalue().encode()


# --- comparing ---------------------------------------------------------------------------------


def _state(session: Any) -> dict[str, Any]:
    """Everything an import writes, without the database's ids (PostgreSQL sequences move on
    even when a transaction is rolled back)."""
    session.expire_all()
    stored = {
        row.id: (row.indicator_code, row.period, row.disaggregation_key)
        for row in session.execute(select(Result.__table__)).all()
    }
    return {
        "results": sorted(
            tuple(value for name, value in row._mapping.items() if name != "id")
            for row in session.execute(select(Result.__table__)).all()
        ),
        "history": sorted(
            (
                stored[row.result_id],
                *(
                    repr(value)
                    for name, value in row._mapping.items()
                    if name not in ("id", "result_id")
                ),
            )
            for row in session.execute(select(ResultChange.__table__)).all()
        ),
        "latest": sorted(
            tuple(row) for row in session.execute(select(LatestResult.__table__)).all()
        ),
    }


def _answer(run: Callable[[Any], Any], session: Any) -> tuple[Any, ...]:
    """(report or refusal, state after): a refusal must leave the session's data as it was."""
    before = _state(session)
    try:
        report = run(session)
    except DomainError as exc:
        assert _state(session) == before, "a refused import wrote something"
        refusal = (type(exc), exc.code, exc.status, exc.detail, exc.errors, exc.extra)
        return ("refused", refusal, before)
    session.flush()
    return ("imported", report, _state(session))


def _reset(db: Callable[[], Any], stored: list[dict[str, Any]]) -> None:
    with db() as session:
        for table in (ResultChange, LatestResult, Result, Target):
            session.execute(delete(table))
        results.record_results(session, stored, user=OPERATOR, now=T0)


def compare(
    db: Callable[[], Any],
    data: bytes,
    *,
    batch_size: int,
    user_email: str | None = None,
    reason: str | None = None,
    confirm_outliers: bool = False,
    layout: str = "own",
    profile: dict[str, Any] | None = None,
    keep_in_memory: int | None = None,
) -> tuple[Any, ...]:
    """Import ``data`` both ways from the same stored state; assert the same answer.

    ``keep_in_memory``: the streamed import's limit of figures held between its passes
    (beyond it they are spooled); by default its own."""
    answers = []
    for streamed in (False, True):
        with db() as session:
            user = users.find_user(session, user_email) if user_email else OPERATOR
            options = {"user": user, "now": LATER, "reason": reason}
            options.update(confirm_outliers=confirm_outliers, layout=layout, profile=profile)

            def run(session: Any, streamed: bool = streamed, options: Any = options) -> Any:
                if streamed:
                    return exchange.import_file(
                        session,
                        "f.csv",
                        io.BytesIO(data),
                        batch_size=batch_size,
                        keep_in_memory=keep_in_memory,
                        **options,
                    )
                return plain_import(session, "f.csv", data, **options)

            answers.append(_answer(run, session))
            session.rollback()
    plain, streamed_answer = answers
    assert streamed_answer == plain
    return plain


# --- the tests ---------------------------------------------------------------------------------


@SETTINGS
@given(
    stored=stored_figures(),
    rows=file_rows(),
    batch_size=st.integers(1, 6),
    as_collector=st.sampled_from([False, False, False, True]),
    reason=st.sampled_from([None, "corrected count"]),
    confirm_outliers=st.booleans(),
    keep_in_memory=st.sampled_from([None, 0, 1, 3, 6, 10]),
)
def test_the_streamed_import_gives_what_the_whole_file_definition_gives(
    app: Flask,
    db: Callable[[], Any],
    create_user: Any,
    stored: list[dict[str, Any]],
    rows: list[list[str]],
    batch_size: int,
    as_collector: bool,
    reason: str | None,
    confirm_outliers: bool,
    keep_in_memory: int | None,
) -> None:
    collector = create_user("data_collector").email if as_collector else None
    _reset(db, stored)
    answer = compare(
        db,
        as_csv(rows),
        batch_size=batch_size,
        user_email=collector,
        reason=reason,
        confirm_outliers=confirm_outliers,
        keep_in_memory=keep_in_memory,
    )
    event(answer[0] if answer[0] == "imported" else f"refused: {answer[1][1]}")
    if answer[0] == "refused":
        event("first error code: " + str((answer[1][4] or [{}])[0].get("code")))


BATCH = 4
GOOD = [
    ["HRC-HOU-01", period, str(value), "published", "", sex]
    for value, (period, sex) in enumerate(
        [(p, s) for p in ["2020", "2021", "2022"] for s in ["", "F", "M"]], start=10
    )
]


@pytest.mark.parametrize("count", [BATCH - 1, BATCH, BATCH + 1, 2 * BATCH + 1])
@pytest.mark.parametrize("bad_at", [None, "first", "middle", "last"])
def test_batch_edges(app: Flask, db: Callable[[], Any], count: int, bad_at: str | None) -> None:
    """Files of batch size - 1, =, + 1 figures (and one over two batches), a bad row (value out
    of the percentage's range) first, in the middle or last: the same answer both ways; a bad
    row anywhere writes nothing."""
    rows = [list(row) for row in GOOD[:count]]
    if bad_at is not None:
        at = {"first": 0, "middle": count // 2, "last": count - 1}[bad_at]
        rows[at] = ["HRC-SOC-02", "2020", "150", "published", "", ""]
    _reset(db, [])
    answer = compare(db, as_csv(rows), batch_size=BATCH)
    if bad_at is None:
        assert answer[0] == "imported" and answer[1].imported == count
        return
    kind, refusal, state = answer
    assert kind == "refused" and refusal[1] == "import_rejected"
    assert refusal[4] == [
        {
            "row": at + 2,  # the header is row 1
            "column": "value",
            "message": refusal[4][0]["message"],
            "code": "value_out_of_range",
        }
    ]
    assert state["results"] == [] and state["history"] == []


KEEP = 4


@pytest.mark.parametrize("count", [KEEP - 1, KEEP, KEEP + 1])
@pytest.mark.parametrize("refused_in_pass_2", [False, True])
def test_figures_kept_in_memory_or_spooled_give_the_same_answer(
    app: Flask, db: Callable[[], Any], count: int, refused_in_pass_2: bool
) -> None:
    """A file of at most ``keep_in_memory`` figures keeps them in memory between the passes,
    one more spools them all: one figure below, at and above the limit (batches of 2, so the
    edge falls inside a batch and at its end) give the whole-file definition's answer, also
    when the last figure is refused in pass 2 (a published figure changed without a reason)."""
    rows = [list(row) for row in GOOD[:count]]
    stored = []
    if refused_in_pass_2:
        stored = [
            {"indicator": "HRC-HOU-01", "period": "2023", "value": "1", "status": "published"}
        ]
        rows[-1] = ["HRC-HOU-01", "2023", "2", "published", "", ""]
    _reset(db, stored)
    kind, report, state = compare(db, as_csv(rows), batch_size=2, keep_in_memory=KEEP)
    if refused_in_pass_2:
        assert kind == "refused" and report[1] == "reason_required"
        assert [entry["row"] for entry in report[4]] == [count + 1]
        assert len(state["results"]) == 1 and len(state["history"]) == 1
    else:
        assert kind == "imported" and report.imported == count
        assert len(state["results"]) == count


def test_an_import_its_caller_rolls_back_leaves_nothing(app: Flask, db: Callable[[], Any]) -> None:
    """All or nothing is the caller's transaction: an import that succeeded, then rolled back by
    its caller (a later step of the same request failed), leaves nothing. On SQLite the driver
    opens no transaction before a SAVEPOINT, so an import that was the transaction's first
    write made its savepoint the transaction, and releasing it committed the import."""
    _reset(db, [])
    with db() as session:
        report = exchange.import_file(
            session, "f.csv", as_csv(GOOD[:3]), user=OPERATOR, now=LATER, batch_size=2
        )
        assert report.imported == 3
        session.rollback()
    with db() as session:
        assert _state(session)["results"] == []
        assert _state(session)["history"] == []


def test_two_imports_in_one_transaction_both_write(app: Flask, db: Callable[[], Any]) -> None:
    """Two imports updating the same figures in one transaction: the second writes over the
    first (on PostgreSQL both go through one scratch table of the transaction, emptied before
    and after each batch), each with its history lines."""
    stored = [
        {"indicator": "HRC-HOU-01", "period": period, "value": "10", "status": "draft"}
        for period in ("2020", "2021", "2022")
    ]
    _reset(db, stored)
    with db() as session:
        for value in ("11", "12"):
            rows = [
                ["HRC-HOU-01", period, value, "draft", "", ""]
                for period in ("2020", "2021", "2022")
            ]
            report = exchange.import_file(
                session,
                "f.csv",
                as_csv(rows),
                user=OPERATOR,
                now=LATER,
                batch_size=2,
                confirm_outliers=True,
            )
            assert (report.changed, report.new, report.unchanged) == (3, 0, 0)
        session.flush()
        stored_values = sorted(session.execute(select(Result.period, Result.value_text)).all())
        history = session.execute(
            select(ResultChange.old_value_text, ResultChange.new_value_text)
        ).all()
        session.rollback()
    assert stored_values == [("2020", "12"), ("2021", "12"), ("2022", "12")]
    lines = sorted((old or "", new) for old, new in history)
    assert lines == [("", "10")] * 3 + [("10", "11")] * 3 + [("11", "12")] * 3


@pytest.mark.parametrize(("count", "spooled"), [(KEEP - 1, False), (KEEP, False), (KEEP + 1, True)])
def test_the_spool_holds_at_most_its_limit_in_memory(count: int, spooled: bool) -> None:
    """The checked figures come back as they went in, in the same batches, from memory (at most
    the limit) or from the spool file (one more): values exact (``12.50`` keeps its zero, an
    exponent its exponent), yes/no values still booleans, breakdowns their canonical form."""
    values: list[Decimal | bool] = [
        Decimal("12.50"),
        Decimal("0.000"),
        True,
        Decimal("1E+2"),
        False,
    ]
    figures = [
        results.PreparedResult(
            "HRC-GOV-01" if isinstance(value, bool) else "HRC-HOU-01",
            str(2020 + index),
            "" if isinstance(value, bool) else "SEX=F",
            {} if isinstance(value, bool) else {"SEX": "F"},
            value,
            "published",
            index or None,
            "a source" if index % 2 else None,
            None,
            "a note",
            "why" if index == 1 else None,
            index == 2,
        )
        for index, value in enumerate(values[:count])
    ]
    batches = [
        (
            list(range(start + 2, start + 2 + len(figures[start : start + 2]))),
            figures[start : start + 2],
        )
        for start in range(0, count, 2)
    ]
    with exchange._PreparedSpool(KEEP) as spool:
        for rows, batch in batches:
            spool.add(rows, batch)
        assert spool.spooled is spooled
        back = list(spool.batches())
    assert back == batches
    for (_rows, batch), (_same_rows, kept) in zip(back, batches, strict=True):
        assert [(type(p.value), str(p.value)) for p in batch] == [
            (type(p.value), str(p.value)) for p in kept
        ]


@pytest.mark.parametrize("count", [BATCH - 1, BATCH, BATCH + 1])
def test_a_refusal_found_while_writing_leaves_nothing(
    app: Flask, db: Callable[[], Any], count: int
) -> None:
    """The last figure changes a published one without a reason: found in pass 2, after the
    earlier batches were written; the savepoint leaves nothing of them, even if the caller then
    commits its transaction."""
    _reset(db, [{"indicator": "HRC-HOU-01", "period": "2023", "value": "1", "status": "published"}])
    rows = [list(row) for row in GOOD[: count - 1]]
    rows.append(["HRC-HOU-01", "2023", "2", "published", "", ""])
    with db() as session, pytest.raises(InvalidInputError) as refused:
        exchange.import_file(session, "f.csv", as_csv(rows), user=OPERATOR, now=LATER, batch_size=1)
        # the caller commits what is left (nothing of the import)
    assert refused.value.code == "reason_required"
    assert refused.value.errors == [
        {
            "row": count + 1,
            "column": "reason",
            "message": refused.value.errors[0]["message"],
            "code": "reason_required",
        }
    ]
    with db() as session:
        assert [(r.period, r.value_text) for r in session.scalars(select(Result))] == [
            ("2023", "1")
        ]
        assert (
            session.scalars(select(ResultChange).where(ResultChange.changed_at == LATER)).all()
            == []
        )


def test_errors_beyond_the_reported_500_are_counted_and_the_first_500_kept(
    app: Flask, db: Callable[[], Any]
) -> None:
    """1,203 bad rows, spread over batches: error_count counts all, the first 500 (by row) are
    reported, as the whole-file refusal did."""
    rows = [["HRC-HOU-01", "2021-13", str(n), "", "", ""] for n in range(1_203)]
    _reset(db, [])
    kind, refusal, _state_after = compare(db, as_csv(rows), batch_size=100)
    assert kind == "refused"
    assert refusal[5]["error_count"] == 1_203
    assert [e["row"] for e in refusal[4]] == list(range(2, 502))


class _NoWholeRead(io.BytesIO):
    """An upload that refuses to be read whole: the streamed import must read it in parts."""

    def read(self, size: int | None = -1) -> bytes:
        assert size is not None and size >= 0, "the upload was read whole"
        return super().read(size)

    def read1(self, size: int = -1) -> bytes:
        assert size >= 0, "the upload was read whole"
        return super().read1(size)


def test_a_csv_upload_is_streamed_not_read_whole(app: Flask, db: Callable[[], Any]) -> None:
    rows = [list(row) for row in GOOD]
    _reset(db, [])
    with db() as session:
        report = exchange.import_file(
            session, "f.csv", _NoWholeRead(as_csv(rows)), user=OPERATOR, now=LATER, batch_size=2
        )
    assert (report.imported, report.new) == (len(GOOD), len(GOOD))


LOS_ANGELES = Path(__file__).parents[2] / "node" / "demo" / "los_angeles"
DATASET = Path(__file__).parents[3] / "shared" / "datasets" / "los-angeles-open-sdg"


@pytest.mark.skipif(not DATASET.is_dir(), reason="the shared Los Angeles data set is not here")
@pytest.mark.parametrize("batch_size", [1, 7, 5000])
def test_open_sdg_files_stream_to_the_same_answer(
    app: Flask, db: Callable[[], Any], batch_size: int
) -> None:
    """The six Los Angeles Open SDG files (repeated totals skipped, units mapped by profile),
    with and without confirming outliers: the same answers both ways."""
    _reset(db, [])
    with db() as session:
        additions = json.loads((LOS_ANGELES / "catalogue_additions.json").read_text())
        exchange.apply_catalogue_additions(session, additions, now=T0)
    for path in sorted(DATASET.glob("indicator_*.csv")):
        profile = json.loads((LOS_ANGELES / f"{path.stem}.json").read_text())
        for confirm in (False, True):
            answer = compare(
                db,
                path.read_bytes(),
                batch_size=batch_size,
                layout="open-sdg",
                profile=profile,
                confirm_outliers=confirm,
            )
            assert answer[0] == "imported" or not confirm  # the files are good once confirmed
            if answer[0] == "imported":
                assert answer[1].imported > 0
