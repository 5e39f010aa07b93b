"""SDMX-JSON 2.1.0 export, validated against the official schema (and its samples)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft201909Validator

from node.catalogue_view import CatalogueView, DimensionInfo, IndicatorInfo
from node.catalogue_view_builder import view_from_catalogue_json
from node.exporting import sdmx_period, to_sdmx_json
from node.importing import parse_open_sdg, read_table

REPO = Path(__file__).resolve().parents[3]
SHARED = Path(__file__).resolve().parents[4] / "shared"
SDMX = SHARED / "vectors" / "sdmx"
NODE = {"city_id": "us-los-angeles", "name": "Los Angeles", "base_url": "http://127.0.0.1:5001"}
PREPARED = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def shared(path: Path) -> Path:
    if not path.exists():
        pytest.fail(f"{path} is missing: the tests need ../shared beside the checkout")
    return path


@pytest.fixture(scope="module")
def validator() -> Draft201909Validator:
    schema = json.loads(shared(SDMX / "schemas" / "sdmx-json-data-schema-2.1.0.json").read_text())
    Draft201909Validator.check_schema(schema)
    return Draft201909Validator(schema, format_checker=Draft201909Validator.FORMAT_CHECKER)


@pytest.fixture(scope="module")
def view() -> CatalogueView:
    seed = json.loads(shared(SHARED / "data" / "indicator_catalogue.json").read_text())
    additions = json.loads((REPO / "node/demo/los_angeles/catalogue_additions.json").read_text())
    return view_from_catalogue_json(seed, additions)


def errors(validator: Draft201909Validator, document: dict[str, Any]) -> list[str]:
    return [
        f"{list(error.absolute_path)}: {error.message[:200]}"
        for error in validator.iter_errors(document)
    ]


def decode(document: dict[str, Any]) -> list[dict[str, Any]]:
    """Read the figures back out of a message, as a consumer would."""
    structure = document["data"]["structures"][0]
    series_dims = structure["dimensions"]["series"]
    time_values = structure["dimensions"]["observation"][0]["values"]
    units = structure["attributes"]["series"][0]["values"]
    statuses = structure["attributes"]["observation"][0].get("values", [])
    figures = []
    for series_key, series in document["data"]["dataSets"][0]["series"].items():
        key = dict(
            zip(
                [d["id"] for d in series_dims],
                [
                    series_dims[i]["values"][int(part)]["id"]
                    for i, part in enumerate(series_key.split(":"))
                ],
                strict=True,
            )
        )
        for time_key, observation in series["observations"].items():
            figures.append(
                {
                    "key": key,
                    "period": time_values[int(time_key)]["id"],
                    "value": observation[0],
                    "status": statuses[observation[1]]["id"]
                    if observation[1] is not None
                    else None,
                    "unit": units[series["attributes"][0]]["id"],
                }
            )
    return figures


# --- the validator setup is right: official samples pass, broken ones fail --------------------


@pytest.mark.parametrize(
    "sample", ["exr-time-series.json", "exr-flat.json", "exr-cross-section.json"]
)
def test_official_samples_validate(sample: str, validator: Draft201909Validator) -> None:
    document = json.loads(shared(SDMX / "samples" / "2.1.0" / sample).read_text())
    assert errors(validator, document) == []


def test_validator_catches_broken_messages(validator: Draft201909Validator) -> None:
    sample = json.loads(shared(SDMX / "samples" / "2.1.0" / "exr-flat.json").read_text())
    no_zone = copy.deepcopy(sample)
    no_zone["meta"]["prepared"] = "2018-03-11T14:30:47"  # date-time without a time zone
    assert errors(validator, no_zone)
    extra = copy.deepcopy(sample)
    extra["meta"]["unknownKey"] = 1
    assert errors(validator, extra)


# --- our messages ------------------------------------------------------------------------------


def la_results(view: CatalogueView) -> list[dict[str, Any]]:
    results = []
    for path in sorted(shared(SHARED / "datasets" / "los-angeles-open-sdg").glob("*.csv")):
        profile = json.loads((REPO / "node/demo/los_angeles" / f"{path.stem}.json").read_text())
        outcome = parse_open_sdg(read_table(path.name, path.read_bytes()), profile, view)
        assert outcome.errors == []
        for row in outcome.rows:
            results.append({**row.item, "value": Decimal(row.item["value"])})
    return results


MIXED = [
    {
        "indicator": "HRC-HOU-04",
        "period": "2025",
        "value": Decimal("12.50"),
        "disaggregation": {"SEX": "F"},
        "status": "published",
    },
    {
        "indicator": "HRC-HOU-04",
        "period": "2025",
        "value": Decimal("20.0"),
        "disaggregation": {"SEX": "_T"},
        "status": "published",
    },
    {
        "indicator": "HRC-HOU-04",
        "period": "2025-H1",
        "value": Decimal("-0.000001"),
        "disaggregation": {},
        "status": "validated",
    },
    {
        "indicator": "HRC-HOU-04",
        "period": "2025-Q3",
        "value": Decimal("7"),
        "disaggregation": {"AGE_GROUP": "Y_LT18", "SEX": "M"},
        "status": "draft",
    },
    {
        "indicator": "HRC-HOU-04",
        "period": "2025-07",
        "value": Decimal("1E+3"),
        "disaggregation": {},
        "status": "published",
    },
    {
        "indicator": "HRC-GOV-01",
        "period": "2024",
        "value": True,
        "disaggregation": {},
        "status": "published",
    },
]


def test_la_export_validates(view: CatalogueView, validator: Draft201909Validator) -> None:
    results = la_results(view)
    document = to_sdmx_json(results, view, NODE, PREPARED)
    assert errors(validator, document) == []
    assert len(decode(document)) == len(results) == 473


def test_mixed_export_validates_and_reads_back_exactly(
    view: CatalogueView, validator: Draft201909Validator
) -> None:
    document = to_sdmx_json(MIXED, view, NODE, PREPARED)
    assert errors(validator, document) == []
    meta = document["meta"]
    assert document["$schema"] == "https://json.sdmx.org/2.1/sdmx-json-data-schema.json"
    assert meta["prepared"] == "2026-03-01T12:00:00Z"
    assert meta["sender"] == {"id": "us-los-angeles", "name": "Los Angeles"}
    assert meta["id"] == "HRCNET-us-los-angeles-20260301T120000Z"
    structure = document["data"]["structures"][0]
    assert [d["id"] for d in structure["dimensions"]["series"]] == [
        "FREQ",
        "INDICATOR",
        "SEX",
        "AGE_GROUP",
    ]
    assert [d["keyPosition"] for d in structure["dimensions"]["series"]] == [1, 2, 3, 4]
    assert structure["dimensions"]["observation"][0]["keyPosition"] == 5
    assert [v["id"] for v in structure["dimensions"]["observation"][0]["values"]] == [
        "2024",
        "2025-S1",
        "2025-07",
        "2025-Q3",
        "2025",
    ]  # ordered by end date
    read = sorted(
        decode(document), key=lambda f: (f["key"]["INDICATOR"], f["period"], str(f["key"]))
    )
    assert {
        (f["key"]["INDICATOR"], f["period"], f["key"]["SEX"], f["key"]["AGE_GROUP"]): (
            f["value"],
            f["status"],
            f["unit"],
        )
        for f in read
    } == {
        ("HRC-GOV-01", "2024", "_T", "_T"): (True, "published", "BOOL"),
        ("HRC-HOU-04", "2025", "F", "_T"): ("12.50", "published", "PER_10K"),
        ("HRC-HOU-04", "2025", "_T", "_T"): ("20.0", "published", "PER_10K"),
        ("HRC-HOU-04", "2025-S1", "_T", "_T"): ("-0.000001", "validated", "PER_10K"),
        ("HRC-HOU-04", "2025-Q3", "M", "Y_LT18"): ("7", "draft", "PER_10K"),
        ("HRC-HOU-04", "2025-07", "_T", "_T"): ("1000", "published", "PER_10K"),
    }
    series = document["data"]["dataSets"][0]["series"]
    frequencies = structure["dimensions"]["series"][0]["values"]
    assert {frequencies[int(key.split(":")[0])]["id"] for key in series} == {"A", "S", "Q", "M"}


def test_time_period_values(view: CatalogueView) -> None:
    assert [sdmx_period(p) for p in ("2025", "2025-H1", "2025-H2", "2025-Q3", "2025-07")] == [
        "2025",
        "2025-S1",
        "2025-S2",
        "2025-Q3",
        "2025-07",
    ]
    document = to_sdmx_json(MIXED[2:3], view, NODE, PREPARED)
    value = document["data"]["structures"][0]["dimensions"]["observation"][0]["values"][0]
    assert value == {
        "id": "2025-S1",
        "name": "2025-H1",
        "start": "2025-01-01T00:00:00Z",
        "end": "2025-06-30T23:59:59Z",
    }


def test_empty_export_validates(view: CatalogueView, validator: Draft201909Validator) -> None:
    document = to_sdmx_json([], view, {"city_id": "be-gent", "name": "Gent"}, PREPARED)
    assert errors(validator, document) == []
    assert document["data"]["dataSets"][0]["series"] == {}
    assert document["data"]["structures"][0]["links"] == []


def test_prepared_is_utc(view: CatalogueView) -> None:
    brussels = datetime(2026, 3, 1, 13, 0, tzinfo=timezone(timedelta(hours=1)))
    assert to_sdmx_json([], view, NODE, brussels)["meta"]["prepared"] == "2026-03-01T12:00:00Z"
    naive = datetime(2026, 3, 1, 12, 0)
    assert to_sdmx_json([], view, NODE, naive)["meta"]["prepared"] == "2026-03-01T12:00:00Z"


def test_codes_sdmx_does_not_allow_are_made_valid(validator: Draft201909Validator) -> None:
    catalogue = CatalogueView(
        indicators={
            "X.1": IndicatorInfo(
                "X.1", "Dotted", "outcome", "number", "PT", "percent", "good_up", ("D.ST", "FREQ")
            ),
            "X_1": IndicatorInfo(
                "X_1", "Underscored", "outcome", "number", "PT", "percent", "good_up", ()
            ),
        },
        dimensions={
            "D.ST": DimensionInfo("D.ST", "District", {"N.1": "North"}),
            "FREQ": DimensionInfo("FREQ", "Local frequency", {"W": "Weekly"}),
        },
    )
    results = [
        {
            "indicator": "X.1",
            "period": "2025",
            "value": Decimal("1"),
            "disaggregation": {"D.ST": "N.1", "FREQ": "W"},
            "status": "published",
        },
        {
            "indicator": "X_1",
            "period": "2025",
            "value": Decimal("2"),
            "disaggregation": {},
            "status": "published",
        },
    ]
    document = to_sdmx_json(results, catalogue, NODE, PREPARED)
    assert errors(validator, document) == []
    dims = document["data"]["structures"][0]["dimensions"]["series"]
    assert [d["id"] for d in dims] == ["FREQ", "INDICATOR", "D_ST", "FREQ_2"]
    assert dims[2]["x-hrcnet-code"] == "D.ST"
    assert [(v["id"], v.get("x-hrcnet-code")) for v in dims[1]["values"]] == [
        ("X_1", "X.1"),
        ("X_1_2", "X_1"),
    ]


def test_unknown_indicator_and_duplicates_are_refused(view: CatalogueView) -> None:
    with pytest.raises(ValueError, match="not in the catalogue"):
        to_sdmx_json([{**MIXED[0], "indicator": "NOPE"}], view, NODE, PREPARED)
    with pytest.raises(ValueError, match="given twice"):
        to_sdmx_json([MIXED[1], {**MIXED[1], "disaggregation": {}}], view, NODE, PREPARED)
