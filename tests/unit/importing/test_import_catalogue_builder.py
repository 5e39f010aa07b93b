"""view_from_catalogue_json: the seed catalogue plus a city's additions, without a database."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from node.catalogue_view_builder import view_from_catalogue_json

REPO = Path(__file__).resolve().parents[3]
SHARED = Path(__file__).resolve().parents[4] / "shared"


@pytest.fixture(scope="module")
def seed() -> dict[str, Any]:
    path = SHARED / "data" / "indicator_catalogue.json"
    if not path.is_file():
        pytest.fail(f"{path} is missing: the tests need ../shared beside the checkout")
    return json.loads(path.read_text(encoding="utf-8"))


def test_seed_alone(seed: dict[str, Any]) -> None:
    view = view_from_catalogue_json(seed)
    assert view.version == "0.1.0"
    assert len(view.indicators) == len(seed["indicators"])
    sec = view.indicators["HRC-SEC-01"]
    assert sec.dimensions == ("SEX", "AGE_GROUP", "ETHNICITY_SELF_ID") and sec.core
    assert view.dimensions["SEX"].codes["F"] == "Female"


def test_with_los_angeles_additions(seed: dict[str, Any]) -> None:
    additions = json.loads((REPO / "node/demo/los_angeles/catalogue_additions.json").read_text())
    view = view_from_catalogue_json(seed, additions)
    hom = view.indicators["LA-16-1-1-HOM"]
    assert (hom.core, hom.maps_to, hom.unit_code) == (False, "HRC-SEC-01", "VICTIMS")
    assert view.dimensions["SEX"].codes["TRANS"] == "Transgender"
    assert list(view.dimensions["SEX"].codes)[:3] == ["_T", "F", "M"]  # seed codes keep order
    assert view.dimensions["DESCENT_RECORDED"].codes["BLACK"] == "Black"
    assert len(view.indicators) == len(seed["indicators"]) + 7


@pytest.mark.parametrize(
    ("additions", "message"),
    [
        ({"dimensions": [{"code": "SEX", "label": "again", "codes": []}]}, "already exists"),
        ({"dimension_codes": {"NOPE": [{"code": "A", "label": "a"}]}}, "unknown dimension"),
        ({"dimension_codes": {"SEX": [{"code": "F", "label": "again"}]}}, "already exists"),
        ({"indicators": [{"code": "HRC-SEC-01", "core": False}]}, "defined twice"),
        ({"indicators": [{"code": "L-1", "core": True}]}, "must have core false"),
    ],
)
def test_clashes_are_refused(seed: dict[str, Any], additions: dict[str, Any], message: str) -> None:
    if additions.get("indicators"):
        entry = {**seed["indicators"][1], **additions["indicators"][0]}
        additions = {"indicators": [entry]}
    with pytest.raises(ValueError, match=message):
        view_from_catalogue_json(seed, additions)


def test_unknown_dimension_of_an_indicator_is_refused(seed: dict[str, Any]) -> None:
    entry = {**seed["indicators"][1], "code": "L-1", "core": False, "disaggregations": ["NOPE"]}
    with pytest.raises(ValueError, match="unknown dimensions"):
        view_from_catalogue_json(seed, {"indicators": [entry]})
