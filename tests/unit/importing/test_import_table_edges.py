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
from datetime import date, time, timedelta

import openpyxl
import pytest

from node.importing import table as table_module
from node.importing.table import (
    MAX_COLUMNS,
    MAX_XLSX_MEMBERS,
    MAX_XLSX_ROW,
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
    [
        (1, "A", "c1"),
        (26, "Z", "c26"),
        (27, "AA", "c27"),
        (28, "AB", "c28"),
        (29, "AC", None),
        (30, "AD", None),
    ],
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
    assert error.message == f"The cell {letters}3 {DATE_ADVICE}"


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
    assert message == (
        f"The file '{name[:80]}' is named like an Excel workbook but is not one (an .xlsx file "
        "is a zip archive). Save it again from your spreadsheet program."
    )
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


# --- what a workbook cell reads as --------------------------------------------------------------


def _rewrite_sheet(data: bytes, old: bytes, new: bytes) -> bytes:
    """The workbook with ``old`` replaced by ``new`` in its first sheet's XML (as Excel or
    another program could have written it; openpyxl itself writes no cached formula values)."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            content = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                assert old in content
                content = content.replace(old, new)
            target.writestr(item, content)
    return out.getvalue()


DATE_ADVICE = (
    "holds a date or time. Type periods as text such as 2025, 2025-H1, 2025-Q3 or 2025-07, and "
    "values as plain numbers (format the cell as 'Text' or 'General')."
)


def test_a_formula_reads_as_its_last_computed_value_not_its_text() -> None:
    data = workbook({(1, 1): "indicator", (1, 2): "value", (2, 1): "X", (2, 2): "=1+1"})
    data = _rewrite_sheet(data, b"<f>1+1</f><v />", b"<f>1+1</f><v>2</v>")
    assert read_table("book.xlsx", data).rows == [(2, ["X", "2"])]


def test_a_duration_cell_is_an_error_like_a_date() -> None:
    # Excel stores 12:00 hours as 0.5 with a duration format: not the number the user typed.
    data = workbook(
        {(1, 1): "indicator", (1, 2): "value", (2, 1): "X", (2, 2): timedelta(hours=12)}
    )
    table = read_table("book.xlsx", data)
    assert table.rows == []
    assert table.errors == [RowError(2, "value", f"The cell B2 {DATE_ADVICE}")]


def test_an_infinite_number_is_an_error_of_its_cell() -> None:
    data = workbook({(1, 1): "indicator", (1, 2): "value", (2, 1): "X", (2, 2): 7})
    data = _rewrite_sheet(data, b"<v>7</v>", b"<v>1E999</v>")
    table = read_table("book.xlsx", data)
    assert table.errors == [
        RowError(2, "value", "The cell B2 holds an invalid number (infinite or not a number).")
    ]


def test_a_cell_below_the_last_readable_row_is_refused_with_advice() -> None:
    row = MAX_XLSX_ROW + 1
    data = workbook({(1, 1): "indicator", (row, 1): "x"})
    assert refusal("book.xlsx", data) == (
        f"The worksheet has cells in row {row:,}; an import reads rows 1 to {MAX_XLSX_ROW:,} "
        "(at most 200,000 data rows). Delete the rows below your data (select them, "
        "right-click, Delete) and save again."
    )


@pytest.mark.parametrize(("cells", "refused"), [(6, False), (7, True)])
def test_cell_count_edges(monkeypatch: pytest.MonkeyPatch, cells: int, refused: bool) -> None:
    # The bound counts every cell the sheet's XML holds (4,000,000; lowered here to 6): a
    # header of two cells, then rows of two cells, and one more cell for the refused case.
    monkeypatch.setattr(table_module, "MAX_XLSX_CELLS", 6)
    layout = {(1, 1): "a", (1, 2): "b", (2, 1): 1, (2, 2): 2, (3, 1): 3, (3, 2): 4, (4, 1): 5}
    data = workbook(dict(list(layout.items())[:cells]))
    if refused:
        assert refusal("book.xlsx", data) == (
            "The worksheet has too many cells to import. Split it into smaller files."
        )
    else:
        assert len(read_table("book.xlsx", data).rows) == 2


def test_a_header_too_long_to_read_with_commas_is_read_with_semicolons() -> None:
    # Read with ",", this header line is one cell beyond the csv module's field limit; with ";"
    # it is two long but readable names: the separator that can read the line wins.
    first, second = "a" * 100_000, "b" * 100_000
    table = read_table("r.csv", f"{first};{second}\n1;2\n".encode())
    assert table.header == [first, second]
    assert table.rows == [(2, ["1", "2"])]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The file is empty."),
        (b" \r\n\t\n", "The file is empty."),
        (
            b"a,b\n1,2\n\xe9,3\n",
            "The file is not UTF-8 text (the first unreadable character is on line 3). In your "
            "spreadsheet program choose 'Save as' \u2192 'CSV UTF-8', or upload the .xlsx workbook "
            "instead.",
        ),
        (
            b"a,b\n1,\x002\n",
            "The file looks like a binary file, not a CSV text file or an .xlsx workbook.",
        ),
        (b",\n , ,\n", "The file has no header row: the first row must name the columns."),
        (
            b"\na,,c\n",
            "Column 2 of the header row (row 2) has no name. Every column needs a heading.",
        ),
        (
            b"a,b,a\n",
            "The column 'a' appears twice in the header row (row 1). Each column name may appear "
            "once.",
        ),
        (
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64,
            "This is an old-style Excel file (.xls). Open it in your spreadsheet program and save "
            "it as an Excel workbook (.xlsx) or as 'CSV UTF-8', then upload it again.",
        ),
        (
            b"PK\x03\x04" + b"\x00" * 64,
            "The file looks like an Excel workbook (.xlsx) but is damaged or incomplete. Save it "
            "again and upload the new copy.",
        ),
        (
            _zip({"hello.txt": b"hello"}),
            "The file could not be opened as an Excel workbook (.xlsx). If it comes from another "
            "program (e.g. .ods), save it as .xlsx or as 'CSV UTF-8'.",
        ),
    ],
)
def test_whole_file_refusals_word_for_word(data: bytes, message: str) -> None:
    assert refusal("upload.csv", data) == message


def test_a_quoted_cell_keeps_its_line_break_as_written() -> None:
    data = b'indicator,note\r\nX,"first line\r\nsecond line"\r\nY,"a\rb"\r\n'
    table = read_table("r.csv", data)
    assert table.rows == [(2, ["X", "first line\r\nsecond line"]), (3, ["Y", "a\rb"])]


def test_a_styled_empty_row_does_not_end_the_sheet() -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["indicator", "value"])
    sheet.append(["X", 1])
    sheet.cell(row=3, column=1).number_format = "0.00"  # present in the XML, no value
    sheet.cell(row=3, column=2).number_format = "0.00"
    sheet.append(["Y", 2])
    buffer = io.BytesIO()
    book.save(buffer)
    assert b'<row r="3"' in zipfile.ZipFile(buffer).read("xl/worksheets/sheet1.xml")
    table = read_table("book.xlsx", buffer.getvalue())
    assert table.rows == [(2, ["X", "1"]), (4, ["Y", "2"])]


@pytest.mark.parametrize(("column", "letters"), [(MAX_COLUMNS + 1, "SG"), (16_384, "XFD")])
def test_a_value_beyond_the_last_readable_column_is_named_by_its_letters(
    column: int, letters: str
) -> None:
    # Letters as Excel shows them (openpyxl.utils.get_column_letter agrees).
    data = workbook({(1, 1): "indicator", (2, 1): "X", (2, column): "far"})
    assert refusal("book.xlsx", data) == (
        f"Row 2 has a value in column {letters}; an import reads at most {MAX_COLUMNS} columns."
    )


@pytest.mark.parametrize("trailing", [",", ",,", ",,,"])
def test_any_number_of_empty_columns_after_the_header_is_ignored(trailing: str) -> None:
    table = read_table("r.csv", f"a,b{trailing}\n1,2{trailing}\n".encode())
    assert table.header == ["a", "b"]
    assert table.rows == [(2, ["1", "2"])]


def test_a_repeated_long_column_name_is_quoted_to_80_characters() -> None:
    name = "n" * 79 + "Q" + "z" * 20
    message = refusal("r.csv", f"{name},{name}\n".encode())
    assert message == (
        f"The column '{name[:80]}' appears twice in the header row (row 1). Each column name "
        "may appear once."
    )


def _with_shared_strings(data: bytes) -> bytes:
    """The workbook as Excel writes it: text cells point into xl/sharedStrings.xml (openpyxl
    writes them inline)."""
    import re

    source = zipfile.ZipFile(io.BytesIO(data))
    strings: list[str] = []

    def shared(match: re.Match[bytes]) -> bytes:
        strings.append(match.group(2).decode())
        return b'<c r="%s" t="s"><v>%d</v></c>' % (match.group(1), len(strings) - 1)

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            content = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                content = re.sub(
                    rb'<c r="([A-Z]+[0-9]+)" t="inlineStr"><is><t>([^<]*)</t></is></c>',
                    shared,
                    content,
                )
            elif item.filename == "xl/_rels/workbook.xml.rels":
                content = content.replace(
                    b"</Relationships>",
                    b'<Relationship Type="http://schemas.openxmlformats.org/officeDocument/2006/'
                    b'relationships/sharedStrings" Target="sharedStrings.xml" Id="rId9" />'
                    b"</Relationships>",
                )
            elif item.filename == "[Content_Types].xml":
                content = content.replace(
                    b"</Types>",
                    b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
                    b'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml" />'
                    b"</Types>",
                )
            target.writestr(item, content)
        items = "".join(f"<si><t>{text}</t></si>" for text in strings)
        target.writestr(
            "xl/sharedStrings.xml",
            '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
            f'count="{len(strings)}" uniqueCount="{len(strings)}">{items}</sst>',
        )
    return out.getvalue()


def test_text_cells_in_the_shared_strings_table_are_read() -> None:
    data = _with_shared_strings(
        workbook({(1, 1): "indicator", (1, 2): "value", (2, 1): "HRC-HOU-04", (2, 2): 3})
    )
    assert b't="s"' in zipfile.ZipFile(io.BytesIO(data)).read("xl/worksheets/sheet1.xml")
    table = read_table("book.xlsx", data)
    assert table.header == ["indicator", "value"]
    assert table.rows == [(2, ["HRC-HOU-04", "3"])]


def test_a_worksheet_that_cannot_be_parsed_is_refused_as_damaged() -> None:
    data = workbook({(1, 1): "indicator", (2, 1): "X"})
    data = _rewrite_sheet(data, b"<sheetData>", b"<sheetData><row r='1'><c r='A1'><v>1</c>")
    assert refusal("book.xlsx", data) == (
        "The workbook (.xlsx) is damaged: its first worksheet could not be read. Save it again "
        "from your spreadsheet program and upload the new copy."
    )


def test_old_mac_line_endings_are_line_endings() -> None:
    # "CSV (Macintosh)" from older spreadsheet programs ends lines with a bare CR.
    table = read_table("r.csv", b"indicator,value\r X,1\rY,2\r")
    assert table.header == ["indicator", "value"]
    assert table.rows == [(2, ["X", "1"]), (3, ["Y", "2"])]


def test_a_workbook_without_a_worksheet_is_refused() -> None:
    # A workbook whose sheet list is empty (another program's output, or an edited archive).
    data = workbook({(1, 1): "indicator"})
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            content = source.read(item.filename)
            if item.filename == "xl/workbook.xml":
                start, end = content.index(b"<sheets>"), content.index(b"</sheets>")
                content = content[:start] + b"<sheets/>" + content[end + len(b"</sheets>") :]
            target.writestr(item, content)
    assert refusal("book.xlsx", out.getvalue()) == "The workbook has no worksheet with data."


def test_a_zip_asking_for_a_newer_zip_version_is_refused_naming_why() -> None:
    # The central directory's "version needed to extract" set to 24.0 (Python reads up to 6.3):
    # zipfile raises NotImplementedError, neither BadZipFile nor a TableError; the upload still
    # gets the general message, naming the kind of failure, and never a 500.
    data = bytearray(workbook({(1, 1): "indicator"}))
    entry = data.index(b"PK\x01\x02")
    data[entry + 6 : entry + 8] = (240).to_bytes(2, "little")
    assert refusal("book.xlsx", bytes(data)) == (
        "The file could not be read as a table. Upload a CSV file (UTF-8) or an Excel "
        "workbook (.xlsx). (NotImplementedError)"
    )
