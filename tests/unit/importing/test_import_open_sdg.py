"""parse_open_sdg: the six Los Angeles Open SDG files with their profiles, and the profile rules."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from node.catalogue_view import CatalogueView
from node.catalogue_view_builder import view_from_catalogue_json
from node.importing import (
    ImportProfileSchema,
    ParseOutcome,
    ProfileError,
    parse_open_sdg,
    read_table,
)
from schemas.catalogue import DimensionCodesAddSchema, DimensionSchema, IndicatorSchema

REPO = Path(__file__).resolve().parents[3]
SHARED = Path(__file__).resolve().parents[4] / "shared"
DEMO = REPO / "node" / "demo" / "los_angeles"
LA_FILES = (
    "indicator_16-1-1",
    "indicator_16-1-3",
    "indicator_11-1-1",
    "indicator_1-2-1",
    "indicator_5-5-1",
    "indicator_10-2-1",
)


def shared(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.fail(f"{path} is missing: the tests need ../shared beside the checkout")
    return path


def load_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def seed() -> dict[str, Any]:
    return load_json(shared("data", "indicator_catalogue.json"))


@pytest.fixture(scope="module")
def la_view(seed: dict[str, Any]) -> CatalogueView:
    return view_from_catalogue_json(seed, load_json(DEMO / "catalogue_additions.json"))


def import_la(name: str, view: CatalogueView) -> tuple[int, ParseOutcome]:
    path = shared("datasets", "los-angeles-open-sdg", f"{name}.csv")
    table = read_table(path.name, path.read_bytes())
    return len(table.rows), parse_open_sdg(table, load_json(DEMO / f"{name}.json"), view)


def figures(outcome: ParseOutcome) -> dict[tuple[str, str, tuple[tuple[str, str], ...]], Any]:
    return {
        (
            row.item["indicator"],
            row.item["period"],
            tuple(sorted(row.item["disaggregation"].items())),
        ): row.item["value"]
        for row in outcome.rows
    }


# --- the six Los Angeles files -----------------------------------------------------------------

LA_EXPECTED: dict[str, tuple[int, int, int, dict[tuple[str, str, tuple[Any, ...]], str]]] = {
    # file: (data rows, figures, skipped, {figure: exact value})
    "indicator_16-1-1": (
        90,
        80,
        10,
        {
            ("LA-16-1-1-HOM", "2010", ()): "295",
            ("LA-16-1-1-HOM", "2010", (("SEX", "F"),)): "50",
            ("LA-16-1-1-HOM", "2019", (("DESCENT_RECORDED", "BLACK"),)): "103",
            ("LA-16-1-1-HOM", "2013", (("DESCENT_RECORDED", "OTHER"),)): "0",
        },
    ),
    "indicator_16-1-3": (
        80,
        60,
        20,
        {
            ("LA-16-1-3-VIO", "2010", ()): "22348",
            ("LA-16-1-3-VIO", "2019", (("SEX", "M"),)): "16852",
            ("LA-16-1-3-VIO", "2019", (("DESCENT_RECORDED", "HISP"),)): "13751",
        },
    ),
    "indicator_11-1-1": (
        164,
        135,
        29,
        {
            ("LA-11-1-1-PT", "2019", ()): "0.91",
            ("LA-11-1-1-PIT", "2019", ()): "36165",
            ("LA-11-1-1-PIT", "2019", (("SEX", "TRANS"),)): "810",
            ("LA-11-1-1-PIT", "2019", (("SEX", "X"),)): "150",
            ("LA-11-1-1-PIT", "2020", (("SHELTER_STATUS", "UNSH"),)): "28852",
            ("LA-11-1-1-PIT", "2020", (("AGE_GROUP", "Y_GE62"),)): "4080",
            ("LA-11-1-1-PIT", "2019", (("SEXUAL_ORIENTATION", "SO_NC"),)): "839",
            ("LA-11-1-1-PIT", "2020", (("DV_IPV", "DV_FLEE"),)): "2741",
        },
    ),
    "indicator_1-2-1": (
        210,
        167,
        43,
        {
            ("LA-1-2-1-POV", "2012", ()): "23.3",
            ("LA-1-2-1-POV", "2021", ()): "17.1",  # the total given with the age breakdown
            ("LA-1-2-1-POV", "2019", (("SEX", "F"),)): "18.0",  # exact text, trailing zero kept
            ("LA-1-2-1-POV", "2012", (("ETHNICITY_SELF_ID", "HISP"),)): "30.3",
            ("LA-1-2-1-POV", "2022", (("EMPLOYMENT_STATUS", "UNEMP"),)): "34.5",
            ("LA-1-2-1-POV", "2012", (("AGE_GROUP", "Y18T64"),)): "20.8",
        },
    ),
    "indicator_5-5-1": (
        10,
        10,
        0,
        {
            ("LA-5-5-1-WOM", "2021", (("BODY_TYPE", "COUNCIL"),)): "20",
            ("LA-5-5-1-WOM", "2020", (("BODY_TYPE", "BOARDS"),)): "56",
        },
    ),
    "indicator_10-2-1": (
        21,
        21,
        0,
        {
            ("LA-10-2-1-LOW", "2013", ()): "31",
            ("LA-10-2-1-LOW", "2013", (("SEX", "M"),)): "31.5",
            ("LA-10-2-1-LOW", "2019", (("SEX", "F"),)): "20.9",
        },
    ),
}


@pytest.mark.parametrize("name", LA_FILES)
def test_la_file_imports_without_errors(name: str, la_view: CatalogueView) -> None:
    data_rows, outcome = import_la(name, la_view)
    expected_rows, expected_figures, expected_skipped, samples = LA_EXPECTED[name]
    assert outcome.errors == []
    assert data_rows == expected_rows
    assert len(outcome.rows) == expected_figures
    assert len(outcome.skipped) == expected_skipped
    assert len(outcome.rows) + len(outcome.skipped) == data_rows  # every row is accounted for
    found = figures(outcome)
    for key, value in samples.items():
        assert found[key] == value, key
    for row in outcome.rows:
        assert row.item["status"] == "validated"
        assert "open-sdg-data-starter" in row.item["source"]


def test_la_skipped_rows_are_no_data_repeats_or_declared_totals(la_view: CatalogueView) -> None:
    reasons: dict[str, int] = {}
    for name in LA_FILES:
        for _, reason in import_la(name, la_view)[1].skipped:
            kind = reason.split(" ")[0]
            reasons[kind] = reasons.get(kind, 0) + 1
    # 6 empty Value cells; 26 + 10 + 20 repeated totals; 40 totals of 1-2-1 taken from "by age"
    assert reasons == {"No": 6, "Same": 56, "Total": 40}


def test_la_1_2_1_empty_values_are_skipped_not_errors(la_view: CatalogueView) -> None:
    outcome = import_la("indicator_1-2-1", la_view)[1]
    assert ("LA-1-2-1-POV", "2015", (("ETHNICITY_SELF_ID", "NHPI"),)) not in figures(outcome)
    no_data = [row for row, reason in outcome.skipped if reason.startswith("No value")]
    assert len(no_data) == 3


def test_la_descent_and_sex_share_one_column_by_units(la_view: CatalogueView) -> None:
    outcome = import_la("indicator_16-1-1", la_view)[1]
    dims = {tuple(row.item["disaggregation"]) for row in outcome.rows}
    assert dims == {(), ("SEX",), ("DESCENT_RECORDED",)}


def test_la_additions_fit_the_catalogue_schemas(la_view: CatalogueView) -> None:
    additions = load_json(DEMO / "catalogue_additions.json")
    for dimension in additions["dimensions"]:
        DimensionSchema().load(dimension)
    for codes in additions["dimension_codes"].values():
        DimensionCodesAddSchema().load({"codes": codes})
    for entry in additions["indicators"]:
        loaded = IndicatorSchema().load(entry)
        assert loaded["core"] is False
        assert loaded["code"].startswith("LA-")
        if loaded.get("maps_to"):
            assert la_view.indicators[loaded["maps_to"]].core
    codes = {entry["code"]: entry for entry in additions["indicators"]}
    assert codes["LA-16-1-1-HOM"]["maps_to"] == "HRC-SEC-01"
    assert codes["LA-5-5-1-WOM"]["maps_to"] == "HRC-PAR-01"
    assert codes["LA-5-5-1-WOM"]["direction"] == "good_up"
    assert codes["LA-11-1-1-PT"]["unit"]["code"] == "PT"
    for code in ("LA-16-1-1-HOM", "LA-16-1-3-VIO", "LA-11-1-1-PIT", "LA-1-2-1-POV"):
        assert codes[code]["direction"] == "good_down"


def test_la_profiles_are_valid(la_view: CatalogueView) -> None:
    for name in LA_FILES:
        ImportProfileSchema().load(load_json(DEMO / f"{name}.json"))


# --- profile rules -----------------------------------------------------------------------------


def sdg(
    text: str, profile: dict[str, Any] | None, view: CatalogueView, indicator: str | None = None
) -> ParseOutcome:
    return parse_open_sdg(read_table("data.csv", text.encode()), profile, view, indicator=indicator)


def test_without_profile_columns_and_values_match_by_label(la_view: CatalogueView) -> None:
    path = shared("datasets", "los-angeles-open-sdg", "indicator_10-2-1.csv")
    outcome = parse_open_sdg(
        read_table(path.name, path.read_bytes()), None, la_view, indicator="LA-10-2-1-LOW"
    )
    assert outcome.errors == []
    assert len(outcome.rows) == 21
    assert figures(outcome)["LA-10-2-1-LOW", "2014", (("SEX", "F"),)] == "30.7"
    assert outcome.rows[0].item == {
        "indicator": "LA-10-2-1-LOW",
        "period": "2013",
        "value": "31",
        "disaggregation": {},
        "status": "validated",
    }


def test_without_profile_sex_column_and_unmatched_values(la_view: CatalogueView) -> None:
    outcome = sdg(
        "Year,Sex,Value\n2020,female,1\n2020,Other,2\n2020,,3\n",
        None,
        la_view,
        indicator="LA-10-2-1-LOW",
    )
    assert [(e.row, e.column) for e in outcome.errors] == [(3, "Sex")]
    assert "'Other' is not a known value of SEX" in outcome.errors[0].message
    assert len(outcome.rows) == 2


def test_without_profile_unknown_column_and_no_indicator(la_view: CatalogueView) -> None:
    outcome = sdg("Year,Colour,Value\n2020,red,1\n", None, la_view, indicator="LA-10-2-1-LOW")
    assert [(e.row, e.column) for e in outcome.errors] == [(1, "Colour")]
    assert "does not match a disaggregation dimension" in outcome.errors[0].message
    outcome = sdg("Year,Value\n2020,1\n", None, la_view)
    assert [(e.row, e.column) for e in outcome.errors] == [(1, None)]
    assert "No indicator is given" in outcome.errors[0].message


def test_missing_year_or_value_column(la_view: CatalogueView) -> None:
    outcome = sdg("Jahr,Wert\n2020,1\n", None, la_view, indicator="LA-10-2-1-LOW")
    assert [(e.row, e.column) for e in outcome.errors] == [(1, "Year"), (1, "Value")]


def test_mixed_units_need_a_profile(la_view: CatalogueView) -> None:
    outcome = sdg(
        "Year,Units,Value\n2020,Count,1\n2020,Percent,2\n", None, la_view, indicator="LA-10-2-1-LOW"
    )
    assert [(e.row, e.column) for e in outcome.errors] == [(3, "Units")]
    assert "mixes several units ('Count' and 'Percent')" in outcome.errors[0].message


def test_unmapped_value_names_column_value_and_mapping(la_view: CatalogueView) -> None:
    profile = {
        "indicator": "LA-16-1-1-HOM",
        "columns": {"Victim Gender": {"dimension": "SEX", "codes": {"Female": "F", "Male": "M"}}},
    }
    outcome = sdg("Year,Victim Gender,Value\n2010,Unknown sex,4\n2010,Male,5\n", profile, la_view)
    assert [(e.row, e.column) for e in outcome.errors] == [(2, "Victim Gender")]
    message = outcome.errors[0].message
    assert "'Unknown sex'" in message and "'Female' → F, 'Male' → M" in message


def test_units_not_in_profile_and_units_left_out(la_view: CatalogueView) -> None:
    profile = {"units": {"Count": "LA-16-1-1-HOM", "Rate": None}}
    outcome = sdg("Year,Units,Value\n2010,Count,4\n2010,Rate,1.2\n2010,Share,9\n", profile, la_view)
    assert [(e.row, e.column) for e in outcome.errors] == [(4, "Units")]
    assert "Units 'Share' is not in the import profile" in outcome.errors[0].message
    assert outcome.skipped == [(3, "The import profile leaves out rows with Units 'Rate'.")]
    assert [row.item["value"] for row in outcome.rows] == ["4"]


def test_repeated_total_equal_is_kept_once_and_different_is_an_error(
    la_view: CatalogueView,
) -> None:
    profile = {"units": {"A": "LA-16-1-1-HOM", "B": "LA-16-1-1-HOM"}}
    outcome = sdg(
        "Year,Units,Value\n2010,A,295\n2010,B,295.0\n2011,A,3\n2011,B,4\n", profile, la_view
    )
    assert [row.row for row in outcome.rows] == [2, 4]
    assert outcome.skipped == [
        (3, "Same figure as row 2 (indicator LA-16-1-1-HOM, period 2010, total); imported once.")
    ]
    assert [(e.row, e.column) for e in outcome.errors] == [(5, None)]
    assert "Row 4 already gives 3" in outcome.errors[0].message


def test_totals_are_never_checked_against_the_sum(la_view: CatalogueView) -> None:
    outcome = sdg(
        "Year,Gender,Value\n2010,,100\n2010,Female,10\n2010,Male,10\n",
        None,
        la_view,
        indicator="LA-16-1-1-HOM",
    )
    assert outcome.errors == [] and len(outcome.rows) == 3


def test_null_column_must_stay_empty(la_view: CatalogueView) -> None:
    profile = {"indicator": "LA-16-1-1-HOM", "columns": {"GeoCode": None}}
    outcome = sdg("Year,GeoCode,Value\n2010,,1\n2011,LA,2\n", profile, la_view)
    assert [(e.row, e.column) for e in outcome.errors] == [(3, "GeoCode")]
    assert "says column 'GeoCode' is not used" in outcome.errors[0].message


def test_dimension_not_allowed_and_period_format(la_view: CatalogueView) -> None:
    profile = {
        "indicator": "LA-5-5-1-WOM",
        "period_format": "year",
        "columns": {"Gender": {"dimension": "SEX", "codes": {}}},
    }
    outcome = sdg("Year,Gender,Value\n2020,Female,1\n2020-Q1,,2\n20,,3\n", profile, la_view)
    assert [(e.row, e.column) for e in outcome.errors] == [(2, "Gender"), (3, "Year"), (4, "Year")]
    assert "LA-5-5-1-WOM has no breakdown by SEX" in outcome.errors[0].message
    assert "'2020-Q1' is not a year" in outcome.errors[1].message
    periods = sdg(
        "Year,Value\n2020-Q1,2\n2020-H2,3\n",
        {"indicator": "LA-5-5-1-WOM", "period_format": "period"},
        la_view,
    )
    assert [row.item["period"] for row in periods.rows] == ["2020-Q1", "2020-H2"]


def test_bad_value_is_an_error_empty_value_is_skipped(la_view: CatalogueView) -> None:
    outcome = sdg("Year,Value\n2010,n/a\n2011,\n2012,1\n", None, la_view, indicator="LA-16-1-1-HOM")
    assert [(e.row, e.column) for e in outcome.errors] == [(2, "Value")]
    assert [row for row, _ in outcome.skipped] == [3]


def test_profile_status_and_source_reach_every_figure(la_view: CatalogueView) -> None:
    profile = {"indicator": "LA-16-1-1-HOM", "status": "draft", "source": "LAPD"}
    outcome = sdg("Year,Value\n2010,1\n", profile, la_view)
    assert outcome.rows[0].item == {
        "indicator": "LA-16-1-1-HOM",
        "period": "2010",
        "value": "1",
        "disaggregation": {},
        "status": "draft",
        "source": "LAPD",
    }


def test_code_mapped_to_total(la_view: CatalogueView) -> None:
    profile = {
        "indicator": "LA-16-1-1-HOM",
        "columns": {"Gender": {"dimension": "SEX", "codes": {"All": "_T"}}},
    }
    outcome = sdg("Year,Gender,Value\n2010,All,7\n", profile, la_view)
    assert outcome.rows[0].item["disaggregation"] == {}


@pytest.mark.parametrize(
    ("profile", "expected"),
    [
        ({"indicatr": "X"}, "indicatr: Unknown field."),
        ({"period_format": "month"}, "period_format: Must be one of: year, period."),
        ({"status": "final"}, "status: Must be one of: draft, validated, published."),
        ({"units": {"A": 5}}, "units.A.value: Give an indicator code, null"),
        ({"units": {"A": {"indicator": "X", "totals": "drop"}}}, "totals: Must be one of"),
        ({"columns": {"G": {"codes": {}}}}, "columns.G.value.dimension: Missing data"),
        ({"columns": {"G": {"dimension": "SEX", "extra": 1}}}, "extra: Unknown field."),
        (
            {"units": {"A": "X"}, "columns_by_units": {"B": {}}},
            "'B' is not one of the units listed under 'units'",
        ),
    ],
)
def test_malformed_profiles_raise_clear_errors(
    profile: dict[str, Any], expected: str, la_view: CatalogueView
) -> None:
    with pytest.raises(ProfileError) as info:
        sdg("Year,Value\n2010,1\n", profile, la_view, indicator="LA-16-1-1-HOM")
    assert expected in info.value.message


def test_profile_that_does_not_fit_the_catalogue(la_view: CatalogueView) -> None:
    profile = {
        "indicator": "LA-NOPE",
        "units": {"A": "LA-ALSO-NOPE"},
        "columns": {
            "G": {"dimension": "GENDER", "codes": {}},
            "S": {"dimension": "SEX", "codes": {"Woman": "W"}},
        },
    }
    with pytest.raises(ProfileError) as info:
        sdg("Year,Value\n2010,1\n", profile, la_view)
    assert info.value.errors == [
        "indicator: 'LA-NOPE' is not an indicator of the catalogue.",
        "units 'A': 'LA-ALSO-NOPE' is not an indicator of the catalogue.",
        "columns 'G': 'GENDER' is not a dimension of the catalogue.",
        "columns 'S': 'Woman' is mapped to 'W', which is not a code of SEX.",
    ]


def test_profile_must_be_an_object(la_view: CatalogueView) -> None:
    with pytest.raises(ProfileError, match="JSON object"):
        parse_open_sdg(
            read_table("d.csv", b"Year,Value\n2010,1\n"),
            ["x"],  # type: ignore[arg-type]
            la_view,
        )


def test_symbols_in_categories_are_not_ignored(la_view: CatalogueView) -> None:
    profile = {
        "indicator": "LA-11-1-1-PIT",
        "columns": {"Age": {"dimension": "AGE_GROUP", "codes": {"<18": "Y_LT18"}}},
    }
    outcome = sdg("Year,Age,Value\n2019,< 18,1\n2019,18+,2\n", profile, la_view)
    assert [row.item["disaggregation"] for row in outcome.rows] == [{"AGE_GROUP": "Y_LT18"}]
    assert [(e.row, e.column) for e in outcome.errors] == [(3, "Age")]
