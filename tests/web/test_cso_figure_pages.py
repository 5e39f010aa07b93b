"""Civil-society parallel figures in pages (issue 16): the CSO partner's page, and the official
and portal indicator pages showing published CSO figures in their own labelled table, never in
the official table or charts. Through the test client with CSRF on, on a real SQLite node."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from node.models import CsoFigure, Result
from tests.support import Caller
from tests.web.test_pages import csrf_token, login

LABEL = "Figures from civil society — not the city's"


@pytest.fixture
def web(app: Flask) -> FlaskClient:
    app.config["WTF_CSRF_ENABLED"] = True
    return app.test_client()


def _form(web: FlaskClient, **fields: str) -> dict[str, str]:
    return {
        "csrf_token": csrf_token(web, "/cso-figures"),
        "indicator": "HRC-HOU-01",
        "period": "2025",
        "disaggregation": "SEX=F",
        "value": "140.5",
        "organisation": "Housing Watch",
        "method": "door-to-door survey of 1,200 households",
        "source": "Housing Watch annual survey 2025",
        "note": "",
        **fields,
    }


def _count(db: Any, model: Any) -> int:
    with db() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def _enter_and_publish(web: FlaskClient, db: Any) -> str:
    saved = web.post("/cso-figures", data=_form(web))
    assert saved.status_code == 302, saved.get_data(as_text=True)
    with db() as session:
        figure_id = session.scalars(select(CsoFigure.id)).one()
    published = web.post(
        f"/cso-figures/{figure_id}/publish", data={"csrf_token": csrf_token(web, "/cso-figures")}
    )
    assert published.status_code == 302
    with db() as session:
        row = session.get(CsoFigure, figure_id)
        assert row is not None and row.status == "published" and row.envelope_sha256
        return row.envelope_sha256


def test_a_partner_enters_and_publishes_a_figure_shown_beside_the_official_one(
    web: FlaskClient, app: Flask, create_user: Any, official: Caller, db: Any
) -> None:
    official_figure = {
        "indicator": "HRC-HOU-01",
        "period": "2025",
        "value": "18",
        "status": "published",
    }
    assert (
        app.test_client()
        .post("/api/v1/results", json=official_figure, headers=official.headers)
        .status_code
        == 201
    )
    login(web, create_user("cso_partner"))
    sha = _enter_and_publish(web, db)
    page = web.get("/cso-figures").get_data(as_text=True)
    assert "Housing Watch" in page and f"/public/cso-statements/{sha}" in page

    visitor = app.test_client()
    for path, official_table in (
        ("/catalogue/HRC-HOU-01", 'id="figures"'),
        ("/portal/indicators/HRC-HOU-01", 'id="published-figures"'),
    ):
        html = visitor.get(path).get_data(as_text=True)
        assert LABEL in html, path
        cso_table = html.split('id="cso-figures"', 1)[1].split("</table>", 1)[0]
        assert "Housing Watch" in cso_table and "140.5" in cso_table
        assert f"/public/cso-statements/{sha}" in cso_table
        # the official table holds the city's figure only, never the CSO's
        official_part = html.split(official_table, 1)[1].split("</table>", 1)[0]
        assert "18" in official_part and "140.5" not in official_part, path
        # and no chart carries it (charts are drawn from the official figures only)
        assert "140.5" not in html.split('id="cso-figures"', 1)[0], path
    assert _count(db, Result) == 1


def test_a_draft_is_not_shown_to_the_public(
    web: FlaskClient, app: Flask, create_user: Any, db: Any
) -> None:
    login(web, create_user("cso_partner"))
    assert web.post("/cso-figures", data=_form(web)).status_code == 302
    for path in ("/catalogue/HRC-HOU-01", "/portal/indicators/HRC-HOU-01"):
        html = app.test_client().get(path).get_data(as_text=True)
        assert "Housing Watch" not in html and LABEL not in html


def test_the_form_ties_errors_to_fields_and_saves_nothing(
    web: FlaskClient, create_user: Any, db: Any
) -> None:
    login(web, create_user("cso_partner"))
    response = web.post("/cso-figures", data=_form(web, value="10000.01", method=""))
    assert response.status_code in (400, 422)
    html = response.get_data(as_text=True)
    assert re.search(
        r'id="method"[^>]*aria-invalid="true"|aria-invalid="true"[^>]*id="method"', html
    )
    assert _count(db, CsoFigure) == 0
    response = web.post("/cso-figures", data=_form(web, value="10000.01"))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'id="value-error"' in html and "aria-invalid" in html
    assert _count(db, CsoFigure) == 0


@pytest.mark.parametrize("role", ["official", "data_collector", "viewer"])
def test_city_staff_cannot_use_the_cso_page(
    web: FlaskClient, create_user: Any, db: Any, role: str
) -> None:
    login(web, create_user(role))
    assert web.get("/cso-figures").status_code == 403
    assert _count(db, CsoFigure) == 0


def test_an_official_cannot_publish_a_partners_draft(
    web: FlaskClient, app: Flask, create_user: Any, official: Caller, db: Any
) -> None:
    login(web, create_user("cso_partner"))
    assert web.post("/cso-figures", data=_form(web)).status_code == 302
    with db() as session:
        figure_id = session.scalars(select(CsoFigure.id)).one()
    other = app.test_client()
    login(other, official)
    token = csrf_token(other, "/evidence")
    assert (
        other.post(f"/cso-figures/{figure_id}/publish", data={"csrf_token": token}).status_code
        == 403
    )
    with db() as session:
        row = session.get(CsoFigure, figure_id)
        assert row is not None and (row.status, row.envelope_sha256) == ("draft", None)


def test_consent_is_asked_on_the_page_off_by_default_and_can_be_withdrawn(
    web: FlaskClient, create_user: Any, db: Any
) -> None:
    login(web, create_user("cso_partner"))
    page = web.get("/cso-figures").get_data(as_text=True)
    checkbox = re.search(r'<input[^>]*name="share_with_twins"[^>]*>', page)
    assert checkbox and "checked" not in checkbox.group(0)  # not shared unless agreed
    assert 'aria-describedby="share_with_twins-hint"' in checkbox.group(0)
    saved = web.post("/cso-figures", data=_form(web, share_with_twins="y"))
    assert saved.status_code == 302, saved.get_data(as_text=True)
    with db() as session:
        figure = session.scalars(select(CsoFigure)).one()
        assert figure.share_with_twins is True
        figure_id = figure.id
    assert "to be shared with twins" in web.get("/cso-figures").get_data(as_text=True)
    web.post(
        f"/cso-figures/{figure_id}/publish", data={"csrf_token": csrf_token(web, "/cso-figures")}
    )
    page = web.get("/cso-figures").get_data(as_text=True)
    assert "Stop sharing with twins" in page and "Withdraw this figure" in page
    # A scope the page never offers: refused, nothing changes.
    odd = web.post(
        f"/cso-figures/{figure_id}/withdraw",
        data={"csrf_token": csrf_token(web, "/cso-figures"), "scope": "everything"},
    )
    assert odd.status_code == 400
    stopped = web.post(
        f"/cso-figures/{figure_id}/withdraw",
        data={
            "csrf_token": csrf_token(web, "/cso-figures"),
            "scope": "sharing",
            "reason": "our board said no",
        },
    )
    assert stopped.status_code == 302
    with db() as session:
        row = session.get(CsoFigure, figure_id)
        assert row is not None and row.status == "published" and row.sharing_withdrawn_at
    gone = web.post(
        f"/cso-figures/{figure_id}/withdraw",
        data={"csrf_token": csrf_token(web, "/cso-figures"), "scope": "figure"},
    )
    assert gone.status_code == 302
    with db() as session:
        row = session.get(CsoFigure, figure_id)
        assert row is not None and row.status == "withdrawn" and row.withdrawn_at
    assert "withdrawn" in web.get("/cso-figures").get_data(as_text=True)
