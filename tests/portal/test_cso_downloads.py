"""Civil-society figures in the downloads (issue 16): in files of their own, every row marked
``civil_society``, never among the city's figures; the SDMX-JSON message stays valid and only
points at them. Real app, real SQLite, the test client."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from typing import Any

from flask.testing import FlaskClient
from jsonschema import Draft201909Validator

from tests.portal.test_portal import SDMX_SCHEMA
from tests.support import Caller

CSO_VALUE = "777.25"  # a value no official figure of the portal data has
FIGURE = {
    "indicator": "HRC-HOU-01",
    "period": "2025",
    "value": CSO_VALUE,
    "organisation": "Housing Watch",
    "method": '=HYPERLINK("http://127.0.0.1/x") survey',  # free text a spreadsheet must not run
    "source": "Housing Watch annual survey 2025",
}


def publish(client: FlaskClient, cso: Caller, **changes: Any) -> dict[str, Any]:
    created = client.post("/api/v1/cso-figures", json={**FIGURE, **changes}, headers=cso.headers)
    assert created.status_code == 201, created.get_json()
    published = client.post(
        f"/api/v1/cso-figures/{created.get_json()['id']}/publish", headers=cso.headers
    )
    assert published.status_code == 200, published.get_json()
    body: dict[str, Any] = published.get_json()
    return body


def test_cso_figures_have_their_own_files_never_the_citys(
    client: FlaskClient, portal_data: dict[str, str], create_user: Callable[..., Caller]
) -> None:
    cso = create_user("cso_partner")
    statement = publish(client, cso)["statement_sha256"]
    draft = client.post(
        "/api/v1/cso-figures",
        json={**FIGURE, "period": "2024", "value": "1.5"},
        headers=cso.headers,
    )
    assert draft.status_code == 201  # a draft: never in a download

    # The city's own files do not carry it, in any format.
    for fmt in ("csv", "json", "sdmx.json"):
        body = client.get(f"/open-data/results.{fmt}").get_data(as_text=True)
        assert CSO_VALUE not in body and "Housing Watch" not in body, fmt

    response = client.get("/open-data/cso-figures.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert 'rel="license"' in response.headers["Link"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert len(rows) == 1
    [row] = rows
    assert row["source_type"] == "civil_society" and row["organisation"] == "Housing Watch"
    assert (row["indicator"], row["period"], row["value"]) == ("HRC-HOU-01", "2025", CSO_VALUE)
    assert row["statement_sha256"] == statement
    assert row["method"].startswith("'=")  # kept as text by a spreadsheet

    document = json.loads(client.get("/open-data/cso-figures.json").get_data())
    assert document["source_type"] == "civil_society" and document["official"] is False
    assert document["licence"]["spdx"] == "CC-BY-4.0"
    assert document["count"] == 1
    [item] = document["items"]
    assert item["value"] == CSO_VALUE and item["source_type"] == "civil_society"
    assert item["statement_url"].endswith(f"/public/cso-statements/{statement}")
    one = json.loads(client.get("/open-data/cso-figures.json?indicator=HRC-HOU-01").get_data())
    assert one["count"] == 1
    assert client.get("/open-data/cso-figures.xml").status_code == 404

    # The city's JSON and SDMX-JSON say where civil society's figures are, without them.
    city = json.loads(client.get("/open-data/results.json").get_data())
    assert city["civil_society_figures"]["official"] is False
    assert city["civil_society_figures"]["csv"].endswith("/open-data/cso-figures.csv")
    sdmx = json.loads(client.get("/open-data/results.sdmx.json").get_data())
    validator = Draft201909Validator(
        json.loads(SDMX_SCHEMA.read_text()), format_checker=Draft201909Validator.FORMAT_CHECKER
    )
    assert [e.message for e in validator.iter_errors(sdmx)] == []
    assert any(
        link["href"].endswith("/open-data/cso-figures.json") for link in sdmx["meta"]["links"]
    )

    page = client.get("/open-data").get_data(as_text=True)
    assert "/open-data/cso-figures.csv" in page and "/open-data/cso-figures.json" in page


def test_a_withdrawn_figure_leaves_the_download(
    client: FlaskClient, portal_data: dict[str, str], create_user: Callable[..., Caller]
) -> None:
    cso = create_user("cso_partner")
    figure = publish(client, cso)
    withdrawn = client.post(
        f"/api/v1/cso-figures/{figure['id']}/withdraw",
        json={"scope": "figure", "reason": "counting error"},
        headers=cso.headers,
    )
    assert withdrawn.status_code == 200, withdrawn.get_json()
    body = client.get("/open-data/cso-figures.csv").get_data(as_text=True)
    assert CSO_VALUE not in body
    assert json.loads(client.get("/open-data/cso-figures.json").get_data())["count"] == 0
