"""No 500 on any input: deep JSON, NUL and lone surrogates, on every route, both databases.

Expected answers come from the rule (docs/protocol.md, docs/security.md): JSON nested more than
64 levels → 422 ``too_deep``; a NUL or a lone surrogate in any text → 422 ``invalid_text``;
nothing stored either way.
"""

from __future__ import annotations

import io
import json
import re
import time
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openapi_spec_validator import validate
from sqlalchemy import func, select

from node.input_guard import MAX_JSON_DEPTH, json_nesting_exceeds
from node.models import Evidence, Result
from tests.api.test_api_errors import assert_problem
from tests.support import Caller

DEEP = "[" * 100_000 + "]" * 100_000
NOTE = {
    "indicator": "HRC-HOU-01",
    "period": "2025",
    "value": "12.50",
    "status": "validated",
}
EVIDENCE = {
    "indicator": "HRC-HOU-01",
    "period": "2025",
    "kind": "cso_report",
    "title": "Evictions in winter",
    "body": "Testimonies from 14 families.",
    "organisation": "Huurdersbond",
}


def count(app: Flask, model: Any) -> int:
    with app.extensions["hrcnet"].sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


# --- the pre-scan, at its edges ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "too_deep"),
    [
        ("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH, False),
        ("[" * (MAX_JSON_DEPTH - 1) + "]" * (MAX_JSON_DEPTH - 1), False),
        ("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1), True),
        ('{"a":' * MAX_JSON_DEPTH + "1" + "}" * MAX_JSON_DEPTH, False),
        ('{"a":' * (MAX_JSON_DEPTH + 1) + "1" + "}" * (MAX_JSON_DEPTH + 1), True),
        # brackets inside strings do not nest, escaped quotes do not end a string
        (json.dumps(["[" * 1000, '\\"[[[' * 100]), False),
        (json.dumps({"k": "{" * 5000}), False),
        # many shallow siblings are not deep
        ("[" + ",".join(["[[1]]"] * 10_000) + "]", False),
        # 65 levels made of alternating arrays and objects
        ('[{"a":' * 33 + "1" + "}]" * 33, True),
        ('[{"a":' * 32 + "1" + "}]" * 32, False),
        # unbalanced openers (the parser would recurse into them first)
        ("[" * 100_000, True),
        ("[" * 10, False),
    ],
)
def test_nesting_prescan_edges(text: str, too_deep: bool) -> None:
    assert json_nesting_exceeds(text) is too_deep
    assert json_nesting_exceeds(text.encode()) is too_deep


def test_nesting_prescan_is_fast_on_a_mebibyte() -> None:
    bodies = [
        b"[" * 1_048_576,
        b"[" * 524_288 + b"]" * 524_288,
        b"[" + b",".join([b"[" * 60 + b"]" * 60] * 8600) + b"]",
        json.dumps([{"note": "x" * 50, "v": [1, 2, {"a": "[["}]}] * 9000).encode()[:1_048_576],
    ]
    for body in bodies:
        started = time.perf_counter()
        json_nesting_exceeds(body)
        assert time.perf_counter() - started < 1.0


# --- deep nesting on routes --------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/api/v1/results", "/api/v1/evidence", "/api/v1/targets", "/api/v1/results/status"]
)
def test_deep_json_body_refused_on_representative_routes(
    app: Flask, client: FlaskClient, official: Caller, path: str
) -> None:
    response = client.post(
        path, data=DEEP, content_type="application/json", headers=official.headers
    )
    body = assert_problem(response, 422, "too_deep")
    assert str(MAX_JSON_DEPTH) in body["detail"]
    assert count(app, Result) == 0 and count(app, Evidence) == 0


def _json_write_operations(app: Flask) -> list[tuple[str, str]]:
    document = app.test_client().get("/api/openapi.json").get_json()
    operations = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method not in ("post", "put", "patch"):
                continue
            content = operation.get("requestBody", {}).get("content", {})
            if "multipart/form-data" in content:
                continue  # the import form: covered by its own test below
            concrete = path.replace("{", "").replace("}", "")
            for name in ("id", "evidence_id", "review_id", "peer_id", "city_id", "code"):
                concrete = concrete.replace(name, "1") if "{" + name + "}" in path else concrete
            operations.append((method, concrete))
    return operations


def test_every_json_write_route_refuses_deep_bodies(
    app: Flask, client: FlaskClient, official: Caller, admin: Caller
) -> None:
    operations = _json_write_operations(app)
    assert len(operations) >= 15
    failures = []
    for who in (official, admin, None):
        headers = who.headers if who else {}
        for method, path in operations:
            response = client.open(
                path,
                method=method.upper(),
                data=DEEP,
                content_type="application/json",
                headers=headers,
            )
            if response.status_code >= 500 or response.mimetype != "application/problem+json":
                failures.append(f"{method.upper()} {path}: {response.status_code}")
            elif who is not None and response.status_code == 422:
                assert response.get_json()["code"] == "too_deep", (path, response.get_json())
    assert not failures, failures


def test_deep_json_through_flask_get_json_is_refused(
    app: Flask, client: FlaskClient, official: Caller
) -> None:
    # /results reads its body with request.get_json() (list or object): Flask's JSON provider.
    with app.test_request_context("/x", method="POST", data=DEEP, content_type="application/json"):
        from flask import request

        from node.input_guard import TooDeepError

        with pytest.raises(TooDeepError):
            request.get_json()


# --- NUL and lone surrogates -------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["\\ud800", "\\u0000", "a\\udfffb", "x\\u0000y"])
def test_note_with_invalid_text_refused_and_nothing_stored(
    app: Flask, client: FlaskClient, official: Caller, bad: str
) -> None:
    raw = json.dumps(NOTE)[:-1] + f', "note": "{bad}"}}'
    response = client.post(
        "/api/v1/results", data=raw, content_type="application/json", headers=official.headers
    )
    body = assert_problem(response, 422, "invalid_text")
    assert "note" in body["errors"]
    assert count(app, Result) == 0
    # the same figure with a clean note is stored: only the text was the problem
    clean = client.post("/api/v1/results", json={**NOTE, "note": "ok"}, headers=official.headers)
    assert clean.status_code == 201


@pytest.mark.parametrize("bad", ["\\ud800", "\\u0000"])
def test_evidence_title_with_invalid_text_refused(
    app: Flask, client: FlaskClient, create_user: Any, bad: str
) -> None:
    cso = create_user("cso_partner")
    raw = json.dumps({**EVIDENCE, "title": "T"})[:-1].replace('"T"', f'"T{bad}"') + "}"
    response = client.post(
        "/api/v1/evidence", data=raw, content_type="application/json", headers=cso.headers
    )
    body = assert_problem(response, 422, "invalid_text")
    assert "title" in body["errors"]
    assert count(app, Evidence) == 0


def test_invalid_text_in_a_member_name_or_a_list(client: FlaskClient, official: Caller) -> None:
    raw = '[{"indicator": "HRC-HOU-01", "period": "2025", "value": "1", "x\\u0000": 1}]'
    response = client.post(
        "/api/v1/results", data=raw, content_type="application/json", headers=official.headers
    )
    assert_problem(response, 422, "invalid_text")


def test_nul_in_a_query_string_refused(client: FlaskClient, official: Caller) -> None:
    response = client.get("/api/v1/results?indicator=HRC%00HOU", headers=official.headers)
    body = assert_problem(response, 422, "invalid_text")
    assert "indicator" in body["errors"]


def test_nul_in_a_page_query_gives_a_readable_page(client: FlaskClient) -> None:
    response = client.get("/catalogue?q=a%00b")
    assert response.status_code == 422
    assert response.mimetype == "text/html"
    assert "NUL" in response.get_data(as_text=True)


# --- the import form (multipart) -----------------------------------------------------------------

CSV = b"indicator,period,value\nHRC-HOU-01,2025,3\n"


def _import(client: FlaskClient, official: Caller, **form: Any) -> Any:
    data = {"file": (io.BytesIO(CSV), "r.csv"), **form}
    return client.post(
        "/api/v1/results/import",
        data=data,
        content_type="multipart/form-data",
        headers=official.headers,
    )


def test_deep_import_profile_refused(app: Flask, client: FlaskClient, official: Caller) -> None:
    response = _import(client, official, layout="open-sdg", profile="[" * 100_000)
    body = assert_problem(response, 422, "too_deep")
    assert "profile" in body["errors"]
    assert count(app, Result) == 0


def test_import_profile_with_invalid_text_refused(
    app: Flask, client: FlaskClient, official: Caller
) -> None:
    response = _import(client, official, layout="open-sdg", profile='{"source": "a\\ud800"}')
    body = assert_problem(response, 422, "invalid_text")
    assert any("profile" in key for key in body["errors"])
    assert count(app, Result) == 0


def test_nul_in_an_import_form_field_refused(
    app: Flask, client: FlaskClient, official: Caller
) -> None:
    response = _import(client, official, layout="own", indicator="HRC\x00")
    assert_problem(response, 422, "invalid_text")
    assert count(app, Result) == 0


# --- OpenAPI 3 ---------------------------------------------------------------------------------


def test_openapi_document_is_valid_openapi_3(client: FlaskClient) -> None:
    document = client.get("/api/openapi.json").get_json()
    assert document["openapi"].startswith("3.")
    validate(document)
    operation = document["paths"]["/api/v1/results/import"]["post"]
    assert not any(p.get("in") == "formData" for p in operation.get("parameters", []))
    schema = operation["requestBody"]["content"]["multipart/form-data"]["schema"]
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        schema = document["components"]["schemas"][name]
    assert {"file", "layout", "indicator", "profile"} <= set(schema["properties"])
    assert schema["properties"]["file"]["format"] == "binary"
    assert "file" in schema.get("required", [])


# --- pages -------------------------------------------------------------------------------------


@pytest.fixture
def web(app: Flask) -> FlaskClient:
    app.config["WTF_CSRF_ENABLED"] = True
    return app.test_client()


def test_page_form_with_nul_gives_a_readable_page_keeping_the_input(
    app: Flask, web: FlaskClient, official: Caller
) -> None:
    from tests.web.test_pages import csrf_token, login

    login(web, official)
    token = csrf_token(web, "/enter?indicator=HRC-HOU-01")
    data = {
        "csrf_token": token,
        "indicator": "HRC-HOU-01",
        "period": "2025",
        "value": "11.5",
        "status": "published",
        "note": "Counted by hand\x00 in March",
        "dim_SEX": "_T",
    }
    response = web.post("/enter?indicator=HRC-HOU-01", data=data)
    assert response.status_code == 422
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert "cannot be saved" in html and "Nothing was saved" in html
    assert "Counted by hand\ufffd in March" in html  # what was typed is shown back
    assert "<dt>csrf_token</dt>" not in html  # the CSRF token is not echoed back
    assert count(app, Result) == 0


def test_import_page_with_a_deep_profile_keeps_the_form(
    app: Flask, web: FlaskClient, official: Caller
) -> None:
    from tests.web.test_pages import csrf_token, login

    login(web, official)
    response = web.post(
        "/import",
        data={
            "csrf_token": csrf_token(web, "/import"),
            "layout": "open-sdg",
            "profile": "[" * 100_000,
            "file": (io.BytesIO(CSV), "figures.csv"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "more than 64 levels deep" in html
    assert 'name="profile"' in html  # the form is shown again
    assert count(app, Result) == 0


def _far_row_workbook() -> bytes:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    for column, name in enumerate(("indicator", "period", "value"), start=1):
        sheet.cell(row=1, column=column, value=name)
    sheet.cell(row=1_048_576, column=1, value="HRC-HOU-01")
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def test_far_row_xlsx_refused_fast_through_the_api(
    app: Flask, client: FlaskClient, official: Caller
) -> None:
    data = _far_row_workbook()
    assert len(data) < 8_000
    started = time.perf_counter()
    response = client.post(
        "/api/v1/results/import",
        data={"file": (io.BytesIO(data), "book.xlsx"), "layout": "own"},
        content_type="multipart/form-data",
        headers=official.headers,
    )
    elapsed = time.perf_counter() - started
    body = assert_problem(response, 422, "unreadable_file")
    assert "1,048,576" in body["detail"]
    assert elapsed < 2.0
    assert count(app, Result) == 0


def test_far_row_xlsx_refused_fast_on_the_import_page(
    app: Flask, web: FlaskClient, official: Caller
) -> None:
    from tests.web.test_pages import csrf_token, login

    login(web, official)
    token = csrf_token(web, "/import")
    started = time.perf_counter()
    response = web.post(
        "/import",
        data={
            "csrf_token": token,
            "layout": "own",
            "file": (io.BytesIO(_far_row_workbook()), "book.xlsx"),
        },
        content_type="multipart/form-data",
    )
    assert time.perf_counter() - started < 2.0
    assert response.status_code == 422
    assert "1,048,576" in response.get_data(as_text=True)


# --- headers are never built from raw input ----------------------------------------------------

INJECTION = "%0d%0aSet-Cookie:%20pwned=1%0d%0aX-Injected:%201"


@pytest.mark.parametrize(
    "path",
    [
        f"/api/v1/export?format=csv&indicator=HRC-HOU-01{INJECTION}",
        f"/api/v1/export?format=csv{INJECTION}",
        f"/api/v1/export?format=csv&period=2025{INJECTION}",
        f"/api/v1/results?indicator={INJECTION}",
        f"/api/v1/nothing{INJECTION}",
        f"/catalogue/HRC-HOU-01{INJECTION}",
        f"/benchmarks/X{INJECTION}",
        f"/login?next=/{INJECTION}",
    ],
)
def test_hostile_query_values_never_reach_response_headers(client: FlaskClient, path: str) -> None:
    # Closed when done: a streamed export left open holds its database connection until the
    # garbage collector finds it (tests/conftest.py's drop_database says what that breaks).
    with client.get(path) as response:
        assert response.status_code < 500
        for name, value in response.headers.items():
            assert "pwned" not in value and "\r" not in value and "\n" not in value, name
        assert "X-Injected" not in response.headers


@pytest.mark.parametrize(
    "path", ["/api/v1/indicators/HRC%00HOU", "/catalogue/HRC%00HOU", "/benchmarks/A%00B"]
)
def test_nul_in_a_path_segment_is_refused(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 422
    if path.startswith("/api/"):
        assert response.get_json()["code"] == "invalid_text"


# Values for the other parts of those routes: any well-formed value, the row id decides.
OTHER_PARTS = {"city_id": "fr-lyon", "rel_id": "m1", "kind": "agreement"}


def _row_id_paths(app: Flask, row_id: str) -> list[tuple[str, str]]:
    """(method, path) of every API route with a ``<rowid:...>`` part, that part set to ``row_id``
    (read from the url map, so a new route is covered without editing this test)."""
    found = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/") or "<rowid:" not in rule.rule:
            continue
        path = re.sub(r"<rowid:\w+>", row_id, rule.rule)
        path = re.sub(r"<(?:[^:>]+:)?(\w+)>", lambda m: OTHER_PARTS[m.group(1)], path)
        found += [(method, path) for method in sorted(rule.methods - {"HEAD", "OPTIONS"})]
    return found


@pytest.mark.parametrize("row_id", ["0", "2147483648", "999999999999999"])
def test_row_ids_no_integer_column_can_hold_are_not_found(
    app: Flask, client: FlaskClient, official: Caller, row_id: str
) -> None:
    """An id beyond PostgreSQL's INTEGER (or below 1) names no row: 404, never a 500 (it was one
    on the key-change confirmation, found by schemathesis on PostgreSQL)."""
    routes = _row_id_paths(app, row_id)
    assert len(routes) >= 6, routes
    for method, path in routes:
        response = client.open(path, method=method, json={}, headers=official.headers)
        assert_problem(response, 404, "not_found")
