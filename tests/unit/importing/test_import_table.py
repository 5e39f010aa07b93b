"""read_table: CSV and XLSX uploads into text tables, and refusal of anything unreadable."""

from __future__ import annotations

import io
from datetime import date, datetime

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.importing import table as table_module
from node.importing.table import RowError, Table, TableError, read_table
from tests.support import examples


def workbook_bytes(rows: list[list[object]], formats: dict[str, str] | None = None) -> bytes:
    """An .xlsx file with ``rows`` on its first sheet (``formats``: cell → number format)."""
    book = openpyxl.Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    for reference, number_format in (formats or {}).items():
        sheet[reference].number_format = number_format
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


# --- CSV ---------------------------------------------------------------------------------------


def test_csv_comma_with_stripped_cells() -> None:
    table = read_table("r.csv", b"indicator, period ,value\n HRC-HOU-04 ,2025, 12.50 \n")
    assert table.header == ["indicator", "period", "value"]
    assert table.rows == [(2, ["HRC-HOU-04", "2025", "12.50"])]
    assert table.errors == []
    assert table.header_row == 1


def test_csv_semicolon_with_bom_and_crlf() -> None:
    data = "\ufeffindicator;period;value;SEX\r\nHRC-HOU-04;2025;1,5;F\r\n".encode()
    table = read_table("r.csv", data)
    assert table.header == ["indicator", "period", "value", "SEX"]
    assert table.rows[0].cells == ["HRC-HOU-04", "2025", "1,5", "F"]


def test_csv_row_numbers_count_blank_lines_and_quoted_line_breaks() -> None:
    data = b'a,b\n\n1,"two\nlines"\n3,4\n'
    table = read_table("r.csv", data)
    # record 3 holds a line break inside quotes: still one spreadsheet row
    assert [row.row for row in table.rows] == [3, 4]
    assert table.rows[0].cells == ["1", "two\nlines"]


def test_csv_row_with_wrong_cell_count_is_an_error_of_that_row() -> None:
    table = read_table("r.csv", b"a,b,c\n1,2,3\n1,2\n1,2,3,4\n1,2,3,\n5,6,7\n")
    assert [row.row for row in table.rows] == [2, 5, 6]  # a trailing empty cell is harmless
    assert [(e.row, e.column) for e in table.errors] == [(3, None), (4, None)]
    assert "2 cells but the header has 3 columns" in table.errors[0].message
    assert "right of the last named column" in table.errors[1].message


def test_csv_trailing_empty_header_cells_are_ignored() -> None:
    table = read_table("r.csv", b"a,b,,\n1,2,,\n")
    assert table.header == ["a", "b"]
    assert table.rows[0].cells == ["1", "2"]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", "empty"),
        (b"   \n\n", "empty"),
        (b"\xef\xbb\xbf", "empty"),
        (b"a,b\n\xff\xfe,1\n", "not UTF-8 text (the first unreadable character is on line 2)"),
        (b"a,b\x00c\n", "binary"),
        (b"a,,c\n1,2,3\n", "Column 2 of the header row (row 1) has no name"),
        (b"a,b,a\n1,2,3\n", "appears twice"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "old-style Excel file (.xls)"),
    ],
)
def test_unreadable_csv_is_refused_with_a_clear_message(data: bytes, expected: str) -> None:
    with pytest.raises(TableError) as info:
        read_table("upload.csv", data)
    assert expected in info.value.message


def test_text_named_xlsx_is_refused() -> None:
    with pytest.raises(TableError, match="named like an Excel workbook"):
        read_table("results.xlsx", b"indicator,period,value\n")


def test_content_decides_not_the_name() -> None:
    data = workbook_bytes([["indicator", "period", "value"], ["HRC-HOU-04", "2025", "1"]])
    assert read_table("results.csv", data).rows[0].cells == ["HRC-HOU-04", "2025", "1"]


def test_header_only_gives_no_rows() -> None:
    table = read_table("r.csv", b"indicator,period,value\n")
    assert table == Table(header=["indicator", "period", "value"], rows=[], errors=[])


def test_too_many_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(table_module, "MAX_ROWS", 3)
    assert len(read_table("r.csv", b"a\n1\n2\n3\n").rows) == 3
    with pytest.raises(TableError) as caught:
        read_table("r.csv", b"a\n1\n2\n3\n4\n")
    assert (
        caught.value.message == "The file has more than 3 data rows. Split it into smaller files."
    )


def test_the_row_limit_is_written_with_thousands_separators(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(table_module, "MAX_ROWS", 1_000_000)
    data_rows = iter([(1, ["a"], [])] + [(n, ["1"], []) for n in range(2, 1_000_003)])
    with pytest.raises(TableError) as caught:
        table_module._build_table(data_rows, strict_width=True)
    assert caught.value.message == (
        "The file has more than 1,000,000 data rows. Split it into smaller files."
    )


def test_a_csv_of_more_than_200000_rows_is_read() -> None:
    """Issue 14: a large city's file is not cut at 200,000 rows (refused before; the limit is
    now a million CSV rows, checked above with a smaller patched limit)."""
    data = b"a,b\n" + b"1,2\n" * 200_001
    table = read_table("big.csv", data)
    assert len(table.rows) == 200_001
    assert table.rows[-1].row == 200_002 and table.rows[-1].cells == ["1", "2"]
    assert table_module.MAX_ROWS == 1_000_000


def test_row_error_reads_well() -> None:
    assert str(RowError(4, "period", "bad")) == "Row 4, column 'period': bad"
    assert str(RowError(4, None, "bad")) == "Row 4: bad"


# --- XLSX --------------------------------------------------------------------------------------


def test_xlsx_cells_become_exact_text() -> None:
    data = workbook_bytes(
        [
            ["indicator", "period", "value", "flag", "share", "note"],
            ["  HRC-HOU-04 ", 2025, 12.5, True, 0.125, None],
            [],
            ["HRC-HOU-04", 2019.0, 0.1, False, 0.5, "text"],
            ["HRC-HOU-04", "2025-Q3", 1e-7, None, 1, 3],
        ],
        formats={"E2": "0.0%", "E4": "0%", "E5": "0%"},
    )
    table = read_table("book.xlsx", data)
    assert table.errors == []
    assert table.header == ["indicator", "period", "value", "flag", "share", "note"]
    assert table.rows == [
        (2, ["HRC-HOU-04", "2025", "12.5", "true", "12.5", ""]),  # 12.5% is stored as 0.125
        (4, ["HRC-HOU-04", "2019", "0.1", "false", "50", "text"]),
        (5, ["HRC-HOU-04", "2025-Q3", "0.0000001", "", "100", "3"]),
    ]


def test_xlsx_date_cell_is_an_error_of_its_row_and_column() -> None:
    data = workbook_bytes(
        [
            ["indicator", "period", "value"],
            ["HRC-HOU-04", date(2025, 1, 1), 3],
            ["HRC-HOU-04", "2025", 4],
            ["HRC-HOU-04", "2026", datetime(2026, 5, 1, 10, 0)],
        ]
    )
    table = read_table("book.xlsx", data)
    assert [row.row for row in table.rows] == [3]
    assert [(e.row, e.column) for e in table.errors] == [(2, "period"), (4, "value")]
    assert "The cell B2 holds a date or time" in table.errors[0].message


def test_xlsx_values_right_of_header_are_an_error() -> None:
    data = workbook_bytes([["a", "b"], [1, 2, None, "x"], [3, 4]])
    table = read_table("book.xlsx", data)
    assert [row.row for row in table.rows] == [3]
    assert table.errors[0].row == 2 and "right of the last named column" in table.errors[0].message


def test_xlsx_empty_workbook_has_no_header() -> None:
    with pytest.raises(TableError, match="no header row"):
        read_table("book.xlsx", workbook_bytes([]))


def test_damaged_xlsx_is_refused() -> None:
    data = workbook_bytes([["a"], [1]])
    with pytest.raises(TableError, match="Excel workbook"):
        read_table("book.xlsx", data[: len(data) // 2])


def test_zip_that_is_not_a_workbook_is_refused() -> None:
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("hello.txt", "hello")
    with pytest.raises(TableError, match="could not be opened as an Excel workbook"):
        read_table("book.xlsx", buffer.getvalue())


# --- never anything but TableError -------------------------------------------------------------


def _read_or_refuse(name: str, data: bytes) -> None:
    try:
        table = read_table(name, data)
    except TableError as exc:
        assert exc.message
        return
    assert isinstance(table, Table)
    for row in table.rows:
        assert len(row.cells) == len(table.header)


@settings(max_examples=examples(300), deadline=None)
@given(st.binary(max_size=3000), st.sampled_from(["x.csv", "x.xlsx", "x", ""]))
def test_random_bytes_never_crash(data: bytes, name: str) -> None:
    _read_or_refuse(name, data)


@settings(max_examples=examples(150), deadline=None)
@given(st.binary(max_size=2000))
def test_random_bytes_after_zip_magic_never_crash(tail: bytes) -> None:
    _read_or_refuse("x.xlsx", b"PK\x03\x04" + tail)


@settings(max_examples=examples(300), deadline=None)
@given(st.text(alphabet=st.sampled_from(list('ab1;,"\n\r \t\ufeff\u00e9')), max_size=300))
def test_random_csv_text_never_crashes(text: str) -> None:
    _read_or_refuse("x.csv", text.encode())


_VALID_BOOK = workbook_bytes([["indicator", "period", "value"], ["HRC-HOU-04", 2025, 12.5]])


@settings(max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.integers(0, len(_VALID_BOOK) - 1), st.integers(0, 255)), min_size=1, max_size=8
    )
)
def test_damaged_workbooks_never_crash(changes: list[tuple[int, int]]) -> None:
    data = bytearray(_VALID_BOOK)
    for position, byte in changes:
        data[position] = byte
    _read_or_refuse("x.xlsx", bytes(data))


# --- XLSX bounds (hostile workbooks) ----------------------------------------------------------


def _sparse_workbook(cells: dict[tuple[int, int], object]) -> bytes:
    """A workbook holding only ``cells`` ((row, column) → value), written by openpyxl."""
    book = openpyxl.Workbook()
    sheet = book.active
    for (row, column), value in cells.items():
        sheet.cell(row=row, column=column, value=value)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def test_one_cell_at_the_last_excel_row_is_refused_fast() -> None:
    import time

    data = _sparse_workbook({(1, 1): "indicator", (1_048_576, 1): "x"})
    assert len(data) < 8_000  # a tiny upload...
    started = time.perf_counter()
    with pytest.raises(TableError, match="row 1,048,576"):
        read_table("book.xlsx", data)
    # ...used to keep a worker 11-23 s; the rule refuses it while reading row 1,048,576.
    assert time.perf_counter() - started < 2.0


@pytest.mark.parametrize(
    ("row", "refused"),
    [
        (table_module.MAX_XLSX_ROW - 1, False),
        (table_module.MAX_XLSX_ROW, False),
        (table_module.MAX_XLSX_ROW + 1, True),
    ],
)
def test_last_readable_row_edges(row: int, refused: bool) -> None:
    data = _sparse_workbook(
        {(1, 1): "indicator", (1, 2): "period", (row, 1): "X", (row, 2): "2025"}
    )
    if refused:
        with pytest.raises(TableError, match=f"row {row:,}"):
            read_table("book.xlsx", data)
    else:
        table = read_table("book.xlsx", data)
        assert [r.row for r in table.rows] == [row]
        assert table.rows[0].cells == ["X", "2025"]


@pytest.mark.parametrize(
    ("column", "refused"),
    [
        (table_module.MAX_COLUMNS, False),
        (table_module.MAX_COLUMNS + 1, True),
        (16_384, True),
    ],
)
def test_last_readable_column_edges(column: int, refused: bool) -> None:
    data = _sparse_workbook({(1, 1): "indicator", (2, 1): "X", (2, column): "far"})
    if refused:
        with pytest.raises(TableError, match=f"at most {table_module.MAX_COLUMNS} columns"):
            read_table("book.xlsx", data)
    else:
        table = read_table("book.xlsx", data)
        assert table.errors and "right of the last named column" in table.errors[0].message


def test_declared_dimension_is_not_trusted() -> None:
    # A sheet claiming A1:XFD1048576 but holding two rows reads as two rows, quickly.
    import time
    import zipfile

    data = workbook_bytes([["indicator", "period"], ["X", "2025"]])
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            content = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                content = content.replace(
                    b'<dimension ref="A1:B2" />', b'<dimension ref="A1:XFD1048576" />'
                )
                assert b"XFD1048576" in content
            target.writestr(item, content)
    started = time.perf_counter()
    table = read_table("book.xlsx", out.getvalue())
    assert time.perf_counter() - started < 2.0
    assert [r.cells for r in table.rows] == [["X", "2025"]]


def test_blank_rows_between_data_keep_their_row_numbers() -> None:
    data = _sparse_workbook({(1, 1): "a", (1, 2): "b", (5, 1): "1", (9, 2): "2"})
    table = read_table("book.xlsx", data)
    assert [(r.row, r.cells) for r in table.rows] == [(5, ["1", ""]), (9, ["", "2"])]


def test_csv_cells_with_invalid_text_are_refused() -> None:
    with pytest.raises(TableError):
        read_table("x.csv", b"indicator,period\nX\x00,2025\n")


def test_cells_with_invalid_text_are_errors_of_their_row() -> None:
    # XML cannot carry these characters, so no real workbook holds them; the rule still holds
    # for any reader feeding the table builder.
    records = [
        (1, ["indicator", "period", "note"], []),
        (2, ["HRC-HOU-01", "2025", "fine"], []),
        (3, ["HRC-HOU-01", "2026", "bad\x00"], []),
        (4, ["HRC-HOU-01", "2027", "bad\ud800"], []),
    ]
    table = table_module._build_table(records, strict_width=False)
    assert [r.row for r in table.rows] == [2]
    assert [(e.row, e.column) for e in table.errors] == [(3, "note"), (4, "note")]
    assert [e.message for e in table.errors] == [
        "The cell C3 holds a character that is not valid text (NUL or a lone surrogate).",
        "The cell C4 holds a character that is not valid text (NUL or a lone surrogate).",
    ]


@pytest.mark.parametrize("bad", ["indicator\x00", "\ud800"])
def test_a_header_cell_with_invalid_text_refuses_the_file_naming_the_cell(bad: str) -> None:
    # As for data rows: no real workbook carries these characters, any reader feeding the
    # table builder may; a header that names a column with them is no header.
    records = [(1, ["", ""], []), (2, ["period", bad], []), (3, ["2025", "x"], [])]
    with pytest.raises(TableError) as caught:
        table_module._build_table(records, strict_width=False)
    assert caught.value.message == (
        "The header row (row 2) must hold column names as text; cell B2 holds a character "
        "that is not valid text (NUL or a lone surrogate)."
    )
