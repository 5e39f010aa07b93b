"""parse_own_layout: our import layout, the happy path and every kind of error with row/column."""

from __future__ import annotations

import io
import json
from pathlib import Path

import openpyxl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.catalogue_view import CatalogueView
from node.catalogue_view_builder import view_from_catalogue_json
from node.importing import ParseOutcome, TableError, parse_own_layout, read_table

SHARED = Path(__file__).resolve().parents[4] / "shared"


@pytest.fixture(scope="module")
def catalogue() -> CatalogueView:
    path = SHARED / "data" / "indicator_catalogue.json"
    if not path.is_file():
        pytest.fail(f"{path} is missing: the tests need ../shared beside the checkout")
    return view_from_catalogue_json(json.loads(path.read_text(encoding="utf-8")))


def parse(text: str, catalogue: CatalogueView) -> ParseOutcome:
    return parse_own_layout(read_table("results.csv", text.encode()), catalogue)


def errors_of(outcome: ParseOutcome) -> list[tuple[int, str | None]]:
    return [(error.row, error.column) for error in outcome.errors]


def test_happy_path(catalogue: CatalogueView) -> None:
    outcome = parse(
        "indicator,period,value,status,source,method,note,SEX,AGE_GROUP\n"
        "HRC-HOU-04,2025,12.50,validated,Count 2025,street count,,F,Y_LT18\n"
        "HRC-HOU-04,2025,40,,,,,female,_T\n"  # label instead of code, _T = total
        "hrc-hou-04,2025-q3,7,draft,,,'=not a formula,,\n"
        "HRC-GOV-01,2024,yes,,,,,,\n"
        "HRC-GOV-01,2025,0,,,,,,\n",
        catalogue,
    )
    assert outcome.errors == [] and outcome.skipped == []
    assert [(row.row, row.item) for row in outcome.rows] == [
        (
            2,
            {
                "indicator": "HRC-HOU-04",
                "period": "2025",
                "value": "12.50",
                "disaggregation": {"SEX": "F", "AGE_GROUP": "Y_LT18"},
                "status": "validated",
                "source": "Count 2025",
                "method": "street count",
            },
        ),
        (
            3,
            {
                "indicator": "HRC-HOU-04",
                "period": "2025",
                "value": "40",
                "disaggregation": {"SEX": "F"},
            },
        ),
        (
            4,
            {
                "indicator": "HRC-HOU-04",
                "period": "2025-Q3",
                "value": "7",
                "disaggregation": {},
                "status": "draft",
                "note": "=not a formula",
            },
        ),
        (5, {"indicator": "HRC-GOV-01", "period": "2024", "value": True, "disaggregation": {}}),
        (6, {"indicator": "HRC-GOV-01", "period": "2025", "value": False, "disaggregation": {}}),
    ]


def test_columns_in_any_order_and_case(catalogue: CatalogueView) -> None:
    outcome = parse("Sex;Value;Period;Indicator\nM;3;2025-H1;HRC-HOU-04\n", catalogue)
    assert outcome.errors == []
    assert outcome.rows[0].item == {
        "indicator": "HRC-HOU-04",
        "period": "2025-H1",
        "value": "3",
        "disaggregation": {"SEX": "M"},
    }


def test_unknown_and_repeated_columns_are_header_errors(catalogue: CatalogueView) -> None:
    outcome = parse("indicator,period,value,colour,SEX,sex\nHRC-HOU-04,2025,1,red,F,F\n", catalogue)
    assert errors_of(outcome) == [(1, "colour"), (1, "sex")]
    assert "'colour' is not a column of this layout" in outcome.errors[0].message
    assert "SEX" in outcome.errors[0].message  # lists the dimension codes that are allowed
    assert "repeats column 'SEX'" in outcome.errors[1].message


def test_missing_required_column(catalogue: CatalogueView) -> None:
    outcome = parse("indicator,value\nHRC-HOU-04,1\n", catalogue)
    assert errors_of(outcome) == [(1, "period")]
    assert "required column 'period' is missing" in outcome.errors[0].message
    assert outcome.rows == []


def test_every_error_kind_with_row_and_column(catalogue: CatalogueView) -> None:
    outcome = parse(
        "indicator,period,value,status,SEX,AGE_GROUP,DISTRICT\n"
        "HRC-HOU-04,2025,1,,F,,\n"  # 2 fine
        ",2025,1,,,,\n"  # 3 empty indicator
        "HRC-NOPE-99,2025,1,,,,\n"  # 4 unknown indicator
        "HRC-HOU-04,2025-13,1,,,,\n"  # 5 bad period
        "HRC-HOU-04,,1,,,,\n"  # 6 empty period
        "HRC-HOU-04,2025,,,,,\n"  # 7 empty value
        'HRC-HOU-04,2025,"12,5",,,,\n'  # 8 decimal comma
        "HRC-HOU-04,2025,12%,,,,\n"  # 9 percent sign
        "HRC-GOV-01,2025,maybe,,,,\n"  # 10 not a yes/no answer
        "HRC-HOU-04,2025,1,final,,,\n"  # 11 unknown status
        "HRC-HOU-04,2025,1,,Q,,\n"  # 12 unknown code
        "HRC-HOU-04,2025,1,,,,D1\n"  # 13 unknown code (DISTRICT has only _T)
        "HRC-HOU-03,2025,1,,F,,\n"  # 14 dimension not allowed for the indicator
        "HRC-HOU-04,2025,2,,F,,\n"  # 15 same figure as row 2, other value
        "HRC-HOU-04,2025,1.0,,F,,\n"  # 16 same figure and value as row 2: skipped
        "HRC-HOU-04,2025\n"  # 17 too few cells (found by read_table)
        "HRC-NOPE-99,2025-13,x,bad,Q,,\n",  # 18 several errors in one row, all reported
        catalogue,
    )
    assert errors_of(outcome) == [
        (3, "indicator"),
        (4, "indicator"),
        (5, "period"),
        (6, "period"),
        (7, "value"),
        (8, "value"),
        (9, "value"),
        (10, "value"),
        (11, "status"),
        (12, "SEX"),
        (13, "DISTRICT"),
        (14, "SEX"),
        (15, None),
        (17, None),
        (18, "indicator"),
        (18, "period"),
        (18, "status"),
        (18, "SEX"),
    ]
    messages = {(e.row, e.column): e.message for e in outcome.errors}
    assert "indicator code is empty" in messages[3, "indicator"]
    assert "'HRC-NOPE-99' is not an indicator of the catalogue" in messages[4, "indicator"]
    assert "'2025-13' is not a period" in messages[5, "period"]
    assert "period is empty" in messages[6, "period"]
    assert "value is empty" in messages[7, "value"]
    assert "not a comma" in messages[8, "value"]
    assert "% sign" in messages[9, "value"]
    assert "not a yes/no answer" in messages[10, "value"]
    assert "'final' is not a status" in messages[11, "status"]
    assert (
        "'Q' is not a code of SEX (Sex). Known codes: F (Female), M (Male)" in messages[12, "SEX"]
    )
    assert "is not a code of DISTRICT" in messages[13, "DISTRICT"]
    assert "HRC-HOU-03 has no breakdown by SEX" in messages[14, "SEX"]
    assert "Row 2 already gives 1" in messages[15, None]
    assert "this row gives 2" in messages[15, None]
    assert "2 cells but the header has 7 columns" in messages[17, None]
    assert [row.row for row in outcome.rows] == [2]
    assert outcome.skipped == [
        (16, "Same figure as row 2 (indicator HRC-HOU-04, period 2025, SEX F); imported once.")
    ]
    assert not outcome.ok


def test_text_limits(catalogue: CatalogueView) -> None:
    outcome = parse(f"indicator,period,value,source\nHRC-HOU-04,2025,1,{'s' * 501}\n", catalogue)
    assert errors_of(outcome) == [(2, "source")]
    assert "at most 500" in outcome.errors[0].message


def test_too_many_digits(catalogue: CatalogueView) -> None:
    outcome = parse("indicator,period,value\nHRC-HOU-04,2025,0.1234567890123\n", catalogue)
    assert errors_of(outcome) == [(2, "value")]
    assert "too many digits" in outcome.errors[0].message


def test_xlsx_happy_path(catalogue: CatalogueView) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    for row in (
        ["indicator", "period", "value", "SEX"],
        ["HRC-HOU-04", 2025, 12.5, "Male"],
        ["HRC-HOU-04", 2025, 30, None],
        ["HRC-GOV-01", 2025, True, None],
    ):
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    outcome = parse_own_layout(read_table("results.xlsx", buffer.getvalue()), catalogue)
    assert outcome.errors == []
    assert [row.item["value"] for row in outcome.rows] == ["12.5", "30", True]
    assert outcome.rows[0].item["disaggregation"] == {"SEX": "M"}


def test_xlsx_errors_keep_row_and_column(catalogue: CatalogueView) -> None:
    from datetime import date

    book = openpyxl.Workbook()
    sheet = book.active
    for row in (
        ["indicator", "period", "value"],
        ["HRC-HOU-04", date(2025, 1, 1), 1],
        ["HRC-HOU-04", 2025, "n/a"],
        ["HRC-HOU-04", 2024, 3],
    ):
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    outcome = parse_own_layout(read_table("results.xlsx", buffer.getvalue()), catalogue)
    assert errors_of(outcome) == [(2, "period"), (3, "value")]
    assert "holds a date" in outcome.errors[0].message
    assert "'n/a' is not a number" in outcome.errors[1].message
    assert [row.row for row in outcome.rows] == [4]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.lists(
            st.sampled_from(
                [
                    "HRC-HOU-04",
                    "HRC-GOV-01",
                    "2025",
                    "2025-Q9",
                    "F",
                    "x",
                    "",
                    "1.5",
                    "yes",
                    "_T",
                    "SEX",
                    "Y_LT18",
                ]
            ),
            min_size=1,
            max_size=6,
        ),
        max_size=6,
    )
)
def test_random_tables_never_crash(catalogue: CatalogueView, rows: list[list[str]]) -> None:
    text = "indicator,period,value,SEX,AGE_GROUP\n" + "\n".join(",".join(r) for r in rows)
    try:
        table = read_table("r.csv", text.encode())
    except TableError:
        return
    outcome = parse_own_layout(table, catalogue)
    assert len(outcome.rows) + len(outcome.skipped) <= len(table.rows)
