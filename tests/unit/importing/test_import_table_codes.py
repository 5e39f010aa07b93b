"""Every refusal of the upload reader carries its rule and its values (issue 15).

``node/importing/table.py`` refuses in English (the API's ``detail`` and ``errors[].message``,
pinned word for word by the other tests of this folder) and, for pages, as a
``node.refusals.Problem``: the code (``unreadable_file`` for a whole file, ``unreadable_cell``
for a row), the ``variant`` naming the rule (a page words it from ``code:variant``) and the
``params`` the sentence quotes, numbers as numbers so a page writes them its way. A wrong
variant shows another rule's sentence; a wrong or missing value shows a wrong row or a
fallback. Expected values come from the rules (docs/import.md) and the module's limits.
"""

from __future__ import annotations

import io
import zipfile
from datetime import date
from typing import Any

import pytest

from node.importing import table as table_module
from node.importing.table import (
    MAX_COLUMNS,
    MAX_XLSX_DATA_ROWS,
    MAX_XLSX_ROW,
    OLE_MAGIC,
    TableError,
    TableRow,
    open_table,
    read_table,
)
from tests.unit.importing.test_import_table_edges import _rewrite_sheet, workbook


def _coded(message: Any) -> tuple[str, str | None, dict[str, Any]]:
    return message.code, message.variant, message.params


def refused(name: str, data: Any) -> tuple[str, str | None, dict[str, Any]]:
    """(code, variant, params) of the refusal of ``data`` read whole, and the same again when
    it is read as a stream (both paths must word it alike)."""
    with pytest.raises(TableError) as whole:
        read_table(name, data)
    coded = _coded(whole.value.message)
    if isinstance(data, bytes):
        with pytest.raises(TableError) as streamed:
            stream = open_table(name, io.BytesIO(data))
            try:
                list(stream.rows(lambda error: None))
            finally:
                stream.close()
        assert _coded(streamed.value.message) == coded
    return coded


def _without_sheets(data: bytes) -> bytes:
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            content = source.read(item.filename)
            if item.filename == "xl/workbook.xml":
                start, end = content.index(b"<sheets>"), content.index(b"</sheets>")
                content = content[:start] + b"<sheets/>" + content[end + len(b"</sheets>") :]
            target.writestr(item, content)
    return out.getvalue()


def _zip_of_text() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("notes.txt", "not a workbook")
    return out.getvalue()


F = "unreadable_file"


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        ("a.csv", "text, not bytes", (F, "table_no_content", {})),
        ("a.xls", OLE_MAGIC + b"\x00" * 32, (F, "table_old_xls", {})),
        ("Book.xlsx", b"a,b\n1,2\n", (F, "table_named_like_workbook", {"name": "Book.xlsx"})),
        ("x" * 90 + ".xlsm", b"a\n", (F, "table_named_like_workbook", {"name": "x" * 80})),
        ("a.csv", b"a,b\n\x00\n", (F, "table_binary", {})),
        ("a.csv", b"", (F, "table_empty", {})),
        ("a.csv", b" \n\t\n", (F, "table_empty", {})),
        ("a.csv", b"a,b\n1,2\n3,\xff\n", (F, "table_not_utf8", {"line": 3})),
        (
            "a.csv",
            b"a,b\n1,2\n3," + b"x" * 131_073 + b"\n",
            (
                F,
                "table_row_unreadable",
                {"row": 3, "detail": "field larger than field limit (131072)"},
            ),
        ),
        ("a.xlsx", b"PK\x03\x04" + b"\x01" * 40, (F, "table_xlsx_damaged", {})),
        ("a.xlsx", _zip_of_text(), (F, "table_not_a_workbook", {})),
        ("a.xlsx", _without_sheets(workbook({(1, 1): "a"})), (F, "table_no_worksheet", {})),
        (
            "a.xlsx",
            _rewrite_sheet(
                workbook({(1, 1): "a"}),
                b"<sheetData>",
                b"<sheetData><row r='1'><c r='A1'><v>1</c>",
            ),
            (F, "table_sheet_damaged", {}),
        ),
        (
            "a.xlsx",
            workbook({(1, 1): "a", (MAX_XLSX_ROW + 1, 1): "x"}),
            (
                F,
                "table_row_beyond_bounds",
                {"row": MAX_XLSX_ROW + 1, "max_row": MAX_XLSX_ROW, "max_rows": MAX_XLSX_DATA_ROWS},
            ),
        ),
        (
            "a.xlsx",
            workbook({(1, 1): "a", (2, MAX_COLUMNS + 1): "x"}),
            (
                F,
                "table_column_beyond_bounds",
                {"row": 2, "column": "SG", "max_columns": MAX_COLUMNS},
            ),
        ),
        (
            "a.xlsx",
            workbook({(2, 1): "a", (2, 2): date(2025, 1, 1)}),
            (F, "table_header_not_text", {"row": 2, "cell": "B2"}),
        ),
        ("a.csv", b",,\n,\n", (F, "table_no_header", {})),
        (
            "a.csv",
            (",".join(f"c{n}" for n in range(MAX_COLUMNS + 1)) + "\n").encode(),
            (F, "table_too_many_columns", {"max_columns": MAX_COLUMNS}),
        ),
        ("a.csv", b"\na,,b\n", (F, "table_unnamed_column", {"position": 2, "row": 2})),
        ("a.csv", b"\n\na,b,a\n", (F, "table_column_twice", {"name": "a", "row": 3})),
        (
            "a.csv",
            ("y" * 90 + ",b," + "y" * 90 + "\n").encode(),
            (F, "table_column_twice", {"name": "y" * 80, "row": 1}),
        ),
    ],
)
def test_a_file_refused_whole_names_its_rule_and_values(
    name: str, data: Any, expected: tuple[str, str, dict[str, Any]]
) -> None:
    assert refused(name, data) == expected


def test_a_workbook_too_large_names_its_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(table_module, "MAX_XLSX_MEMBERS", 1)
    assert refused("a.xlsx", workbook({(1, 1): "a"})) == (F, "table_workbook_too_large", {})


def test_a_worksheet_with_too_many_cells_names_its_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(table_module, "MAX_XLSX_CELLS", 1)
    data = workbook({(1, 1): "a", (1, 2): "b"})
    assert refused("a.xlsx", data) == (F, "table_too_many_cells", {})


def test_too_many_rows_names_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(table_module, "MAX_ROWS", 1)
    assert refused("a.csv", b"a\n1\n2\n") == (F, "table_too_many_rows", {"max_rows": 1})


def test_any_other_failure_names_its_kind() -> None:
    def rows(on_error: Any) -> Any:
        yield TableRow(2, ["x"])
        raise KeyError("boom")

    stream = table_module.TableStream(["a"], 1, rows)
    with pytest.raises(TableError) as caught:
        list(stream.rows(lambda error: None))
    assert _coded(caught.value.message) == (F, "table_unreadable", {"kind": "KeyError"})


C = "unreadable_cell"


def _row_errors(name: str, data: bytes) -> list[tuple[int, str | None, tuple[Any, ...]]]:
    table = read_table(name, data)
    return [(e.row, e.column, _coded(e.message)) for e in table.errors]


def test_a_csv_row_of_the_wrong_width_names_its_rule_and_counts() -> None:
    data = b"\na,b,c\n1,2\n1,2,3,4,5\n1,2,3\n"
    assert _row_errors("a.csv", data) == [
        (3, None, (C, "table_short_row", {"cells": 2, "columns": 3})),
        (4, None, (C, "table_right_of_header", {"extra": 2, "header_row": 2})),
    ]


def test_a_workbook_rows_cells_name_their_rule_and_cell() -> None:
    data = workbook(
        {
            (1, 1): "a",
            (1, 2): "b",
            (2, 1): "x",
            (2, 2): date(2025, 1, 1),
            (3, 1): "x",
            (3, 3): "beyond",
            (4, 1): "x",
            (4, 2): 7777,
        }
    )
    data = _rewrite_sheet(data, b"<v>7777</v>", b"<v>1E999</v>")
    assert _row_errors("a.xlsx", data) == [
        (2, "b", (C, "table_date_cell", {"cell": "B2"})),
        (3, None, (C, "table_right_of_sheet", {"extra": None, "header_row": 1})),
        (4, "b", (C, "table_invalid_number", {"cell": "B4"})),
    ]


def test_a_cell_with_invalid_text_names_its_rule_and_cell() -> None:
    records = [(1, ["a", "b", "c"], []), (2, ["x", "y", "bad\x00"], [])]
    table = table_module._build_table(records, strict_width=False)
    assert [(e.row, e.column, _coded(e.message)) for e in table.errors] == [
        (2, "c", (C, "table_invalid_text", {"cell": "C2"}))
    ]
