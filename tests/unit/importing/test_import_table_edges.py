"""read_table at its edges: the row checks' exact words, the bounds one below and one above, and
the choices the uploader never sees but relies on (which separator, which row is the header).

Written against ``read_table`` (bytes in, Table or TableError out), the entry point the import
service calls, so they hold whatever the reading does inside. Expected texts are the messages
the rules promise the uploader (docs/import.md); bounds come from the module's documented
limits. Written to kill the mutants ``make mutate MODULE=node/importing/table.py`` found alive
(docs/testing.md).
"""

from __future__ import annotations

import io
import zipfile
from datetime import date, time

import openpyxl
import pytest

from node.importing.table import (
    MAX_COLUMNS,
    MAX_XLSX_MEMBERS,
    MAX_XLSX_UNPACKED_BYTES,
    RowError,
    TableError,
    read_table,
)


def workbook(cells: dict[tuple[int, int], object]) -> bytes:
    """An .xlsx file holding only ``cells`` ((row, column) → value) on its first sheet."""
    book = openpyxl.Workbook()
    sheet = book.active
    for (row, column), value in cells.items():
        sheet.cell(row=row, column=column, value=value)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def refusal(name: str, data: bytes | bytearray | str) -> str:
    with pytest.raises(TableError) as info:
        read_table(name, data)  # type: ignore[arg-type]
    assert str(info.value) == info.value.message
    return info.value.message


# --- which separator -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "header"),
    [
        ("a;b;c,d\n", ["a", "b", "c,d"]),  # ";" gives 3 cells, "," gives 2
        ("a,b,c;d\n", ["a", "b", "c;d"]),  # "," gives 3, ";" gives 2
        ("a;b,c\n", ["a;b", "c"]),  # as many either way: "," (the CSV default)
        ("\n  \na;b;c\n", ["a", "b", "c"]),  # the first non-blank line decides
        ('"x;y;z",w\n', ["x;y;z", "w"]),  # a quoted ";" is not a separator
    ],
)
def test_the_header_line_decides_the_separator(text: str, header: list[str]) -> None:
    assert read_table("r.csv", text.encode()).header == header


# --- which row is the header, and the row checks' words ---------------------------------------


def test_csv_row_checks_name_the_header_row_and_count_the_cells() -> None:
    data = b"\n\nindicator,period,value\n\nX,2025,1\nX,2025\nX,2025,1,9,\nX,2025,1,,\n"
    table = read_table("r.csv", data)
    assert table.header_row == 3
    assert table.rows == [(5, ["X", "2025", "1"]), (8, ["X", "2025", "1"])]
    assert table.errors == [
        RowError(
            6,
            None,
            "This row has 2 cells but the header has 3 columns. Check for a missing separator "
            "or a cell split in two.",
        ),
        RowError(
            7,
            None,
            "This row has values to the right of the last named column (2 more than the "
            "header). Give every column a name in row 3 or remove the extra cells.",
        ),
    ]


def test_xlsx_values_right_of_the_header_name_no_count() -> None:
    data = workbook({(2, 1): "a", (2, 2): "b", (3, 1): 1, (3, 4): "x", (4, 1): 2})
    table = read_table("book.xlsx", data)
    assert table.header_row == 2
    assert table.rows == [(4, ["2", ""])]
    assert table.errors == [
        RowError(
            3,
            None,
            "This row has values to the right of the last named column. Give every column a "
            "name in row 2 or remove the extra cells.",
        )
    ]


def test_a_date_in_the_header_refuses_the_file_naming_the_cell() -> None:
    data = workbook({(2, 1): "indicator", (2, 2): date(2025, 1, 1)})
    assert refusal("book.xlsx", data).startswith(
        "The header row (row 2) must hold column names as text; cell B2 holds a date or time."
    )


@pytest.mark.parametrize(
    ("column", "letters", "name"),
    [(1, "A", "c1"), (26, "Z", "c26"), (27, "AA", "c27"), (28, "AB", "c28"), (30, "AD", None)],
)
def test_a_cell_error_names_the_cell_and_its_column(
    column: int, letters: str, name: str | None
) -> None:
    # 28 named columns; a time typed into one cell of row 3 (column 30 is beyond the header).
    cells: dict[tuple[int, int], object] = {(1, c): f"c{c}" for c in range(1, 29)}
    cells[(2, 1)] = "fine"
    cells[(3, column)] = time(10, 30)
    table = read_table("book.xlsx", workbook(cells))
    assert [row.row for row in table.rows] == [2]
    [error] = table.errors
    assert (error.row, error.column) == (3, name)
    assert error.message.startswith(f"The cell {letters}3 holds a date or time.")


@pytest.mark.parametrize(("columns", "refused"), [(MAX_COLUMNS, False), (MAX_COLUMNS + 1, True)])
def test_header_width_edges(columns: int, refused: bool) -> None:
    header = ",".join(f"c{n}" for n in range(columns))
    data = (header + "\n").encode()
    if refused:
        assert refusal("r.csv", data) == f"The file has more than {MAX_COLUMNS} columns."
    else:
        assert len(read_table("r.csv", data).header) == MAX_COLUMNS


def test_a_csv_cell_beyond_the_field_limit_names_its_row() -> None:
    # Python's csv reader stops at 131,072 characters per cell and cannot go on after that.
    data = b"a,b\n1,2\n3," + b"x" * 131_073 + b"\n"
    assert refusal("r.csv", data).startswith("Row 3 could not be read: ")
    at_limit = b"a,b\n1,2\n3," + b"x" * 131_072 + b"\n"
    assert len(read_table("r.csv", at_limit).rows) == 2


# --- what is and is not a file ------------------------------------------------------------------


def test_no_content_is_refused_and_a_bytearray_is_read() -> None:
    assert refusal("r.csv", "a,b\n1,2\n") == "No file content was received."
    assert read_table("r.csv", bytearray(b"a,b\n1,2\n")).rows == [(2, ["1", "2"])]


@pytest.mark.parametrize("suffix", [".xlsx", ".XLSM"])
def test_text_named_like_a_workbook_is_refused_quoting_80_characters_of_the_name(
    suffix: str,
) -> None:
    name = "n" * 79 + "Q" + "z" * 20 + suffix
    message = refusal(name, b"a,b\n1,2\n")
    assert message.startswith(f"The file '{name[:80]}' is named like an Excel workbook")
    assert "Qz" not in message


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


TOO_LARGE = "The workbook is too large to import. Split it into smaller files."


@pytest.mark.parametrize(("extra", "refused"), [(0, False), (1, True)])
def test_unpacked_size_edges(extra: int, refused: bool) -> None:
    # Declared sizes are summed before anything is inflated: at the limit the archive is
    # opened (and found not to be a workbook), one byte beyond it is refused unopened.
    data = _zip({"a.bin": b"\0" * (MAX_XLSX_UNPACKED_BYTES - 10), "b.bin": b"\0" * (10 + extra)})
    message = refusal("book.xlsx", data)
    assert (message == TOO_LARGE) is refused


@pytest.mark.parametrize(
    ("members", "refused"), [(MAX_XLSX_MEMBERS, False), (MAX_XLSX_MEMBERS + 1, True)]
)
def test_member_count_edges(members: int, refused: bool) -> None:
    data = _zip({f"m{n}": b"" for n in range(members)})
    message = refusal("book.xlsx", data)
    assert (message == TOO_LARGE) is refused
