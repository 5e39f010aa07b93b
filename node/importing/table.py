"""Read an uploaded CSV or XLSX file into a plain table of text cells, and the outcome types.

Everything here is pure: bytes in, :class:`Table` out, no database and no request. Whatever the
upload holds (binary garbage, a damaged workbook, a file in the wrong encoding), the only
exception that leaves :func:`read_table` is :class:`TableError`, whose message is written for the
city official who uploaded the file. Every message is a :class:`node.refusals.Problem`: the
English text (the API's ``detail`` and ``errors[].message``, unchanged) with the ``variant`` of
its rule and the values it quotes (``params``), so a page words it in the reader's language
(``unreadable_file:…`` for a whole file, ``unreadable_cell:…`` for a row; messages in
``node/web/refusal_messages.py``). Problems that concern one row only (a row with too many
cells, a date typed into a cell) do not stop the reading: they become :class:`RowError` entries in
``Table.errors`` and that row is left out, so the user sees every problem of the file at once.

The outcome types shared by the layouts (:class:`ParsedRow`, :class:`RowError`,
:class:`ParseOutcome`) live here too, beside the table they describe.
"""

from __future__ import annotations

import codecs
import csv
import io
import math
import re
import warnings
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, BinaryIO, NamedTuple

from node.refusals import Problem

# A file is read whole (the upload's bytes, then its rows) before anything is written, all or
# nothing: a million rows (a large city's monthly figures by district and ground) fit; the
# upload size limit (``max_body_bytes``) bounds it first in practice.
MAX_ROWS = 1_000_000
# Spreadsheets stay at 200,000 data rows: openpyxl builds every cell as an object.
MAX_XLSX_DATA_ROWS = 200_000
MAX_COLUMNS = 500
# XLSX bounds, checked while the sheet's XML is read and before any row is built: a cell below
# row MAX_XLSX_ROW (the data rows plus room for blank and title rows) or a filled cell right of
# column MAX_COLUMNS refuses the file at once. A 1.5 KB workbook with one cell at row 1,048,576
# used to make openpyxl build a million empty rows (11-23 s of a worker).
MAX_XLSX_ROW = MAX_XLSX_DATA_ROWS + 10_000
# Cells present in the sheet's XML (styled empty cells included): bounds the parsing work.
MAX_XLSX_CELLS = 4_000_000
# A 1 MiB upload can inflate to gigabytes (a "zip bomb"): the sizes the archive declares are
# checked before anything is decompressed (zipfile never inflates a member past its declared
# size), and the whole workbook may not unpack beyond this.
MAX_XLSX_UNPACKED_BYTES = 100 * 1024 * 1024
MAX_XLSX_MEMBERS = 10_000
# NUL (refused by PostgreSQL) and lone surrogates (no UTF-8 form) are never valid cell text.
_INVALID_TEXT = re.compile("[\x00\ud800-\udfff]")

ZIP_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # legacy .xls (and .doc) files


class TableError(Exception):
    """The upload cannot be read as a table at all; ``message`` says why, for the uploader
    (a :class:`Problem` of code ``unreadable_file``: its variant names the rule)."""

    def __init__(self, message: Problem) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class RowError:
    """A problem with one row (``row`` is the file's 1-based row number; 1 is the header row).

    ``column`` is the heading of the column concerned as written in the file, or ``None`` when
    the problem concerns the whole row. The table's own row errors are :class:`Problem`
    messages of code ``unreadable_cell``.
    """

    row: int
    column: str | None
    message: str

    def __str__(self) -> str:
        where = f"Row {self.row}" + (f", column '{self.column}'" if self.column else "")
        return f"{where}: {self.message}"


@dataclass
class ParsedRow:
    """One figure read from the file, ready for the results service.

    ``item`` has ``indicator``, ``period``, ``value`` (decimal text, or ``True``/``False`` for
    boolean indicators), ``disaggregation`` (dimension code → code; empty = total) and, when the
    file or the import profile gives them, ``status``, ``source``, ``method`` and ``note``.
    """

    row: int
    item: dict[str, Any]


@dataclass
class ParseOutcome:
    """What a layout parser made of a table: figures, errors, and rows left out on purpose."""

    rows: list[ParsedRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    skipped: list[tuple[int, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no row has an error (an import is all-or-nothing)."""
        return not self.errors


class TableRow(NamedTuple):
    """A data row: its 1-based row number in the file and one stripped text cell per column."""

    row: int
    cells: list[str]


@dataclass
class Table:
    """The header and data rows of an uploaded file, every cell as stripped text.

    Blank rows are left out; rows with a problem are left out of ``rows`` and described in
    ``errors``. ``header_row`` is the row number of the header (1 unless blank rows precede it).
    """

    header: list[str]
    rows: list[TableRow]
    errors: list[RowError] = field(default_factory=list)
    header_row: int = 1


def read_table(filename: str, data: bytes) -> Table:
    """Read an uploaded CSV (UTF-8, ``,`` or ``;``) or XLSX file (first sheet) into a table.

    The kind of file is decided by its content, not its name: an XLSX workbook is a zip archive.
    Raises :class:`TableError` (and nothing else) when the file cannot be read as a table.
    """
    try:
        if not isinstance(data, bytes | bytearray):
            raise TableError(
                Problem(
                    "No file content was received.", "unreadable_file", variant="table_no_content"
                )
            )
        data = bytes(data)
        if data.startswith(ZIP_MAGIC):
            return _read_xlsx(data)
        if data.startswith(OLE_MAGIC):
            raise TableError(
                Problem(
                    "This is an old-style Excel file (.xls). Open it in your spreadsheet program "
                    "and save it as an Excel workbook (.xlsx) or as 'CSV UTF-8', then upload it "
                    "again.",
                    "unreadable_file",
                    variant="table_old_xls",
                )
            )
        name = (filename or "").lower()
        if name.endswith((".xlsx", ".xlsm")):
            raise TableError(
                Problem(
                    f"The file '{filename[:80]}' is named like an Excel workbook but is not one "
                    "(an .xlsx file is a zip archive). Save it again from your spreadsheet "
                    "program.",
                    "unreadable_file",
                    variant="table_named_like_workbook",
                    params={"name": filename[:80]},
                )
            )
        return _read_csv(data)
    except TableError:
        raise
    except Exception as exc:  # a malformed upload must become a message, never a 500
        raise _unreadable(exc) from exc


class TableStream:
    """An uploaded table read as a stream: the header at once, the data rows one at a time.

    What :func:`open_table` returns. ``rows(on_error)`` yields the rows :func:`read_table`
    would put in ``Table.rows``, in file order, and hands what it would put in
    ``Table.errors`` to ``on_error``; like :func:`read_table` it raises nothing but
    :class:`TableError`. Call :meth:`close` when done (the upload itself stays open).
    """

    def __init__(
        self,
        header: list[str],
        header_row: int,
        rows: Callable[[Callable[[RowError], None]], Iterator[TableRow]],
        close: Callable[[], None] | None = None,
    ) -> None:
        self.header = header
        self.header_row = header_row
        self._rows = rows
        self._close = close

    def rows(self, on_error: Callable[[RowError], None]) -> Iterator[TableRow]:
        """The data rows (see the class docstring)."""
        try:
            yield from self._rows(on_error)
        except TableError:
            raise
        except Exception as exc:  # as in read_table: a malformed upload becomes a message
            raise _unreadable(exc) from exc

    def close(self) -> None:
        """Let go of the upload (without closing it: the caller owns it)."""
        if self._close is not None:
            self._close()
            self._close = None


def _unreadable(exc: Exception) -> TableError:
    """Any other failure while reading: the kind of error is quoted (data, for a bug report)."""
    kind = type(exc).__name__
    return TableError(
        Problem(
            "The file could not be read as a table. Upload a CSV file (UTF-8) or an Excel workbook "
            f"(.xlsx). ({kind})",
            "unreadable_file",
            variant="table_unreadable",
            params={"kind": kind},
        )
    )


def _binary() -> TableError:
    return TableError(
        Problem(
            "The file looks like a binary file, not a CSV text file or an .xlsx workbook.",
            "unreadable_file",
            variant="table_binary",
        )
    )


def _empty() -> TableError:
    return TableError(Problem("The file is empty.", "unreadable_file", variant="table_empty"))


# How much of a CSV upload is decoded at a time while it is checked before reading its rows.
_CHUNK = 1 << 20


def open_table(filename: str, source: BinaryIO) -> TableStream:
    """Open an uploaded file (a seekable binary file) as a :class:`TableStream`.

    The same file gives the same header, rows, row errors and :class:`TableError` messages as
    :func:`read_table` on its bytes (property-tested), but a CSV file is never held whole: it is
    checked (UTF-8, no NUL, not empty) chunk by chunk, then its rows are read one at a time, so
    a million-row file costs the memory of one row. XLSX workbooks (at most 200,000 rows, and
    a zip archive cannot be read front to back) are read whole with :func:`read_table`.
    """
    try:
        source.seek(0)
        head = source.read(len(OLE_MAGIC))
        source.seek(0)
        name = (filename or "").lower()
        if head.startswith((ZIP_MAGIC, OLE_MAGIC)) or name.endswith((".xlsx", ".xlsm")):
            # Workbooks, and the refusals read_table words for files that are not CSV text.
            table = read_table(filename, source.read())

            def listed(on_error: Callable[[RowError], None]) -> Iterator[TableRow]:
                for error in table.errors:
                    on_error(error)
                yield from table.rows

            return TableStream(table.header, table.header_row, listed)
        delimiter = _check_csv(source)
        source.seek(0)
        text = io.TextIOWrapper(source, encoding="utf-8-sig", newline="")
        try:
            reader = csv.reader(text, delimiter=delimiter)
            stream = _TableStream(_csv_records(reader), strict_width=True)
        except BaseException:
            text.detach()
            raise

        def let_go() -> None:
            text.detach()  # the upload stays open: it is the caller's

        return TableStream(stream.header, stream.header_row, stream.rows, let_go)
    except TableError:
        raise
    except Exception as exc:  # a malformed upload must become a message, never a 500
        raise _unreadable(exc) from exc


def _check_csv(source: BinaryIO) -> str:
    """The checks :func:`_read_csv` makes on the whole text, made chunk by chunk; the delimiter.

    Same order and messages: not UTF-8 (the whole file is then read once more by
    :func:`_read_csv` to name the line exactly as it does), NUL, empty; then the delimiter from
    the first non-blank line.
    """
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    has_nul = False
    blank = True
    first_line: str | None = None
    prefix = ""
    try:
        while True:
            chunk = source.read(_CHUNK)
            final = not chunk
            text = decoder.decode(chunk, final)
            has_nul = has_nul or "\x00" in text
            if blank and text.strip():
                blank = False
            if first_line is None:
                prefix += text
                lines = prefix.splitlines()
                for index, line in enumerate(lines):
                    if line.strip():
                        # Complete once a line break follows it (or the file ends).
                        if index < len(lines) - 1 or final:
                            first_line = line
                            prefix = ""
                        break
            if final:
                break
    except UnicodeDecodeError:
        source.seek(0)
        _read_csv(source.read())  # raises the TableError naming the line, as for a whole read
        raise  # pragma: no cover - _read_csv raised already
    if has_nul:
        raise _binary()
    if blank:
        raise _empty()
    return _sniff_delimiter(first_line or "")


# --- CSV ---------------------------------------------------------------------------------------


def _read_csv(data: bytes) -> Table:
    try:
        text = data.decode("utf-8-sig")  # a BOM, as Excel writes it for "CSV UTF-8", is dropped
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise TableError(
            Problem(
                f"The file is not UTF-8 text (the first unreadable character is on line {line}). "
                "In your spreadsheet program choose 'Save as' → 'CSV UTF-8', or upload the "
                ".xlsx workbook instead.",
                "unreadable_file",
                variant="table_not_utf8",
                params={"line": line},
            )
        ) from exc
    if "\x00" in text:
        raise _binary()
    if not text.strip():
        raise _empty()
    delimiter = _sniff_delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    return _build_table(_csv_records(reader), strict_width=True)


def _sniff_delimiter(text: str) -> str:
    """``,`` or ``;``: whichever splits the first non-blank line into more cells.

    Spreadsheet programs in many European locales write ``;`` because ``,`` is their decimal
    separator; the header line never contains decimals, so it decides reliably.
    """
    first = next((line for line in text.splitlines() if line.strip()), "")
    counts: dict[str, int] = {}
    for candidate in (",", ";"):
        try:
            counts[candidate] = len(next(csv.reader([first], delimiter=candidate), []))
        except csv.Error:
            counts[candidate] = 0
    return ";" if counts[";"] > counts[","] else ","


def _csv_records(
    reader: Iterable[list[str]],
) -> Iterator[tuple[int, list[str], list[tuple[int, str]]]]:
    number = 0
    iterator = iter(reader)
    while True:
        try:
            record = next(iterator)
        except StopIteration:
            return
        except csv.Error as exc:
            # csv.Error (e.g. a cell over the field size limit) leaves the reader unusable
            # The reason is csv's own English (quoted after "In English" on other pages).
            raise TableError(
                Problem(
                    f"Row {number + 1} could not be read: {exc}.",
                    "unreadable_file",
                    variant="table_row_unreadable",
                    params={"row": number + 1, "detail": str(exc)},
                )
            ) from exc
        number += 1  # one record = one spreadsheet row, even when a quoted cell holds a line break
        yield number, record, []


# --- XLSX --------------------------------------------------------------------------------------


def _read_xlsx(data: bytes) -> Table:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except zipfile.BadZipFile as exc:
        raise TableError(
            Problem(
                "The file looks like an Excel workbook (.xlsx) but is damaged or "
                "incomplete. Save it again and upload the new copy.",
                "unreadable_file",
                variant="table_xlsx_damaged",
            )
        ) from exc
    unpacked = sum(member.file_size for member in members)
    if len(members) > MAX_XLSX_MEMBERS or unpacked > MAX_XLSX_UNPACKED_BYTES:
        raise TableError(
            Problem(
                "The workbook is too large to import. Split it into smaller files.",
                "unreadable_file",
                variant="table_workbook_too_large",
            )
        )

    import openpyxl  # imported here: only uploads of workbooks pay for it

    with warnings.catch_warnings():
        # openpyxl warns about features it ignores (data validation, default styles); they do not
        # matter for reading values and must not turn into errors where warnings are errors.
        warnings.simplefilter("ignore")
        try:
            workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many exception kinds for damaged files
            raise TableError(
                Problem(
                    "The file could not be opened as an Excel workbook (.xlsx). If it comes from "
                    "another program (e.g. .ods), save it as .xlsx or as 'CSV UTF-8'.",
                    "unreadable_file",
                    variant="table_not_a_workbook",
                )
            ) from exc
        try:
            if not workbook.worksheets:
                raise TableError(
                    Problem(
                        "The workbook has no worksheet with data.",
                        "unreadable_file",
                        variant="table_no_worksheet",
                    )
                )
            sheet = workbook.worksheets[0]
            # The size the sheet declares (<dimension>) is not trusted in either direction:
            # rows are read as they really are in the XML, with the bounds checked per cell.
            return _build_table(_xlsx_records(workbook, sheet), strict_width=False)
        except TableError:
            raise
        except Exception as exc:  # the sheet is read lazily: damage may show only now
            raise TableError(
                Problem(
                    "The workbook (.xlsx) is damaged: its first worksheet could not be read. "
                    "Save it again from your spreadsheet program and upload the new copy.",
                    "unreadable_file",
                    variant="table_sheet_damaged",
                )
            ) from exc
        finally:
            workbook.close()


def _xlsx_records(
    workbook: Any, sheet: Any
) -> Iterator[tuple[int, list[str], list[tuple[int, str]]]]:
    """The rows really present in the sheet's XML, with their row numbers; bounded.

    openpyxl's own ``iter_rows`` pads every missing row (and every row to the widest one) with
    empty cells in Python, so one cell at row 1,048,576 costs a million empty rows. Its
    worksheet parser (what ``iter_rows`` uses inside) yields only the rows present, so the
    work follows the file's real content, and the bounds are checked before a row is built.
    """
    from openpyxl.cell.read_only import ReadOnlyCell
    from openpyxl.worksheet._reader import WorkSheetParser

    cells_seen = 0
    with workbook._archive.open(sheet._worksheet_path) as source:
        parser = WorkSheetParser(
            source,
            sheet._shared_strings,
            data_only=workbook.data_only,
            epoch=workbook.epoch,
            date_formats=workbook._date_formats,
            timedelta_formats=workbook._timedelta_formats,
        )
        for number, raw_cells in parser.parse():
            if number > MAX_XLSX_ROW:
                raise TableError(
                    Problem(
                        f"The worksheet has cells in row {number:,}; an import reads rows 1 to "
                        f"{MAX_XLSX_ROW:,} (at most {MAX_XLSX_DATA_ROWS:,} data rows). Delete "
                        "the rows below your data (select them, right-click, Delete) and save "
                        "again.",
                        "unreadable_file",
                        variant="table_row_beyond_bounds",
                        params={
                            "row": number,
                            "max_row": MAX_XLSX_ROW,
                            "max_rows": MAX_XLSX_DATA_ROWS,
                        },
                    )
                )
            cells_seen += len(raw_cells)
            if cells_seen > MAX_XLSX_CELLS:
                raise TableError(
                    Problem(
                        "The worksheet has too many cells to import. Split it into smaller files.",
                        "unreadable_file",
                        variant="table_too_many_cells",
                    )
                )
            filled = [cell for cell in raw_cells if cell["value"] is not None]
            if not filled:
                yield number, [], []
                continue
            last = max(cell["column"] for cell in filled)
            if last > MAX_COLUMNS:
                letter = _column_letter(last - 1)
                raise TableError(
                    Problem(
                        f"Row {number} has a value in column {letter}; an import "
                        f"reads at most {MAX_COLUMNS} columns.",
                        "unreadable_file",
                        variant="table_column_beyond_bounds",
                        params={"row": number, "column": letter, "max_columns": MAX_COLUMNS},
                    )
                )
            cells = [""] * last
            problems: list[tuple[int, Problem]] = []
            for cell in filled:
                index = cell["column"] - 1
                try:
                    cells[index] = _cell_text(ReadOnlyCell(sheet, **cell))
                except ValueError as exc:
                    problems.append((index, exc.args[0]))
            problems.sort()
            yield number, cells, problems


def _cell_text(cell: Any) -> str:
    """A cell's value as exact text: what the user sees in the spreadsheet, never float noise."""
    value = cell.value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date | time | timedelta):
        raise ValueError(
            Problem(
                "holds a date or time. Type periods as text such as 2025, 2025-H1, 2025-Q3 or "
                "2025-07, and values as plain numbers (format the cell as 'Text' or 'General').",
                "unreadable_cell",
                variant="table_date_cell",
            )
        )
    if isinstance(value, int | float):
        return _number_text(value, percent="%" in str(cell.number_format or ""))
    return str(value).strip()


def _number_text(value: int | float, *, percent: bool) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(
            Problem(
                "holds an invalid number (infinite or not a number).",
                "unreadable_cell",
                variant="table_invalid_number",
            )
        )
    # repr() is the shortest text that reads back as the same float: 0.1 stays "0.1", not the
    # 55-digit binary expansion Decimal(0.1) would give.
    number = Decimal(value) if isinstance(value, int) else Decimal(repr(value))
    if percent:
        # Excel stores 50% as 0.5; the user typed and sees 50, and our units are "percent".
        number *= 100
    if number == number.to_integral_value():
        return str(int(number))  # 2019, not "2019.0"
    return format(number.normalize(), "f")


# --- shared ------------------------------------------------------------------------------------


def _build_table(
    records: Iterable[tuple[int, list[str], list[tuple[int, str]]]], *, strict_width: bool
) -> Table:
    """Find the header (first non-blank row) and check every data row against it.

    ``strict_width``: CSV rows must have a cell for every column (a missing separator shifts
    values into the wrong column); XLSX rows simply end at their last filled cell.
    """
    stream = _TableStream(records, strict_width=strict_width)
    errors: list[RowError] = []
    rows = list(stream.rows(errors.append))
    return Table(header=stream.header, rows=rows, errors=errors, header_row=stream.header_row)


class _TableStream:
    """The header of a table, read at once, then its data rows one at a time.

    The same checks as a table read whole (:func:`_build_table` is this, collected): the header
    is the first non-blank row; each data row is checked against it and either yielded as a
    :class:`TableRow` or reported to ``on_error`` as :class:`RowError` entries.
    """

    def __init__(
        self,
        records: Iterable[tuple[int, list[str], list[tuple[int, str]]]],
        *,
        strict_width: bool,
    ) -> None:
        self._records = iter(records)
        self._strict_width = strict_width
        # CSV text has no cell to check for NUL or lone surrogates: a file holding NUL is
        # refused whole before its rows are read, and strict UTF-8 decoding never yields a
        # surrogate.
        self._check_text = not strict_width
        for number, raw_cells, problems in self._records:
            cells = [cell.strip() for cell in raw_cells]
            if _INVALID_TEXT.search("".join(cells)):
                problems = problems + _invalid_text_cells(cells)
            if not any(cells):
                continue
            if problems:
                column, message = problems[0]
                cell = f"{_column_letter(column)}{number}"
                raise TableError(
                    Problem(
                        f"The header row (row {number}) must hold column names as text; "
                        f"cell {cell} {message}",
                        "unreadable_file",
                        variant="table_header_not_text",
                        params={"row": number, "cell": cell},
                    )
                )
            self.header = _check_header(cells, number)
            self.header_row = number
            return
        raise TableError(
            Problem(
                "The file has no header row: the first row must name the columns.",
                "unreadable_file",
                variant="table_no_header",
            )
        )

    def rows(self, on_error: Callable[[RowError], None]) -> Iterator[TableRow]:
        """The data rows in file order; a row with a problem goes to ``on_error`` instead."""
        header = self.header
        header_row = self.header_row
        width = len(header)
        strict_width = self._strict_width
        check_text = self._check_text
        data_rows = 0
        for number, raw_cells, problems in self._records:
            cells = [cell.strip() for cell in raw_cells]
            if check_text and _INVALID_TEXT.search("".join(cells)):
                problems = problems + _invalid_text_cells(cells)
            if not any(cells) and not problems:
                continue
            data_rows += 1
            if data_rows > MAX_ROWS:
                raise TableError(
                    Problem(
                        f"The file has more than {MAX_ROWS:,} data rows. Split it into smaller "
                        "files.",
                        "unreadable_file",
                        variant="table_too_many_rows",
                        params={"max_rows": MAX_ROWS},
                    )
                )
            if problems:
                for column, message in problems:
                    name = header[column] if column < width else None
                    cell = f"{_column_letter(column)}{number}"
                    on_error(
                        RowError(
                            number,
                            name,
                            Problem(
                                f"The cell {cell} {message}",
                                "unreadable_cell",
                                variant=message.variant,
                                params={"cell": cell},
                            ),
                        )
                    )
                continue
            if strict_width and len(cells) < width:
                on_error(
                    RowError(
                        number,
                        None,
                        Problem(
                            f"This row has {len(cells)} cells but the header has "
                            f"{width} columns. Check for a missing separator or a cell "
                            "split in two.",
                            "unreadable_cell",
                            variant="table_short_row",
                            params={"cells": len(cells), "columns": width},
                        ),
                    )
                )
                continue
            if len(cells) > width and any(cells[width:]):
                extra = len(cells) - width if strict_width else None
                detail = f" ({extra} more than the header)" if extra else ""
                on_error(
                    RowError(
                        number,
                        None,
                        Problem(
                            f"This row has values to the right of the last named column"
                            f"{detail}. Give every column a name in row {header_row} or "
                            "remove the extra cells.",
                            "unreadable_cell",
                            # A workbook's row simply ends later: no count of extra cells.
                            variant="table_right_of_header" if extra else "table_right_of_sheet",
                            params={"extra": extra, "header_row": header_row},
                        ),
                    )
                )
                continue
            if len(cells) != width:
                cells = (cells + [""] * width)[:width]
            yield TableRow(number, cells)


def _invalid_text_cells(cells: list[str]) -> list[tuple[int, Problem]]:
    """(column, message) for cells holding NUL or a lone surrogate (which no database stores)."""
    return [
        (
            index,
            Problem(
                "holds a character that is not valid text (NUL or a lone surrogate).",
                "unreadable_cell",
                variant="table_invalid_text",
            ),
        )
        for index, cell in enumerate(cells)
        if _INVALID_TEXT.search(cell)
    ]


def _check_header(cells: list[str], number: int) -> list[str]:
    while cells and not cells[-1]:
        cells = cells[:-1]  # trailing empty columns are common in spreadsheets; ignore them
    if len(cells) > MAX_COLUMNS:
        raise TableError(
            Problem(
                f"The file has more than {MAX_COLUMNS} columns.",
                "unreadable_file",
                variant="table_too_many_columns",
                params={"max_columns": MAX_COLUMNS},
            )
        )
    for position, name in enumerate(cells, start=1):
        if not name:
            raise TableError(
                Problem(
                    f"Column {position} of the header row (row {number}) has no name. "
                    "Every column needs a heading.",
                    "unreadable_file",
                    variant="table_unnamed_column",
                    params={"position": position, "row": number},
                )
            )
    seen: set[str] = set()
    for name in cells:
        if name in seen:
            raise TableError(
                Problem(
                    f"The column '{name[:80]}' appears twice in the header row "
                    f"(row {number}). Each column name may appear once.",
                    "unreadable_file",
                    variant="table_column_twice",
                    params={"name": name[:80], "row": number},
                )
            )
        seen.add(name)
    return cells


def _column_letter(index: int) -> str:
    """Spreadsheet column letters for a 0-based column index (0 → A, 27 → AB)."""
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(ord("A") + remainder) + letters
    return letters
