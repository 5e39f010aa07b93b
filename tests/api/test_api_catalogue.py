"""Catalogue API: core indicators from the seed, local indicators, dimensions and codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient

from tests.support import Caller

LOCAL = {
    "code": "GENT-HOU-01",
    "name": "Households on the social housing waiting list",
    "right": "Adequate housing",
    "type": "outcome",
    "value_type": "number",
    "unit": {"code": "HH", "label": "households"},
    "direction": "good_down",
    "disaggregations": ["DISTRICT"],
    "core": False,
    "maps_to": "HRC-HOU-02",
}


def test_seed_catalogue_is_loaded_at_init(client: FlaskClient, shared_dir: Path) -> None:
    seed = json.loads((shared_dir / "data" / "indicator_catalogue.json").read_text())
    response = client.get("/api/v1/indicators")
    assert response.status_code == 200
    items = response.get_json()["items"]
    assert {i["code"] for i in items} == {i["code"] for i in seed["indicators"]}
    hou01 = next(i for i in items if i["code"] == "HRC-HOU-01")
    assert hou01["type"] == "outcome" and hou01["direction"] == "good_down"
    assert hou01["disaggregations"][:2] == ["TENURE", "HOUSEHOLD_TYPE"]
    assert hou01["numerator"].startswith("Evicted households")
    assert hou01["core"] is True and hou01["catalogue_version"] == seed["version"]


def test_filter_by_type(client: FlaskClient) -> None:
    items = client.get("/api/v1/indicators?type=structural").get_json()["items"]
    assert items and all(i["type"] == "structural" for i in items)
    assert client.get("/api/v1/indicators?type=nonsense").status_code == 422


def test_get_one_and_not_found(client: FlaskClient) -> None:
    assert client.get("/api/v1/indicators/HRC-PAR-01").get_json()["reference_target"] == "50"
    response = client.get("/api/v1/indicators/NOPE")
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["code"] == "indicator_not_found"


def test_official_adds_local_indicator(client: FlaskClient, official: Caller) -> None:
    response = client.post("/api/v1/indicators", json=LOCAL, headers=official.headers)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["core"] is False and body["maps_to"] == "HRC-HOU-02"
    assert client.get("/api/v1/indicators/GENT-HOU-01").status_code == 200
    again = client.post("/api/v1/indicators", json=LOCAL, headers=official.headers)
    assert again.status_code == 409 and again.get_json()["code"] == "indicator_exists"


def test_local_indicator_errors(client: FlaskClient, official: Caller) -> None:
    def post(data: dict[str, Any]) -> Any:
        return client.post("/api/v1/indicators", json=data, headers=official.headers)

    response = post({**LOCAL, "disaggregations": ["NOPE"], "maps_to": "GENT-X"})
    assert (response.status_code, response.get_json()["code"]) == (422, "validation_failed")
    assert set(response.get_json()["errors"]) == {"disaggregations", "maps_to"}
    response = post({**LOCAL, "type": "outputs", "extra_field": 1})
    assert (response.status_code, response.get_json()["code"]) == (422, "validation_failed")
    assert {"type", "extra_field"} <= set(response.get_json()["errors"])
    core = post({**LOCAL, "core": True})
    assert (core.status_code, core.get_json()["code"]) == (422, "validation_failed")
    assert client.get("/api/v1/indicators/GENT-HOU-01").status_code == 404  # none was added


def test_writes_need_a_token_and_a_role(client: FlaskClient, create_user: Any) -> None:
    anonymous = client.post("/api/v1/indicators", json=LOCAL)
    assert (anonymous.status_code, anonymous.get_json()["code"]) == (401, "authentication_required")
    viewer = create_user("viewer")
    response = client.post("/api/v1/indicators", json=LOCAL, headers=viewer.headers)
    assert response.status_code == 403 and response.get_json()["code"] == "role_not_allowed"
    bad = client.post("/api/v1/indicators", json=LOCAL, headers={"Authorization": "Bearer hrc_x"})
    assert bad.status_code == 401 and bad.get_json()["code"] == "invalid_token"
    assert "Bearer" in bad.headers["WWW-Authenticate"]
    assert client.get("/api/v1/indicators/GENT-HOU-01").status_code == 404  # none was added


def test_dimensions_and_local_codes(client: FlaskClient, official: Caller) -> None:
    dims = {d["code"]: d for d in client.get("/api/v1/dimensions").get_json()["items"]}
    assert {"SEX", "DISTRICT", "AGE_GROUP"} <= set(dims)
    assert [c["code"] for c in dims["SEX"]["codes"]][:3] == ["_T", "F", "M"]
    response = client.post(
        "/api/v1/dimensions/DISTRICT/codes",
        headers=official.headers,
        json={"codes": [{"code": "GENT-CENTRUM", "label": "Centrum"}]},
    )
    assert response.status_code == 201
    assert any(
        c["code"] == "GENT-CENTRUM" and c["core"] is False for c in response.get_json()["codes"]
    )
    dup = client.post(
        "/api/v1/dimensions/DISTRICT/codes",
        headers=official.headers,
        json={"codes": [{"code": "GENT-CENTRUM", "label": "Again"}]},
    )
    assert dup.status_code == 409
    missing = client.post(
        "/api/v1/dimensions/NOPE/codes",
        headers=official.headers,
        json={"codes": [{"code": "A", "label": "A"}]},
    )
    assert missing.status_code == 404
    new_dim = client.post(
        "/api/v1/dimensions",
        headers=official.headers,
        json={
            "code": "SCHOOL_TYPE",
            "label": "School type",
            "codes": [{"code": "PUB", "label": "Public"}, {"code": "PRIV", "label": "Private"}],
        },
    )
    assert new_dim.status_code == 201 and new_dim.get_json()["core"] is False
