"""``open_table``'s own promises, with answers written from the rules, at the chunk edges.

The CSV checks run chunk by chunk (``table._CHUNK`` bytes at a time, 1 MiB in production; here
a few bytes so an edge falls exactly where each test needs it): a character, a BOM, a NUL, a
bad byte or the header line cut by a chunk edge must give what the whole file gives. The
property test beside this file compares the stream with ``read_table`` on random files; these
tests pin the edges by hand, so a mistake shared by both readers cannot hide.

Also pinned: which uploads are workbooks (content first, then the name), that a workbook read
through the stream keeps its header row and row errors, that ``close`` lets go of the upload
without closing it, and that a failure while reading becomes a ``TableError`` naming its kind.
"""

from __future__ import annotations

import gc
import io
from collections.abc import Callable
from typing import Any

import openpyxl
import pytest

from node.importing import RowError, TableError, TableRow, open_table
from node.importing import table as table_module

UNREADABLE = (
    "The file could not be read as a table. Upload a CSV file (UTF-8) or an Excel workbook (.xlsx)."
)
BINARY = "The file looks like a binary file, not a CSV text file or an .xlsx workbook."
EMPTY = "The file is empty."
BOM = b"\xef\xbb\xbf"


Read = tuple[list[str], int, list[TableRow], list[RowError]]
SetChunk = Callable[[int], None]


def _read(data: bytes, name: str = "figures.csv") -> Read:
    stream = open_table(name, io.BytesIO(data))
    errors: list[RowError] = []
    try:
        rows = list(stream.rows(errors.append))
    finally:
        stream.close()
    return stream.header, stream.header_row, rows, errors


def _refusal(data: bytes, name: str = "figures.csv") -> str:
    with pytest.raises(TableError) as caught:
        _read(data, name)
    return caught.value.message


@pytest.fixture
def chunk(monkeypatch: pytest.MonkeyPatch) -> SetChunk:
    """Set the CSV check's chunk size for one test."""

    def set_chunk(size: int) -> None:
        monkeypatch.setattr(table_module, "_CHUNK", size)

    return set_chunk


# --- a character, a BOM, a NUL or a bad byte cut by a chunk edge --------------------------------


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 6, 7])
def test_a_two_byte_character_cut_by_a_chunk_edge_is_read_whole(chunk: SetChunk, size: int) -> None:
    # "é" is two bytes (c3 a9): with every small chunk size one of them falls on an edge.
    chunk(size)
    header, header_row, rows, errors = _read("région,valeur\nNîmes,é\n".encode())
    assert header == ["région", "valeur"]
    assert header_row == 1
    assert rows == [TableRow(2, ["Nîmes", "é"])]
    assert errors == []


@pytest.mark.parametrize("size", [1, 2, 3, 4])
def test_a_bom_cut_by_a_chunk_edge_is_dropped(chunk: SetChunk, size: int) -> None:
    # The three BOM bytes, as Excel's "CSV UTF-8" writes them, are not part of the first name.
    chunk(size)
    header, _, rows, _ = _read(BOM + b"a;b\n1;2\n")
    assert header == ["a", "b"]
    assert rows == [TableRow(2, ["1", "2"])]


@pytest.mark.parametrize("size", [4, 5, 6])
def test_a_nul_in_a_later_chunk_refuses_the_file(chunk: SetChunk, size: int) -> None:
    # "a,b\n" is 4 bytes: the NUL is the first byte of the second chunk (4), or inside it.
    chunk(size)
    assert _refusal(b"a,b\n\x001,2\n") == BINARY


def test_a_nul_in_the_last_byte_refuses_the_file(chunk: SetChunk) -> None:
    chunk(3)
    assert _refusal(b"a,b\n1,2\n\x00") == BINARY


@pytest.mark.parametrize(
    ("data", "line"),
    [
        (b"a,b\n1,2\n\xff", 3),  # the last byte, in the last chunk
        (b"a,b\n\xff,2\n", 2),  # the first byte of the second chunk
        (b"a,\xc3\n", 1),  # a character's first byte, its second byte missing at the end
    ],
)
def test_a_byte_that_is_not_utf8_in_a_later_chunk_names_its_line(
    chunk: SetChunk, data: bytes, line: int
) -> None:
    chunk(4)
    assert _refusal(data) == (
        f"The file is not UTF-8 text (the first unreadable character is on line {line}). "
        "In your spreadsheet program choose 'Save as' → 'CSV UTF-8', or upload the "
        ".xlsx workbook instead."
    )


@pytest.mark.parametrize("data", [b"", b" ", b"\n", b" \r\n \t\n" * 5, BOM, BOM + b"\n\n"])
@pytest.mark.parametrize("size", [1, 3, 1 << 20])
def test_blank_files_over_any_number_of_chunks_are_empty(
    chunk: SetChunk, data: bytes, size: int
) -> None:
    chunk(size)
    assert _refusal(data) == EMPTY


@pytest.mark.parametrize("size", [1, 2, 3])
def test_text_in_the_last_chunk_only_is_not_empty(chunk: SetChunk, size: int) -> None:
    chunk(size)
    header, header_row, rows, _ = _read(b"\n\n\n\nx")
    assert (header, header_row, rows) == (["x"], 5, [])


# --- the separator: decided by the whole first line, however the chunks cut it -----------------

# With ";" the header has four cells, with "," two: only the whole line says ";". A check that
# took the line before its end (the first 3 bytes: "x,y") would choose ",".
SEMICOLON_HEADER = b"x,y;z;w;v\n1;2;3;4\n"


@pytest.mark.parametrize("size", [1, 3, 5, 9, 10, 11, 1 << 20])
def test_the_separator_comes_from_the_whole_first_line(chunk: SetChunk, size: int) -> None:
    chunk(size)
    header, _, rows, errors = _read(SEMICOLON_HEADER)
    assert header == ["x,y", "z", "w", "v"]
    assert rows == [TableRow(2, ["1", "2", "3", "4"])]
    assert errors == []


@pytest.mark.parametrize("size", [1, 2, 4, 7])
def test_blank_lines_before_the_header_do_not_decide_the_separator(
    chunk: SetChunk, size: int
) -> None:
    # The blank lines (one of spaces, which is blank too) span several chunks; the header on
    # line 4 decides.
    chunk(size)
    header, header_row, rows, _ = _read(b"\n   \n\r\na;b;c\n1;2;3\n")
    assert header == ["a", "b", "c"]
    assert header_row == 4
    assert rows == [TableRow(5, ["1", "2", "3"])]


@pytest.mark.parametrize("size", [1, 4, 1 << 20])
def test_a_header_without_a_line_break_at_the_end_of_the_file_decides(
    chunk: SetChunk, size: int
) -> None:
    chunk(size)
    # ";" splits it into three cells, "," into two; any part of it taken early would tie.
    header, _, rows, _ = _read(b"p;q;r,s")
    assert header == ["p", "q", "r,s"]
    assert rows == []


@pytest.mark.parametrize("size", [2, 3])
def test_a_first_line_ending_exactly_at_a_chunk_edge_decides(chunk: SetChunk, size: int) -> None:
    # "a;b\n" ends at byte 4: with chunks of 2 the line break closes the second chunk.
    chunk(size)
    header, _, rows, _ = _read(b"a;b\nc,d;e\n")
    assert header == ["a", "b"]
    assert rows == [TableRow(2, ["c,d", "e"])]


# --- which uploads are workbooks -----------------------------------------------------------------


def _workbook(rows: list[list[object]]) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_a_workbook_named_csv_is_read_as_a_workbook() -> None:
    # The content decides: the zip's first bytes, whatever the name says.
    data = _workbook([["indicator", "value"], ["HRC-1", 12]])
    header, header_row, rows, errors = _read(data, name="figures.csv")
    assert (header, header_row, rows, errors) == (
        ["indicator", "value"],
        1,
        [TableRow(2, ["HRC-1", "12"])],
        [],
    )


def test_a_workbook_keeps_its_header_row_and_row_errors_through_the_stream() -> None:
    # Two blank rows above the header; a row with a value right of the header is an error.
    data = _workbook([[], [], ["a", "b"], [1, 2], [3, 4, 5], [6, 7]])
    header, header_row, rows, errors = _read(data, name="book.xlsx")
    assert header == ["a", "b"]
    assert header_row == 3
    assert rows == [TableRow(4, ["1", "2"]), TableRow(6, ["6", "7"])]
    assert [(error.row, error.column) for error in errors] == [(5, None)]


@pytest.mark.parametrize("name", ["figures.xlsx", "FIGURES.XLSX", "Figures.Xlsm", "a.xlsm"])
def test_text_named_like_a_workbook_is_refused_through_the_stream(name: str) -> None:
    assert _refusal(b"a,b\n1,2\n", name=name) == (
        f"The file '{name}' is named like an Excel workbook but is not one "
        "(an .xlsx file is a zip archive). Save it again from your spreadsheet program."
    )


@pytest.mark.parametrize("name", ["figures.csv", "figures.xlsx.csv", "xlsx", "", None])
def test_text_named_otherwise_is_read_as_csv(name: str | None) -> None:
    header, _, rows, _ = _read(b"a,b\n1,2\n", name=name)  # type: ignore[arg-type]
    assert (header, rows) == (["a", "b"], [TableRow(2, ["1", "2"])])


def test_an_old_excel_file_is_refused_with_advice_through_the_stream() -> None:
    data = table_module.OLE_MAGIC + b"\x00" * 100
    assert _refusal(data, name="old.csv").startswith("This is an old-style Excel file (.xls).")


def test_the_upload_is_read_from_its_start_wherever_it_stands() -> None:
    # The caller may already have read the upload (e.g. to sniff or to size it).
    for data in (_workbook([["a"], ["x"]]), b"a\nx\n"):
        source = io.BytesIO(data)
        source.seek(0, io.SEEK_END)
        stream = open_table("upload", source)
        assert stream.header == ["a"]
        assert list(stream.rows(lambda error: None)) == [TableRow(2, ["x"])]
        stream.close()


# --- letting go of the upload, and failures while reading ---------------------------------------


def test_close_lets_go_of_the_upload_without_closing_it() -> None:
    source = io.BytesIO(b"a,b\n1,2\n")
    stream = open_table("f.csv", source)
    assert list(stream.rows(lambda error: None)) == [TableRow(2, ["1", "2"])]
    stream.close()
    stream.close()  # a second close does nothing
    del stream
    gc.collect()  # a text wrapper still holding the upload would close it when collected
    assert not source.closed
    source.seek(0)
    assert source.read() == b"a,b\n1,2\n"  # the caller can still use (or keep) the upload


def test_an_upload_closed_while_its_rows_are_read_is_a_table_error() -> None:
    source = io.BytesIO(b"a,b\n" + b"1,2\n" * 10_000)
    stream = open_table("f.csv", source)
    rows = stream.rows(lambda error: None)
    assert next(rows) == TableRow(2, ["1", "2"])
    source.close()
    with pytest.raises(TableError) as caught:
        list(rows)
    assert caught.value.message == UNREADABLE + " (ValueError)"


class _OneWayRaw(io.RawIOBase):
    """A readable upload that cannot seek (a pipe, a socket)."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:  # type: ignore[override]
        data = self._data.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def test_an_upload_that_cannot_seek_is_a_table_error_naming_why() -> None:
    source = io.BufferedReader(_OneWayRaw(b"a,b\n1,2\n"))
    with pytest.raises(TableError) as caught:
        open_table("f.csv", source)
    assert caught.value.message == UNREADABLE + " (UnsupportedOperation)"


def test_a_failure_inside_the_rows_becomes_a_table_error_naming_its_kind() -> None:
    def rows(on_error):
        yield TableRow(2, ["x"])
        raise KeyError("boom")

    stream = table_module.TableStream(["a"], 1, rows)
    produced = stream.rows(lambda error: None)
    assert next(produced) == TableRow(2, ["x"])
    with pytest.raises(TableError) as caught:
        next(produced)
    assert caught.value.message == UNREADABLE + " (KeyError)"


def test_a_table_error_inside_the_rows_keeps_its_own_message() -> None:
    def rows(on_error):
        raise TableError("Row 9 could not be read: field larger than field limit.")
        yield  # pragma: no cover

    stream = table_module.TableStream(["a"], 1, rows)
    with pytest.raises(TableError) as caught:
        list(stream.rows(lambda error: None))
    assert caught.value.message == "Row 9 could not be read: field larger than field limit."
