"""Every error is RFC 9457 problem+json with a code; no input makes a 500."""

from __future__ import annotations

from flask.testing import FlaskClient

from tests.support import Caller

PROBLEM = "application/problem+json"


def assert_problem(response: object, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)  # type: ignore[attr-defined]
    assert response.mimetype == PROBLEM  # type: ignore[attr-defined]
    body = response.get_json()  # type: ignore[attr-defined]
    assert {"type", "title", "status", "detail", "code"} <= set(body)
    assert body["status"] == status
    if code:
        assert body["code"] == code
    return body


def test_404_unknown_path(client: FlaskClient) -> None:
    assert_problem(client.get("/api/v1/nothing-here"), 404, "not_found")


def test_405_keeps_allow(client: FlaskClient) -> None:
    response = client.delete("/api/v1/indicators")
    assert_problem(response, 405, "method_not_allowed")
    assert set(response.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "POST"}


def test_413_over_the_body_limit(client: FlaskClient, official: Caller) -> None:
    body = b'{"x": "' + b"a" * (1_048_576 + 10) + b'"}'
    response = client.post(
        "/api/v1/results", data=body, content_type="application/json", headers=official.headers
    )
    assert_problem(response, 413, "body_too_large")


def test_415_not_json(client: FlaskClient, official: Caller) -> None:
    response = client.post(
        "/api/v1/results",
        data="indicator=x",
        headers=official.headers,
        content_type="application/x-www-form-urlencoded",
    )
    assert_problem(response, 415, "unsupported_media_type")


def test_400_malformed_json(client: FlaskClient, official: Caller) -> None:
    response = client.post(
        "/api/v1/results",
        data="{not json",
        headers=official.headers,
        content_type="application/json",
    )
    assert_problem(response, 400, "invalid_json")
    response = client.post(
        "/api/v1/indicators", data="[", headers=official.headers, content_type="application/json"
    )
    assert response.status_code in (400, 422)
    assert response.mimetype == PROBLEM


def test_422_field_errors(client: FlaskClient, official: Caller) -> None:
    body = assert_problem(
        client.post("/api/v1/results", json={"indicator": 3}, headers=official.headers),
        422,
        "validation_failed",
    )
    assert "errors" in body
    body = assert_problem(client.get("/api/v1/results?limit=0"), 422)
    assert "limit" in body["errors"]
    assert_problem(client.post("/api/v1/results", json=[], headers=official.headers), 422)
    assert_problem(client.post("/api/v1/results", json="x", headers=official.headers), 422)


def test_401_bad_scheme(client: FlaskClient) -> None:
    body = assert_problem(
        client.get("/api/v1/results", headers={"Authorization": "Basic eA=="}),
        401,
        "invalid_authorization",
    )
    assert "Bearer" in body["detail"]


def test_healthz_and_well_known(client: FlaskClient) -> None:
    assert client.get("/healthz").get_json()["status"] == "ok"
    doc = client.get("/.well-known/hrcnet").get_json()
    assert doc == {
        "city_id": "be-gent",
        "name": "Gent",
        "role": "city",
        "country": "BE",
        "region": "europe-west",
        "base_url": "http://127.0.0.1:5001",
        "federation": "http://127.0.0.1:5001/federation/v1",
        "keys": "http://127.0.0.1:5001/federation/v1/keys",
    }


def test_openapi_documents_problem_json(client: FlaskClient) -> None:
    spec = client.get("/api/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    default = spec["components"]["responses"]["DEFAULT_ERROR"]
    assert PROBLEM in default["content"]
    for path in (
        "/api/v1/indicators",
        "/api/v1/results",
        "/api/v1/results/import",
        "/api/v1/export",
        "/api/v1/progress",
    ):
        assert path in spec["paths"], path
