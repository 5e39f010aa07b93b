"""File import through the API is all-or-nothing: one bad row and no row is stored.

The rule (``docs/cli.md``, the API's description): "any bad row prints every problem (row,
column, message) and imports nothing". Each refusal below checks its problem ``code``, the rows
it names, and that the results listing is still empty afterwards — so storing the good rows of
a bad file cannot pass. A good file, for contrast, is stored whole.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.support import Caller

HEADER = "indicator,period,value,status,SEX\n"
GOOD_ROWS = "HRC-HOU-01,2024,12.50,published,\nHRC-HOU-01,2024,13.25,published,F\n"


def upload(client: FlaskClient, who: Caller | None, text: str) -> Any:
    return client.post(
        "/api/v1/results/import",
        data={"layout": "own", "file": (io.BytesIO(text.encode()), "figures.csv")},
        content_type="multipart/form-data",
        headers=who.headers if who else {},
    )


def listed(client: FlaskClient, official: Caller) -> list[tuple[str, str, str]]:
    body = client.get("/api/v1/results", headers=official.headers).get_json()
    assert body["total"] == len(body["items"])
    return sorted((i["indicator"], i["period"], i["value"]) for i in body["items"])


@pytest.mark.parametrize(
    ("bad_rows", "bad_row_numbers"),
    [
        # Found while reading the file: an unknown indicator, a period that is no period.
        ("HRC-NOPE,2024,1,published,\nHRC-HOU-01,2024-Q7,2,published,\n", [4, 5]),
        # Found while checking the figures: an ordinal out of its 1-5 scale, last in the file.
        ("HRC-CSO-01,2024,6,published,\n", [4]),
        # One bad row *before* the good ones.
        (None, [2]),
    ],
)
def test_a_bad_row_imports_nothing(
    client: FlaskClient, official: Caller, bad_rows: str | None, bad_row_numbers: list[int]
) -> None:
    if bad_rows is None:
        text = HEADER + "HRC-HOU-01,20x4,1,published,M\n" + GOOD_ROWS
    else:
        text = HEADER + GOOD_ROWS + bad_rows
    response = upload(client, official, text)
    assert response.status_code == 422, response.get_json()
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["code"] == "import_rejected"
    assert sorted({e["row"] for e in body["errors"]}) == bad_row_numbers
    assert body["error_count"] == len(body["errors"])
    assert listed(client, official) == []
    assert client.get("/api/v1/results").get_json()["total"] == 0  # and nothing public


def test_the_same_good_rows_alone_are_stored_whole(client: FlaskClient, official: Caller) -> None:
    response = upload(client, official, HEADER + GOOD_ROWS)
    assert response.status_code == 201, response.get_json()
    assert response.get_json() == {
        "imported": 2,
        "skipped": 0,
        "rows": 2,
        "new": 2,
        "changed": 0,
        "unchanged": 0,
        "affected_summaries": [],
    }
    assert listed(client, official) == [
        ("HRC-HOU-01", "2024", "12.50"),
        ("HRC-HOU-01", "2024", "13.25"),
    ]


def test_a_collector_file_with_one_validated_row_imports_nothing(
    client: FlaskClient, create_user: Callable[..., Caller], official: Caller
) -> None:
    collector = create_user("data_collector")
    text = HEADER + "HRC-HOU-01,2024,12.50,draft,\nHRC-HOU-01,2024,13.25,validated,F\n"
    response = upload(client, collector, text)
    assert response.status_code == 422
    body = response.get_json()
    assert body["code"] == "import_rejected"
    assert [e["row"] for e in body["errors"]] == [3]
    assert listed(client, official) == []


@pytest.mark.parametrize("role", ["viewer", "cso_partner", "reviewer"])
def test_roles_that_may_not_import_store_nothing(
    client: FlaskClient, create_user: Callable[..., Caller], official: Caller, role: str
) -> None:
    response = upload(client, create_user(role), HEADER + GOOD_ROWS)
    assert response.status_code == 403
    assert response.get_json()["code"] == "role_not_allowed"
    assert listed(client, official) == []


def test_anonymous_import_stores_nothing(client: FlaskClient, official: Caller) -> None:
    response = upload(client, None, HEADER + GOOD_ROWS)
    assert response.status_code == 401
    assert response.get_json()["code"] == "authentication_required"
    assert listed(client, official) == []
