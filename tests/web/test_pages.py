"""The pages, through the test client with CSRF protection on (as in production)."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.support import Caller


@pytest.fixture
def web(app: Flask) -> FlaskClient:
    app.config["WTF_CSRF_ENABLED"] = True
    return app.test_client()


def csrf_token(client: FlaskClient, path: str) -> str:
    html = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or re.search(
        r'name="csrf_token" value="([^"]+)"', html
    )
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def login(client: FlaskClient, who: Caller) -> None:
    token = csrf_token(client, "/login")
    response = client.post(
        "/login", data={"email": who.email, "password": who.password, "csrf_token": token}
    )
    assert response.status_code == 302, response.get_data(as_text=True)


def test_public_dashboard_and_catalogue(web: FlaskClient) -> None:
    page = web.get("/").get_data(as_text=True)
    assert "Progress towards our human rights targets" in page and "HRC-HOU-01" in page
    catalogue = web.get("/catalogue").get_data(as_text=True)
    assert catalogue.count('<tr><th scope="row">') == 29
    detail = web.get("/catalogue/HRC-HOU-01")
    assert detail.status_code == 200 and "lower is better" in detail.get_data(as_text=True)
    missing = web.get("/catalogue/NOPE")
    assert missing.status_code == 404 and "no indicator" in missing.get_data(as_text=True)
    assert missing.mimetype == "text/html"


def test_login_wrong_password_and_csrf(web: FlaskClient, official: Caller) -> None:
    token = csrf_token(web, "/login")
    wrong = web.post(
        "/login", data={"email": official.email, "password": "nope", "csrf_token": token}
    )
    assert wrong.status_code == 400 and "Wrong e-mail or password" in wrong.get_data(as_text=True)
    no_csrf = web.post("/login", data={"email": official.email, "password": official.password})
    assert no_csrf.status_code == 400
    assert "expired" in no_csrf.get_data(as_text=True)


def test_entry_page_saves_and_shows_errors(web: FlaskClient, official: Caller) -> None:
    assert web.get("/enter").status_code == 302  # sign in first
    login(web, official)
    form = web.get("/enter?indicator=HRC-HOU-01").get_data(as_text=True)
    assert 'name="dim_SEX"' in form and 'name="dim_TENURE"' in form
    token = csrf_token(web, "/enter?indicator=HRC-HOU-01")
    data: dict[str, Any] = {
        "csrf_token": token,
        "indicator": "HRC-HOU-01",
        "period": "2025",
        "value": "11.5",
        "status": "published",
        "dim_SEX": "F",
    }
    for dim in ("TENURE", "HOUSEHOLD_TYPE", "MIGRANT_STATUS", "DISABILITY", "DISTRICT"):
        data[f"dim_{dim}"] = "_T"
    saved = web.post("/enter?indicator=HRC-HOU-01", data=data)
    assert saved.status_code == 302
    assert "11.5" in web.get("/catalogue/HRC-HOU-01").get_data(as_text=True)
    bad = web.post(
        "/enter?indicator=HRC-HOU-01", data={**data, "period": "2025-Q9", "value": "abc"}
    )
    assert bad.status_code == 422
    text = bad.get_data(as_text=True)
    assert "Nothing was saved" in text and "2025-Q9" in text


def test_import_page_shows_the_error_table(web: FlaskClient, official: Caller) -> None:
    login(web, official)
    token = csrf_token(web, "/import")
    bad_csv = b"indicator,period,value\nHRC-HOU-01,2025,1\nHRC-NOPE,2025,2\nHRC-HOU-01,2025-Q7,3\n"
    response = web.post(
        "/import",
        data={"csrf_token": token, "layout": "own", "file": (io.BytesIO(bad_csv), "figures.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'id="import-errors"' in html and "HRC-NOPE" in html
    assert len(re.findall(r"<tr[^>]*><td>", html)) >= 2  # rows carry an id and a code now
    good_csv = b"indicator,period,value,status\nHRC-HOU-01,2025,1.25,published\n"
    ok = web.post(
        "/import",
        data={
            "csrf_token": csrf_token(web, "/import"),
            "layout": "own",
            "file": (io.BytesIO(good_csv), "figures.csv"),
        },
        content_type="multipart/form-data",
    )
    # Says what happened (issue 15), not a bare "Imported 1 results".
    assert ok.status_code == 200
    assert "1 new, 0 changed, 0 unchanged" in ok.get_data(as_text=True)


def test_roles_on_pages(web: FlaskClient, create_user: Any) -> None:
    login(web, create_user("viewer"))
    assert web.get("/enter").status_code == 403
    assert web.get("/import").status_code == 403


def test_open_redirect_is_refused(web: FlaskClient, official: Caller) -> None:
    token = csrf_token(web, "/login")
    response = web.post(
        "/login?next=//evil.example/x",
        data={"email": official.email, "password": official.password, "csrf_token": token},
    )
    assert response.headers["Location"] == "/"
