"""Import and export of results, and catalogue additions from a file.

Parsing and rendering are pure (``node.importing``, ``node.exporting``); this module adds the
database: it builds the catalogue view, checks every row with the same rules as the API
(:func:`node.services.results.prepare_results`) and writes all rows or none.
"""

from __future__ import annotations

import gc
import io
import pickle
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from operator import itemgetter
from typing import Any, BinaryIO, cast

from marshmallow import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from node import disaggregation as disagg
from node.catalogue_view import CatalogueView
from node.config import NodeConfig
from node.errors import InvalidInputError, PermissionDeniedError
from node.exporting import sdmx, tabular
from node.importing import (
    ParseOutcome,
    ProfileError,
    RowError,
    Table,
    TableError,
    TableRow,
    open_table,
    parse_open_sdg,
    parse_own_layout,
)
from node.importing.own_layout import OutcomeCollector
from node.models import LatestResult, Result
from node.permissions import Actor, allowed, require
from node.refusals import Problem
from node.services import catalogue, results
from schemas.catalogue import DimensionCodeSchema, DimensionSchema, IndicatorSchema
from schemas.fields import parse_decimal
from schemas.periods import PeriodError, parse_period

LAYOUTS = ("own", "open-sdg")
EXPORT_FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "sdmx-json": "application/vnd.sdmx.data+json; version=2.1.0",
}
MAX_REPORTED_ERRORS = 500
# An import of at most this many figures keeps its checked figures in memory between its two
# passes (about 0.4 kB each: 41 MB measured for 100,000); a larger file spools them all.
IMPORT_IN_MEMORY = 100_000


@dataclass
class ImportReport:
    """What an import did: ``imported`` figures written, of which ``new``, ``changed`` (value or
    status) and ``unchanged``; ``affected_summaries``: signed summaries that carried a changed
    validated or published figure (the next publication of their period corrects them)."""

    imported: int
    skipped: int
    rows: int
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    affected_summaries: list[dict[str, Any]] = field(default_factory=list)


def _row_errors_from_items(
    errors: dict[int, dict[str, list[str]]], row_numbers: list[int]
) -> list[dict[str, Any]]:
    out = []
    for index, columns in sorted(errors.items()):
        for column, messages in columns.items():
            out.append(
                {
                    "row": row_numbers[index],
                    "column": column,
                    # One message stays itself (a coded Problem a page translates; the same text
                    # in JSON), several are joined.
                    "message": messages[0] if len(messages) == 1 else "; ".join(map(str, messages)),
                    # The rule's code (value_out_of_range, reason_required, outlier_unconfirmed…)
                    "code": getattr(messages[0], "code", "validation_failed")
                    if messages
                    else "validation_failed",
                }
            )
    return out


def import_file(
    session: Session,
    filename: str,
    data: bytes | BinaryIO,
    *,
    layout: str = "own",
    profile: dict[str, Any] | None = None,
    indicator: str | None = None,
    user: Actor | None,
    now: datetime,
    reason: str | None = None,
    confirm_outliers: bool = False,
    batch_size: int | None = None,
    keep_in_memory: int | None = None,
) -> ImportReport:
    """Import a CSV or XLSX file; any bad row → 422 with every row error, nothing written.

    Rows are checked as the API checks figures, then against the stored ones: changing a
    validated or published figure needs ``reason`` (422 ``reason_required`` lists the rows), a
    value far from the previous period's needs ``confirm_outliers`` (422
    ``outlier_unconfirmed`` lists the rows). Every row error carries its rule's ``code``.

    ``data``: the file's bytes, or a binary file (an upload spooled to disk): a CSV file is
    streamed, never held whole. The import runs in two passes of ``batch_size`` figures
    (default ``results.IMPORT_BATCH``):
    the first parses and checks every row (nothing written; the figures checked are kept in
    memory when there are at most ``keep_in_memory`` of them, default ``IMPORT_IN_MEMORY``,
    else they go to a spool file), the second plans and writes batch by batch inside a
    savepoint, undone at the first refusal. On PostgreSQL the two passes run together (each
    batch planned and written as soon as it is checked, the server updating it while the next
    is read: :func:`_passes_together`), and a file that gives a previous period after its
    following period's batch was checked is read again the plain way. What is kept of the
    whole file is one compact entry per figure (its identity, row and value: the duplicate
    check, and the previous period's value for the outlier check) and at most
    ``MAX_REPORTED_ERRORS`` errors. The answer (stored rows, errors with their rows and codes,
    counts) is the one the whole-file definition gives (property-tested with small batches).
    """
    require(user, "results.write")
    if layout not in LAYOUTS:
        raise InvalidInputError(
            f"Unknown layout '{layout}'; use one of {', '.join(LAYOUTS)}.",
            errors={"layout": [f"one of {', '.join(LAYOUTS)}"]},
        )
    batch_size = results.IMPORT_BATCH if batch_size is None else batch_size
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    keep_in_memory = IMPORT_IN_MEMORY if keep_in_memory is None else keep_in_memory
    source, owned = _seekable(data)
    options: dict[str, Any] = {
        "layout": layout,
        "profile": profile,
        "indicator": indicator,
        "user": user,
        "now": now,
        "reason": reason,
        "confirm_outliers": confirm_outliers,
        "batch_size": batch_size,
        "keep_in_memory": keep_in_memory,
    }
    try:
        with _cyclic_gc_paused():
            try:
                return _import_stream(
                    session, filename, source, together=_passes_together(session), **options
                )
            except _ReadAgain:
                # A figure came after its following period's figure had been checked: that
                # outlier check could not see it. The batches written were undone with the
                # savepoint; the file is read again from its start (open_table seeks there),
                # checked whole before anything is planned.
                return _import_stream(session, filename, source, together=False, **options)
    finally:
        if owned:
            source.close()


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for the duration of one import.

    An import allocates a few objects per figure and frees them as it goes (by reference
    counting: its figures, rows and batches hold no reference cycles), but each allocation
    counts towards the collector's thresholds, and every full collection walks every live
    object: a quarter of a 100,000-row import's CPU time went to collections that found
    nothing to free. Restored as it was on the way out, whatever happens; memory stays bounded
    (only cycles would wait, and the next collection after the import frees them).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _seekable(data: bytes | BinaryIO) -> tuple[BinaryIO, bool]:
    """The upload as a seekable binary file, and whether it is ours to close."""
    if isinstance(data, bytes | bytearray | memoryview):
        return io.BytesIO(bytes(data)), True
    if getattr(data, "seekable", None) is not None and data.seekable():
        return data, False
    copy = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)  # noqa: SIM115 - closed by caller
    shutil.copyfileobj(data, copy)
    return cast(BinaryIO, copy), True


# Spooled files (a copied upload, the checked figures) stay in memory up to this size.
_SPOOL_IN_MEMORY = 32 * 1024 * 1024


def _unreadable(exc: TableError) -> InvalidInputError:
    """The file refused whole: the table's English reason (the API's detail, unchanged) and,
    for pages, its rule (``variant``) and the values it quotes, so a page shows the whole
    sentence in the reader's language (``unreadable_file:<variant>``)."""
    return InvalidInputError(
        f"The file cannot be read: {exc}",
        code="unreadable_file",
        # The message itself (a coded Problem, the same text in JSON): the page's list too.
        errors=[{"row": None, "column": None, "message": exc.message}],
        params=getattr(exc.message, "params", None),
        variant=getattr(exc.message, "variant", None),
    )


def _import_stream(
    session: Session,
    filename: str,
    source: BinaryIO,
    *,
    layout: str,
    profile: dict[str, Any] | None,
    indicator: str | None,
    user: Actor | None,
    now: datetime,
    reason: str | None,
    confirm_outliers: bool,
    batch_size: int,
    keep_in_memory: int,
    together: bool,
) -> ImportReport:
    """Read, check and write the file (see :func:`import_file`). ``together``: plan and write
    each batch as soon as it is checked (:func:`_passes_together`); raises :class:`_ReadAgain`
    when the answer could then differ from the whole-file definition's."""
    try:
        stream = open_table(filename, source)
    except TableError as exc:
        raise _unreadable(exc) from exc
    view = catalogue.view(session)
    may_validate = allowed(user, "results.validate")
    errors = _ErrorSink(MAX_REPORTED_ERRORS, sort=True)
    figures = FileFigures()
    spool = _PreparedSpool(keep_in_memory)
    cache = results.PrepareCache()
    reason = (reason or "").strip()[: results.MAX_REASON] or None
    writes: _PlannedWrites | None = None

    def check(batch: list[tuple[int, dict[str, Any]]]) -> None:
        """Pass 1 for one batch: the rules of prepare_results; the good figures spooled (or
        planned and written at once when the passes run together)."""
        rows = [row for row, _item in batch]
        prepared, item_errors = results.prepare_results(
            [item for _row, item in batch], view, may_validate=may_validate, cache=cache
        )
        for entry in _row_errors_from_items(item_errors, rows):
            errors.add(entry)
        if errors.count:  # once the file is refused, nothing of it will be written
            return
        if writes is None:
            spool.add(rows, prepared)
        else:
            writes.add(rows, prepared)

    def writing(*, overlap: bool) -> AbstractContextManager[_PlannedWrites]:
        return _writing(
            session,
            figures,
            view,
            overlap=overlap,
            user=user,
            now=now,
            may_validate=may_validate,
            reason=reason,
            confirm_outliers=confirm_outliers,
        )

    collector = _StreamCollector(figures, errors, check, batch_size)
    with ExitStack() as leaving:
        leaving.callback(stream.close)
        leaving.enter_context(spool)
        if together:
            if not confirm_outliers:
                collector.watch_order()
            writes = leaving.enter_context(writing(overlap=True))
        rows_read = stream.rows(collector.table_error)
        table = Table(
            header=stream.header,
            rows=cast(list[TableRow], rows_read),
            errors=[],
            header_row=stream.header_row,
        )
        try:
            _parse(table, layout, profile, view, indicator, collector)
            for _row in rows_read:  # a layout refused by its header: the table's errors
                pass
        except TableError as exc:
            raise _unreadable(exc) from exc
        collector.flush()
        if errors.count:
            raise InvalidInputError(
                f"{errors.count} problems in {filename}; nothing was imported.",
                code="import_rejected",
                errors=errors.entries(),
                extra={"error_count": errors.count, "error_codes": sorted(errors.codes)},
            )
        if writes is not None:
            if writes.refusal is None and collector.read_after_its_successor:
                raise _ReadAgain
            return writes.finish(filename, collector.skipped_count)
        # Pass 2 after pass 1: the checked figures planned and written batch by batch.
        with writing(overlap=False) as writes:
            for rows, batch in spool.batches():
                if writes.refusal is not None:
                    break
                writes.add(rows, batch)
            return writes.finish(filename, collector.skipped_count)
    raise AssertionError("unreachable")  # pragma: no cover - the block returns or raises


def _passes_together(session: Session) -> bool:
    """Whether the import plans and writes each batch as soon as it is checked (issue 14,
    eighth round) instead of after the whole file is checked.

    The answer is the same either way. The file's own errors still refuse it whole (the batches
    written are undone with the savepoint). A batch's plan needs the rest of the file only for
    the outlier check, which compares a figure with the file's value for its previous period
    when the file gives one: files list periods in order, so that figure was read before; when
    one comes after its following period's figure was checked (a file in reverse order), and
    outliers are not all confirmed, the import reads the file again the plain way
    (:class:`_ReadAgain`). Only on PostgreSQL: there the server updates batch k while Python
    reads batch k+1 (``BatchWriter(overlap=True)``); SQLite runs in this process, so there is
    nothing to overlap, and its one write lock would be held for the whole file's reading.
    """
    return session.get_bind().dialect.name == "postgresql"


class _ReadAgain(Exception):  # noqa: N818 - a signal, not an error anyone sees
    """The passes ran together and an outlier check may have missed the file's value of a
    previous period (given after): read the file again, the passes one after the other."""


def _parse(
    table: Table,
    layout: str,
    profile: dict[str, Any] | None,
    view: CatalogueView,
    indicator: str | None,
    collector: _StreamCollector,
) -> None:
    """Run the layout's parser over the streamed rows, figures and errors into ``collector``."""
    if layout == "own":
        parse_own_layout(table, view, collector)
        return
    if profile is None and indicator is None:
        raise InvalidInputError(
            "An Open SDG file needs an import profile or an indicator code.",
            errors={
                "profile": [
                    Problem("give a profile or an indicator", variant="open_sdg_profile_needed")
                ]
            },
        )
    try:
        parse_open_sdg(table, profile, view, indicator=indicator, collector=collector)
    except ProfileError as exc:
        # A file that cannot be read is refused as such even when the profile is bad too:
        # the whole-file definition reads the file before it looks at the profile.
        for _row in table.rows:
            pass
        raise InvalidInputError(
            f"The import profile is not valid: {exc.message}",
            code="invalid_profile",
            errors=[
                {"row": None, "column": "profile", "message": e}
                for e in exc.errors or [exc.message]
            ],
        ) from exc


@contextmanager
def _writing(
    session: Session,
    figures: FileFigures,
    view: CatalogueView,
    *,
    overlap: bool,
    user: Actor | None,
    now: datetime,
    may_validate: bool,
    reason: str | None,
    confirm_outliers: bool,
) -> Iterator[_PlannedWrites]:
    """Pass 2's writes (:class:`_PlannedWrites`) inside a savepoint, all or nothing: a refusal
    found in a later batch undoes the batches already written before the error leaves,
    whatever the caller then does with its transaction. Leaving with an error, an UPDATE left
    running (``overlap``) ends first, its own error dropped (the one leaving is what counts),
    then the savepoint is rolled back."""
    _open_transaction(session)
    with session.begin_nested():
        writes = _PlannedWrites(
            session,
            figures,
            view,
            user=user,
            now=now,
            may_validate=may_validate,
            reason=reason,
            confirm_outliers=confirm_outliers,
            overlap=overlap,
        )
        try:
            yield writes
        except BaseException:
            writes.writer.abandon()
            raise


class _PlannedWrites:
    """Pass 2, batch by batch: plan each batch's changes against the stored figures and write
    them, all or nothing (the caller holds the savepoint).

    After the first problem nothing more is written, but every batch is still planned so that
    every problem row is reported; a ``result_locked`` refusal stops the planning and is raised
    by :meth:`finish`, as the plain definition raises it (after the whole file's own errors,
    when the two passes run together). Writing batch k cannot change what batch k+1 reads: a
    file gives each figure once, and the stored previous-period figures read are only those the
    file does not give.
    """

    def __init__(
        self,
        session: Session,
        figures: FileFigures,
        view: CatalogueView,
        *,
        user: Actor | None,
        now: datetime,
        may_validate: bool,
        reason: str | None,
        confirm_outliers: bool,
        overlap: bool,
    ) -> None:
        self.planner = results.Planner(
            session,
            view,
            given=figures,
            may_validate=may_validate,
            reason=reason,
            confirm_outliers=confirm_outliers,
        )
        self.session = session
        self.problems = _ErrorSink(MAX_REPORTED_ERRORS, sort=False)
        self.counts = {"new": 0, "changed": 0, "unchanged": 0}
        self.needs_reason = self.outliers = 0
        self.summaries: dict[str, dict[str, Any]] = {}
        self.start = 0
        self.refusal: PermissionDeniedError | None = None
        self.writer = results.BatchWriter(session, user=user, now=now, overlap=overlap)

    def add(self, rows: list[int], batch: list[results.PreparedResult]) -> None:
        """Plan one batch (the row number of each figure, and the figure) and write it."""
        if self.refusal is not None:
            return
        # The planner reads the stored figures: the last batch's UPDATE first (its error, if
        # any, is raised here, before anything else uses the connection).
        self.writer.settle()
        try:
            changes, batch_problems = self.planner.plan(batch, self.start)
        except PermissionDeniedError as exc:
            if exc.code != "result_locked":
                raise
            self.refusal = exc
            return
        self.start += len(batch)
        counts = self.counts
        for change in changes:
            counts[change.kind] += 1
        if batch_problems:
            self.needs_reason += sum(1 for p in batch_problems.values() if "reason" in p)
            self.outliers += sum(1 for p in batch_problems.values() if "value" in p)
            offset = self.start - len(batch)
            local = {index - offset: found for index, found in batch_problems.items()}
            for entry in _row_errors_from_items(local, rows):
                self.problems.add(entry)
        if self.problems.count:
            return
        results.attach_summaries(self.session, changes)
        for change in changes:
            for summary in change.affected_summaries:
                self.summaries.setdefault(summary["sha256"], summary)
        self.writer.write(changes)

    def finish(self, filename: str, skipped: int) -> ImportReport:
        """Raise the refusal found, if any; else finish the writes and report them."""
        if self.refusal is not None:
            raise self.refusal
        problems, counts = self.problems, self.counts
        if problems.count:
            codes = sorted(problems.codes)
            raise InvalidInputError(
                _plan_detail(counts, self.needs_reason, self.outliers, filename),
                code=codes[0] if len(codes) == 1 else "import_rejected",
                errors=problems.entries(),
                extra={
                    "error_count": problems.count,
                    "error_codes": codes,
                    "new": counts["new"],
                    "changed": counts["changed"],
                    "unchanged": counts["unchanged"],
                },
            )
        imported = self.writer.finish()
        return ImportReport(
            imported=imported,
            skipped=skipped,
            rows=imported + skipped,
            new=counts["new"],
            changed=counts["changed"],
            unchanged=counts["unchanged"],
            affected_summaries=sorted(
                self.summaries.values(),
                key=lambda s: (s["period"], s["revision"] or 0, s["sha256"]),
            ),
        )


def _open_transaction(session: Session) -> None:
    """Make sure the database holds a transaction open before the import's savepoint.

    Python's sqlite3 driver begins a transaction only before a data-changing statement, not
    before a SAVEPOINT: when the import is the first write of its unit of work, SQLite makes the
    savepoint itself the transaction, and releasing it commits the import at once, before the
    caller decides (a later step of the same request that fails could no longer undo it). An
    explicit BEGIN makes the savepoint nested in the caller's transaction, as on PostgreSQL.
    """
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        return
    driver = connection.connection.driver_connection
    if driver is not None and not driver.in_transaction:
        connection.exec_driver_sql("BEGIN")


class FileFigures:
    """Every figure a file gives, one compact entry each: identity → (row, value).

    What the whole-file checks need of the rows already read: whether a figure repeats one
    given before (and that one's row and value, for the message), and, for the outlier check,
    the file's value of a figure's previous period (:class:`node.services.results.Given`).
    An identity is one int (indices of its indicator, period and breakdown, each below 2**20
    since a file has at most a million rows); the row and value are one short string: about
    150 bytes a figure instead of a row's objects (its item dict, ``ParsedRow`` and
    ``PreparedResult``, kept whole before).
    """

    _BITS = 20

    def __init__(self) -> None:
        self._indicators: dict[str, int] = {}
        self._periods: dict[str, int] = {}
        self._keys: dict[str, int] = {}
        self._figures: dict[int, str] = {}

    def identity(self, indicator: str, period: str, key: str) -> int:
        """The figure's identity as one int (its parts numbered on first sight)."""
        indicators, periods, keys = self._indicators, self._periods, self._keys
        i = indicators.get(indicator)
        if i is None:
            i = indicators[indicator] = len(indicators)
        p = periods.get(period)
        if p is None:
            p = periods[period] = len(periods)
        k = keys.get(key)
        if k is None:
            k = keys[key] = len(keys)
        if (i | p | k) >> self._BITS:  # pragma: no cover - more than MAX_ROWS rows
            raise ValueError("too many distinct figures")
        return (i << (2 * self._BITS)) | (p << self._BITS) | k

    def known(self, identity: tuple[str, str, str]) -> int | None:
        """The identity's int if its parts were all seen, else None (then not in the file)."""
        indicator, period, key = identity
        i = self._indicators.get(indicator)
        p = self._periods.get(period)
        k = self._keys.get(key)
        if i is None or p is None or k is None:
            return None
        return (i << (2 * self._BITS)) | (p << self._BITS) | k

    def first(self, identity: int) -> tuple[int, str | bool] | None:
        """(row, value) of the figure the file gave first with this identity, if any."""
        found = self._figures.get(identity)
        if found is None:
            return None
        number, separator, text = found.partition("\x1f")
        if separator:
            return int(number), text
        number, _separator, flag = found.partition("\x1e")
        return int(number), flag == "1"

    def remember(self, identity: int, row: int, value: str | bool) -> None:
        """Record the figure of ``row`` (its first mention in the file)."""
        if isinstance(value, bool):
            self._figures[identity] = f"{row}\x1e{'1' if value else '0'}"
        else:
            self._figures[identity] = f"{row}\x1f{value}"

    def __contains__(self, identity: object) -> bool:
        if not isinstance(identity, tuple) or len(identity) != 3:
            return False
        number = self.known(identity)
        return number is not None and number in self._figures

    def __getitem__(self, identity: tuple[str, str, str]) -> Decimal | bool:
        """The value as the checks hold it (``Decimal``, or ``bool`` for yes/no)."""
        number = self.known(identity)
        found = None if number is None else self.first(number)
        if found is None:
            raise KeyError(identity)
        value = found[1]
        return value if isinstance(value, bool) else parse_decimal(value)


class _StreamCollector(OutcomeCollector):
    """The layouts' collector for a streamed import: figures go out in batches, errors to a
    bounded sink, repeated figures are found in :class:`FileFigures`."""

    def __init__(
        self,
        figures: FileFigures,
        errors: _ErrorSink,
        on_batch: Callable[[list[tuple[int, dict[str, Any]]]], None],
        batch_size: int,
    ) -> None:
        # Not OutcomeCollector.__init__: nothing of the file is kept here.
        self.rows = []
        self.errors = []
        self.skipped = []
        self._seen = {}
        self._figures = figures
        self._sink = errors
        self._on_batch = on_batch
        self._batch_size = batch_size
        self._pending: list[tuple[int, dict[str, Any]]] = []
        self._error_count = 0
        self.skipped_count = 0
        # Set by watch_order: whether a figure came after the batch of its following period's
        # figure had gone to the checks (see import_file's read-again rule).
        self._watching_order = False
        self._following: dict[str, str] = {}
        self.read_after_its_successor = False

    def watch_order(self) -> None:
        """Note whether any figure is read after its following period's figure (same indicator
        and breakdown) was handed on: that one's outlier check then could not see it."""
        self._watching_order = True

    @property
    def error_count(self) -> int:
        return self._error_count

    def error(self, row: int, column: str | None, message: str) -> None:
        self._error_count += 1
        self._sink.add(
            {"row": row, "column": column, "message": message, "code": "unreadable_cell"}
        )

    def table_error(self, error: RowError) -> None:
        """A row the table itself refused (too few cells, a date cell...)."""
        self.error(error.row, error.column, error.message)

    def skip(self, row: int, reason: str) -> None:
        self.skipped_count += 1

    def add(
        self,
        row: int,
        item: dict[str, Any],
        key: str | None = None,
        *,
        parsed: Decimal | None = None,
    ) -> None:
        if key is None:
            key = disagg.disaggregation_key(item["disaggregation"])
        identity = self._figures.identity(item["indicator"], item["period"], key)
        first = self._figures.first(identity)
        if first is not None:
            self.repeated(row, item, *first)
            return
        if self._watching_order and not self.read_after_its_successor:
            self._note_order(item["indicator"], item["period"], key)
        self._figures.remember(identity, row, item["value"])
        if parsed is not None:
            # The layout's parse_decimal of this very text: prepare_results's check_value takes
            # the Decimal as it is (the same number it would parse from the text).
            item["value"] = parsed
        self._pending.append((row, item))
        if len(self._pending) >= self._batch_size:
            self.flush()

    def _note_order(self, indicator: str, period: str, key: str) -> None:
        """Whether the figure of the following period was already handed on (its row comes
        before the batch being gathered: rows are read in order)."""
        following = self._following.get(period)
        if following is None:
            try:
                following = str(parse_period(period).following())
            except PeriodError:  # the checks refuse the row; nothing to compare with
                following = ""
            self._following[period] = following
        if not following:
            return
        successor = self._figures.known((indicator, following, key))
        found = None if successor is None else self._figures.first(successor)
        if found is not None and (not self._pending or found[0] < self._pending[0][0]):
            self.read_after_its_successor = True

    def flush(self) -> None:
        """Hand the figures read since the last batch to the checks."""
        if self._pending:
            batch, self._pending = self._pending, []
            self._on_batch(batch)

    def outcome(self) -> ParseOutcome:
        return ParseOutcome()


class _ErrorSink:
    """Every error counted, the first ``limit`` kept: in (row, column) order when ``sort``
    (as the whole-file refusal sorts them; ties keep the order they came in), else in the
    order they came in."""

    def __init__(self, limit: int, *, sort: bool) -> None:
        self.limit = limit
        self.sort = sort
        self.count = 0
        self.codes: set[str] = set()
        self._kept: list[tuple[tuple[int, str, int], dict[str, Any]]] = []

    def add(self, entry: dict[str, Any]) -> None:
        self.codes.add(entry["code"])
        order = (entry["row"] or 0, entry["column"] or "", self.count)
        self.count += 1
        if not self.sort:
            if len(self._kept) < self.limit:
                self._kept.append((order, entry))
            return
        self._kept.append((order, entry))
        if len(self._kept) >= 2 * self.limit:
            self._trim()

    def _trim(self) -> None:
        self._kept.sort(key=itemgetter(0))
        del self._kept[self.limit :]

    def entries(self) -> list[dict[str, Any]]:
        """The kept errors, in order."""
        if self.sort:
            self._trim()
        return [entry for _order, entry in self._kept]


class _PreparedSpool:
    """The checked figures of pass 1, handed back batch by batch to pass 2.

    A file of at most ``keep_in_memory`` figures keeps them as they are (no pickling, no
    second Decimal per figure: most of a small import's spooling time); a larger one is pickled
    batch by batch into a spooled temporary file (in memory up to ``_SPOOL_IN_MEMORY`` bytes,
    then on disk), the batches held so far first, so memory stays bounded whatever the file's
    size. Both give the same figures in the same batches (property-tested at the edge).
    """

    def __init__(self, keep_in_memory: int) -> None:
        self._keep_in_memory = keep_in_memory
        self._held: list[tuple[list[int], list[results.PreparedResult]]] = []
        self._held_figures = 0
        self._file: Any = None
        self._batches = 0

    def __enter__(self) -> _PreparedSpool:
        return self

    def __exit__(self, *exc: object) -> None:
        self._held = []
        if self._file is not None:
            self._file.close()

    @property
    def spooled(self) -> bool:
        """Whether the figures went to the spool file (the file has more than the limit)."""
        return self._file is not None

    def add(self, rows: list[int], prepared: list[results.PreparedResult]) -> None:
        """Keep one batch (the row number of each figure, and the figure)."""
        if self._file is None:
            if self._held_figures + len(prepared) <= self._keep_in_memory:
                self._held.append((rows, prepared))
                self._held_figures += len(prepared)
                return
            self._file = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)  # noqa: SIM115
            held, self._held = self._held, []
            for held_rows, held_prepared in held:
                self._dump(held_rows, held_prepared)
        self._dump(rows, prepared)

    def _dump(self, rows: list[int], prepared: list[results.PreparedResult]) -> None:
        """Pickle one batch into the spool file."""
        # Plain values only (pickled fast): the breakdown is its key's (parse_key gives the
        # canonical form back), a Decimal its str() (which Decimal() reads back exactly,
        # exponent included).
        fields = [
            (
                p.indicator, p.period, p.key,
                p.value if isinstance(p.value, bool) else str(p.value),
                p.status, p.cases, p.source, p.method, p.note, p.reason, p.confirm_outlier,
            )
            for p in prepared
        ]  # fmt: skip
        pickle.dump((rows, fields), self._file, protocol=pickle.HIGHEST_PROTOCOL)
        self._batches += 1

    def batches(self) -> Iterator[tuple[list[int], list[results.PreparedResult]]]:
        """The batches kept, in order."""
        if self._file is None:
            yield from self._held
            return
        self._file.seek(0)
        breakdowns: dict[str, dict[str, str]] = {}
        for _ in range(self._batches):
            # Our own bytes, written above in this request: never data from elsewhere.
            rows, fields = pickle.load(self._file)  # noqa: S301
            batch = []
            for indicator, period, key, value, *rest in fields:
                breakdown = breakdowns.get(key)
                if breakdown is None:
                    breakdown = breakdowns[key] = disagg.parse_key(key)
                batch.append(
                    results.PreparedResult(
                        indicator,
                        period,
                        key,
                        dict(breakdown),
                        value if isinstance(value, bool) else Decimal(value),
                        *rest,
                    )
                )
            yield rows, batch


def _plan_detail(counts: dict[str, int], needs_reason: int, outliers: int, filename: str) -> str:
    """What the file would do and what stops it, in one sentence a person can act on."""
    parts = [
        f"{filename}: {counts['new']} new, {counts['changed']} changed, "
        f"{counts['unchanged']} unchanged; nothing was imported."
    ]
    if needs_reason:
        parts.append(f"{needs_reason} changed figures are validated or published: give a reason.")
    if outliers:
        parts.append(
            f"{outliers} values are far from the previous period: check them, then confirm."
        )
    return " ".join(parts)


def export(
    session: Session,
    fmt: str,
    *,
    config: NodeConfig,
    indicator: str | None = None,
    period: str | None = None,
    now: datetime,
) -> tuple[str, Iterator[str]]:
    """Published results as (media type, text chunks) in ``csv``, ``json`` or ``sdmx-json``.

    The format and indicator are checked at once (a bad one raises before anything is sent);
    the text is produced lazily, one indicator's figures at a time, read with Core (no ORM
    object per figure), so memory stays bounded whatever the number of results. The chunks
    join to exactly the text the in-memory writers (``to_csv``, ``json.dumps(to_json(...))``,
    ``json.dumps(to_sdmx_json(...))``) give for the same figures (property-tested).
    """
    if fmt not in EXPORT_FORMATS:
        raise InvalidInputError(
            f"Unknown format '{fmt}'.", errors={"format": [f"one of {', '.join(EXPORT_FORMATS)}"]}
        )
    if indicator:
        catalogue.get_indicator(session, indicator)
    period_text = str(parse_period(period)) if period else None
    view = catalogue.view(session)
    node_info = {"city_id": config.city_id, "name": config.name}
    stored = _published_rows(session, indicator, period_text)
    conditions = _published_filter(indicator, period_text)
    connection = session.connection()
    if fmt == "csv":
        keys = connection.scalars(select(Result.disaggregation_key).where(*conditions).distinct())
        dimensions = {dim for key in keys for dim in disagg.parse_key(key)}
        texts = {
            column.key
            for column in (Result.source, Result.method, Result.note)
            if connection.scalar(
                select(Result.id).where(*conditions, column.is_not(None), column != "").limit(1)
            )
            is not None
        }
        csv_text = tabular.iter_csv_stored(stored, view, columns=(dimensions, texts))
        return EXPORT_FORMATS[fmt], csv_text
    if fmt == "json":
        count = _published_count(session, indicator, period_text)
        return EXPORT_FORMATS[fmt], tabular.iter_json_stored(stored, count, view, node_info, now)
    codes = sorted(connection.scalars(select(Result.indicator_code).where(*conditions).distinct()))
    summary = sdmx.Summary(
        indicators=codes,
        periods=list(connection.scalars(select(Result.period).where(*conditions).distinct())),
        breakdowns=[
            disagg.parse_key(key)
            for key in connection.scalars(
                select(Result.disaggregation_key).where(*conditions).distinct()
            )
        ],
        # Only published figures are exported: one status, if there is any figure at all.
        statuses=["published"] if codes else [],
    )
    message = sdmx.iter_sdmx_json_stored(stored, view, node_info, now, summary=summary)
    return EXPORT_FORMATS[fmt], message


def _published_filter(indicator: str | None, period: str | None) -> list[Any]:
    conditions: list[Any] = [Result.status == "published"]
    if indicator:
        conditions.append(Result.indicator_code == indicator)
    if period:
        conditions.append(Result.period == period)
    return conditions


def _published_count(session: Session, indicator: str | None, period: str | None) -> int:
    query = select(func.count()).select_from(Result).where(*_published_filter(indicator, period))
    return int(session.execute(query).scalar_one())


def _published_rows(
    session: Session,
    indicator: str | None,
    period: str | None,
    *,
    sort_in_database: bool = True,
) -> tabular.StoredBatches:
    """A re-startable source of published figures: (indicator code, stored rows) per indicator,
    in export order, with no dict, Decimal or ORM object per figure.

    Indicators come in code order; each one's rows (:data:`node.exporting.tabular.StoredRow`)
    come in (period end, period start, disaggregation key compared by code point) order, the
    order :func:`node.exporting.tabular.sorted_results` defines: sorted by SQLite or
    PostgreSQL with a byte-order collation, or in Python (``sort_in_database=False``, and on
    any other database), never by a database's language-aware collation. The stored key and
    dates are those of the figure's breakdown and period (written together by
    node.services.results), so nothing is parsed per row.
    """
    columns = (
        Result.period,
        Result.value_text,
        Result.status,
        Result.disaggregation_key,
        Result.source,
        Result.method,
        Result.note,
    )

    def batches() -> Iterator[tuple[str, Sequence[tabular.StoredRow]]]:
        connection = session.connection()
        # The database sorts, by dates (chronological everywhere) and the key compared by code
        # point, as Python compares strings: SQLite's BINARY collation compares UTF-8 bytes
        # and PostgreSQL's "C" collation too, and UTF-8 byte order is code point order. A
        # language-aware collation (PostgreSQL's default "en_US.UTF-8" and the like) puts
        # "SEX=a" before "SEX=B", code point order after it: so the collation is named.
        collation = _BYTE_ORDER.get(connection.dialect.name) if sort_in_database else None
        for code in _exported_indicators(session, indicator):
            query = select(*columns).where(*_published_filter(code, period))
            if collation is not None:
                query = query.order_by(
                    Result.period_end,
                    Result.period_start,
                    Result.disaggregation_key.collate(collation),
                )
                yield code, connection.execute(query).all()
            else:  # another database: sort here, by the same key
                query = query.add_columns(Result.period_end, Result.period_start)
                rows = sorted(connection.execute(query).all(), key=itemgetter(7, 8, 3))
                yield code, [row[:7] for row in rows]

    return batches


# The collation that compares text by code point, per database (see _published_rows).
_BYTE_ORDER = {"sqlite": "BINARY", "postgresql": "C"}


def _exported_indicators(session: Session, indicator: str | None) -> list[str]:
    """The indicators an export writes, in code order (one given, or all with a published
    figure: every such indicator has a row in the latest table)."""
    if indicator:
        return [indicator]
    return sorted(
        session.scalars(
            select(LatestResult.indicator_code).where(LatestResult.scope == "published").distinct()
        )
    )


def apply_catalogue_additions(session: Session, document: Any, *, now: datetime) -> str:
    """Add local dimensions, codes and indicators from one JSON document, all or nothing.

    Shape: ``{"dimensions": [...], "dimension_codes": {DIM: [{code, label}]},
    "indicators": [...]}``.
    Entries that already exist unchanged are skipped, so the same file can be applied twice.
    """
    if not isinstance(document, dict):
        raise InvalidInputError(
            "Expected a JSON object with dimensions, dimension_codes, indicators."
        )
    unknown = set(document) - {"dimensions", "dimension_codes", "indicators", "description"}
    if unknown:
        raise InvalidInputError(f"Unknown keys: {', '.join(sorted(unknown))}.")
    counts = {"dimensions": 0, "codes": 0, "indicators": 0}
    try:
        for raw in document.get("dimensions", []):
            data = DimensionSchema().load(raw)
            existing = {d.code for d in catalogue.list_dimensions(session)}
            if data["code"] not in existing:
                catalogue.add_dimension(session, data)
                counts["dimensions"] += 1
        for dim_code, raw_codes in (document.get("dimension_codes") or {}).items():
            codes = DimensionCodeSchema(many=True).load(raw_codes)
            known = view_codes = catalogue.view(session).dimensions.get(dim_code)
            present = set(view_codes.codes) if known else set()
            new = [c for c in codes if c["code"] not in present]
            if new:
                catalogue.add_dimension_codes(session, dim_code, new)
                counts["codes"] += len(new)
        for raw in document.get("indicators", []):
            data = IndicatorSchema().load(raw)
            if catalogue.view(session).indicators.get(data["code"]) is None:
                catalogue.add_local_indicator(session, data, now=now)
                counts["indicators"] += 1
    except ValidationError as exc:
        raise InvalidInputError(
            "The catalogue additions are not valid.", errors=exc.normalized_messages()
        ) from exc
    return (
        f"Added {counts['dimensions']} dimensions, {counts['codes']} codes and "
        f"{counts['indicators']} local indicators."
    )
