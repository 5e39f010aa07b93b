"""CSV and JSON export; the CSV export imports again (own layout) without any change."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.catalogue_view import CatalogueView
from node.catalogue_view_builder import view_from_catalogue_json
from node.exporting import to_csv, to_json
from node.exporting.tabular import export_value, exported_text, json_value, stored_value
from node.importing import parse_open_sdg, parse_own_layout, read_table
from schemas.fields import format_decimal

REPO = Path(__file__).resolve().parents[3]
SHARED = Path(__file__).resolve().parents[4] / "shared"


@pytest.fixture(scope="module")
def view() -> CatalogueView:
    path = SHARED / "data" / "indicator_catalogue.json"
    if not path.is_file():
        pytest.fail(f"{path} is missing: the tests need ../shared beside the checkout")
    additions = json.loads((REPO / "node/demo/los_angeles/catalogue_additions.json").read_text())
    return view_from_catalogue_json(json.loads(path.read_text()), additions)


RESULTS: list[dict[str, Any]] = [
    {
        "indicator": "HRC-HOU-04",
        "period": "2025",
        "value": Decimal("12.50"),
        "disaggregation": {"SEX": "F", "AGE_GROUP": "Y_LT18"},
        "status": "published",
        "note": 'counted "on the night", 2 districts\nmissing',
    },
    {
        "indicator": "HRC-HOU-04",
        "period": "2025",
        "value": Decimal("-3.5"),
        "disaggregation": {"SEX": "_T"},
        "status": "validated",
        "source": '=HYPERLINK("x")',
    },
    {
        "indicator": "HRC-HOU-04",
        "period": "2025-Q3",
        "value": Decimal("0.000000000001"),
        "disaggregation": {},
        "status": "draft",
        "method": "-estimate",
    },
    {
        "indicator": "HRC-GOV-01",
        "period": "2024",
        "value": True,
        "disaggregation": {},
        "status": "published",
    },
    {
        "indicator": "HRC-GOV-01",
        "period": "2025-H1",
        "value": False,
        "disaggregation": {},
        "status": "published",
    },
    {
        "indicator": "LA-11-1-1-PIT",
        "period": "2019",
        "value": Decimal("810"),
        "disaggregation": {"SEX": "TRANS"},
        "status": "published",
    },
]


def expected_items(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What the own-layout import gives for a result (the import keeps only given columns)."""
    items = []
    for result in results:
        value = result["value"]
        item: dict[str, Any] = {
            "indicator": result["indicator"],
            "period": result["period"],
            "value": value if isinstance(value, bool) else format_decimal(value),
            "disaggregation": {k: v for k, v in result["disaggregation"].items() if v != "_T"},
            "status": result["status"],
        }
        for column in ("source", "method", "note"):
            if result.get(column):
                item[column] = result[column]
        items.append(item)
    return items


def round_trip(results: list[dict[str, Any]], view: CatalogueView) -> list[dict[str, Any]]:
    text = to_csv(results, view)
    outcome = parse_own_layout(read_table("export.csv", text.encode("utf-8")), view)
    assert outcome.errors == [] and outcome.skipped == []
    return [row.item for row in outcome.rows]


def key(item: dict[str, Any]) -> tuple[str, str, str]:
    return item["indicator"], item["period"], json.dumps(item["disaggregation"], sort_keys=True)


def test_csv_header_and_rows(view: CatalogueView) -> None:
    text = to_csv(RESULTS, view)
    lines = text.split("\r\n")
    assert lines[0] == "indicator,period,value,status,source,method,note,SEX,AGE_GROUP"
    assert lines[1] == "HRC-GOV-01,2024,true,published,,,,,"
    # periods in time order (a quarter ends before its year), the total before breakdowns
    assert lines[3] == "HRC-HOU-04,2025-Q3,0.000000000001,draft,,'-estimate,,,"
    assert lines[4] == 'HRC-HOU-04,2025,-3.5,validated,"\'=HYPERLINK(""x"")",,,,'
    assert (
        'HRC-HOU-04,2025,12.50,published,,,"counted ""on the night"", 2 districts\n'
        'missing",F,Y_LT18' in text
    )
    assert text.endswith("\r\n")


def test_csv_minimal_header(view: CatalogueView) -> None:
    text = to_csv(
        [
            {
                "indicator": "HRC-GOV-01",
                "period": "2024",
                "value": True,
                "disaggregation": {},
                "status": "published",
            }
        ],
        view,
    )
    assert text == "indicator,period,value,status\r\nHRC-GOV-01,2024,true,published\r\n"


def test_csv_round_trips_exactly(view: CatalogueView) -> None:
    imported = round_trip(RESULTS, view)
    assert sorted(imported, key=key) == sorted(expected_items(RESULTS), key=key)
    values = {key(item): item["value"] for item in imported}
    assert values["HRC-HOU-04", "2025", '{"AGE_GROUP": "Y_LT18", "SEX": "F"}'] == "12.50"


def test_la_data_round_trips(view: CatalogueView) -> None:
    results = []
    folder = SHARED / "datasets" / "los-angeles-open-sdg"
    if not folder.is_dir():
        pytest.fail(f"{folder} is missing: the tests need ../shared beside the checkout")
    for path in sorted(folder.glob("*.csv")):
        profile = json.loads((REPO / "node/demo/los_angeles" / f"{path.stem}.json").read_text())
        outcome = parse_open_sdg(read_table(path.name, path.read_bytes()), profile, view)
        results += [{**row.item, "value": Decimal(row.item["value"])} for row in outcome.rows]
    imported = round_trip(results, view)
    assert sorted(imported, key=key) == sorted(expected_items(results), key=key)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.decimals(
                allow_nan=False,
                allow_infinity=False,
                places=4,
                min_value=Decimal("-1e9"),
                max_value=Decimal("1e9"),
            ),
            st.integers(2000, 2030),
            st.sampled_from([None, "F", "M", "X"]),
            st.text(alphabet=st.sampled_from(list("ab =+-@,;\"'\n\té")), max_size=12),
        ),
        max_size=10,
        unique_by=lambda t: (t[1], t[2]),
    )
)
def test_random_results_round_trip(
    view: CatalogueView, rows: list[tuple[Decimal, int, str | None, str]]
) -> None:
    results = [
        {
            "indicator": "HRC-HOU-04",
            "period": str(year),
            "value": value,
            "disaggregation": {"SEX": sex} if sex else {},
            "status": "validated",
            "note": note,
        }
        for value, year, sex, note in rows
    ]
    imported = round_trip(results, view)
    expected = expected_items(results)
    for item in expected:  # the import strips cells, as spreadsheets are full of stray spaces
        if "note" in item:
            item["note"] = item["note"].strip()
            if not item["note"]:
                del item["note"]
    assert sorted(imported, key=key) == sorted(expected, key=key)


def test_json_export(view: CatalogueView) -> None:
    document = to_json(
        RESULTS,
        view,
        {"city_id": "be-gent", "name": "Gent"},
        datetime(2026, 3, 1, 12, 0, tzinfo=UTC),
    )
    assert {k: v for k, v in document.items() if k != "items"} == {
        "city_id": "be-gent",
        "name": "Gent",
        "prepared": "2026-03-01T12:00:00Z",
        "catalogue_version": "0.1.0",
        "count": 6,
    }
    assert document["items"][0] == {
        "indicator": "HRC-GOV-01",
        "period": "2024",
        "value": True,
        "disaggregation": {},
        "status": "published",
        "unit": "BOOL",
    }
    hou = [item for item in document["items"] if item["indicator"] == "HRC-HOU-04"]
    assert [item["value"] for item in hou] == ["0.000000000001", "-3.5", "12.50"]
    assert hou[1]["disaggregation"] == {} and hou[1]["source"] == '=HYPERLINK("x")'
    json.dumps(document)  # JSON-able as it is


# --- the stored value's text (issue 14's export fast path) -------------------------------------


def _plain_cell(value_text: str) -> str:
    """The value cell as the plain definition writes it: read as Result.value, then formatted."""
    value = export_value(stored_value(value_text))
    return ("true" if value else "false") if isinstance(value, bool) else value


@settings(max_examples=400, deadline=None)
@given(st.decimals(allow_nan=False, allow_infinity=False))
def test_every_stored_number_is_already_its_exported_text(number: Decimal) -> None:
    """What Result.value's setter stores (format_decimal of any finite Decimal) is written as
    it is: the fast path's claim, on every Decimal, including -0, 0E-5 and exponents."""
    text = format_decimal(number)
    assert exported_text(text) == text == _plain_cell(text)
    assert json_value(text) == json.dumps(export_value(stored_value(text)))


# Texts a database could hold that format_decimal would rewrite: exponents, superfluous zeros,
# signs on zero, a plus sign, spaces, non-ASCII digits (Decimal() reads them all).
ODD_TEXTS = [
    "-0",
    "-0.00",
    "+5",
    "007",
    "00.5",
    "1E+3",
    "1e-2",
    "5E0",
    " 5",
    "5 ",
    "\u0663\u0664",
    "-000.10",
    ".5",
    "5.",
    "0.0",
    "-0.5",
    "12.50",
    "true",
    "false",
]


@settings(max_examples=400, deadline=None)
@given(
    st.one_of(
        st.sampled_from(ODD_TEXTS),
        st.from_regex(r"\A[+-]?[0-9]{0,4}(\.[0-9]{0,3})?([eE][+-]?[0-9]{1,2})?\Z"),
    )
)
def test_the_exported_text_of_any_stored_form_is_the_plain_formatting(text: str) -> None:
    """Any text Decimal() reads gives exactly the plain formatting (the fast path falls back
    for the ones it does not recognise); a text it cannot read fails the same way."""
    try:
        expected = _plain_cell(text)
    except (ArithmeticError, ValueError) as exc:
        with pytest.raises(type(exc)):
            exported_text(text)
        with pytest.raises(type(exc)):
            json_value(text)
        return
    assert exported_text(text) == expected
    assert json_value(text) == json.dumps(export_value(stored_value(text)), ensure_ascii=False)
