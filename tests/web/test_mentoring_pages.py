"""The mentoring space through the test client with CSRF on: roles decide who sees the pages
and which buttons, every form carries a CSRF token, refusals read as messages."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from node.network.models import OutboxItem
from peer_review.mentoring.models import Relationship
from tests.mentoring_support import add_peer, receive_proposal
from tests.support import Caller, Clock
from tests.web.test_pages import csrf_token, login

REL_ID = "0123456789abcdef" * 2


@pytest.fixture
def web(app: Flask) -> FlaskClient:
    app.config["WTF_CSRF_ENABLED"] = True
    return app.test_client()


@pytest.fixture
def proposed(app: Flask, db: Any, clock: Clock) -> str:
    """Padova, an active twin, proposed to mentor us: the proposal as our inbox applies it."""
    add_peer(db, clock)
    return receive_proposal(app, db, clock, REL_ID, seq=7, title="Participatory budgeting")


def post_forms(html: str) -> list[str]:
    return re.findall(r'<form method="post".*?</form>', html, flags=re.S)


def assert_every_form_has_csrf(html: str) -> None:
    forms = post_forms(html)
    assert forms, "no form on the page"
    for form in forms:
        assert 'name="csrf_token"' in form, form[:300]


def test_roles_decide_who_sees_what(web: FlaskClient, create_user: Any, proposed: str) -> None:
    page = f"/mentoring/{proposed}"
    assert web.get(page).status_code == 302  # sign in first
    login(web, create_user("viewer"))
    assert web.get("/mentoring").status_code == 403
    assert web.get(page).status_code == 403
    web.post("/logout", data={"csrf_token": csrf_token(web, "/")})

    login(web, create_user("reviewer"))  # a member: sees the space, cannot answer for the city
    html = web.get(page).get_data(as_text=True)
    assert "Participatory budgeting" in html and "Accept the proposal" not in html
    refused = web.post(
        f"/mentoring/{proposed}/transitions/accept",
        data={"csrf_token": csrf_token(web, page)},
    )
    assert refused.status_code == 302
    assert "Only mentee_lead, mentor_lead may" in web.get(page).get_data(as_text=True)


def test_the_space_carries_csrf_and_moves_with_the_table(
    web: FlaskClient, app: Flask, db: Any, official: Caller, proposed: str
) -> None:
    page = f"/mentoring/{proposed}"
    login(web, official)
    listing = web.get("/mentoring").get_data(as_text=True)
    assert "Participatory budgeting" in listing
    assert_every_form_has_csrf(listing)
    html = web.get(page).get_data(as_text=True)
    assert "Accept the proposal" in html and "Decline the proposal" in html
    assert "Start closing" not in html  # not declared from "proposed"
    assert_every_form_has_csrf(html)

    # A form without its CSRF token is refused and changes nothing.
    assert web.post(f"{page}/transitions/accept").status_code == 400
    with db() as session:
        assert session.get(Relationship, proposed).state == "proposed"

    answered = web.post(f"{page}/transitions/accept", data={"csrf_token": csrf_token(web, page)})
    assert answered.status_code == 302
    html = web.get(page).get_data(as_text=True)
    assert "scoping" in html and "Propose a new version of the agreement" in html
    assert "An agreement needs" not in html
    # "Start" is not a button until the agreement is co-signed; the page says why.
    assert "Both cities must first sign" in html and "/transitions/activate" not in html
    assert_every_form_has_csrf(html)

    # The agreement editor: one schema with the API, readable errors, then a version to sign.
    editor = f"{page}/agreement"
    form = web.get(editor).get_data(as_text=True)
    assert_every_form_has_csrf(form)
    assert 'name="goals-0-text"' in form and 'name="goals-1-text"' not in form
    assert 'name="goals-1-text"' in web.get(f"{editor}?slots=2").get_data(as_text=True)
    data = {
        "csrf_token": csrf_token(web, editor),
        "terms": "Quarterly visits.",
        "starts_on": "2026-03-01",
        "ends_on": "2026-09-30",
        "goals-0-text": "Run one participatory budget round in two districts.",
        "goals-0-indicators": "HRC-HOU-01",
        "goals-0-recommendations": "REC-1, REC-2",
        "goals-0-measure_indicator": "HRC-HOU-01",
        "goals-0-summary_sha256": "f" * 64,
    }
    bad = web.post(editor, data=data)
    assert bad.status_code == 422
    assert "no signed summary with that hash" in bad.get_data(as_text=True)
    data.update({"goals-0-measure_indicator": "", "csrf_token": csrf_token(web, editor)})
    assert web.post(editor, data=data).status_code == 302
    html = web.get(page).get_data(as_text=True)
    assert "Run one participatory budget round" in html and "Sign version 1" in html
    sha = re.search(r'name="sha256" value="([0-9a-f]{64})"', html)
    assert sha is not None
    signed = web.post(
        f"{page}/agreement/1/sign", data={"csrf_token": csrf_token(web, page), "sha256": sha[1]}
    )
    assert signed.status_code == 302
    html = web.get(page).get_data(as_text=True)
    assert "verified" in html and "Sign version 1" not in html

    # Sessions and notes; the private note is never queued for Padova.
    plan = {
        "csrf_token": csrf_token(web, page),
        "title": "Kick-off",
        "planned_for": "2026-03-05T10:00",
    }
    assert web.post(f"{page}/sessions", data=plan).status_code == 302
    too_early = {**plan, "csrf_token": csrf_token(web, page), "planned_for": "1999-12-31T23:00"}
    assert web.post(f"{page}/sessions", data=too_early).status_code == 302
    assert "(2000–2200)" in web.get(page).get_data(as_text=True)
    with db() as session:
        rel = session.get(Relationship, proposed)
        [session_id] = [s.id for s in rel.sessions]
        queued = session.query(OutboxItem).count()
    held = web.post(
        f"{page}/sessions/{session_id}/hold", data={"csrf_token": csrf_token(web, page)}
    )
    assert held.status_code == 302
    html = web.get(page).get_data(as_text=True)
    assert "notes due" in html and 'name="notes"' in html
    documented = web.post(
        f"{page}/sessions/{session_id}/document",
        data={"csrf_token": csrf_token(web, page), "notes": "We agreed on two districts."},
    )
    assert documented.status_code == 302
    note = {"csrf_token": csrf_token(web, page), "kind": "private", "text": "Ask about costs."}
    assert web.post(f"{page}/notes", data=note).status_code == 302
    html = web.get(page).get_data(as_text=True)
    assert "We agreed on two districts." in html and "private: only this city sees it" in html
    with db() as session:
        assert session.query(OutboxItem).count() == queued + 2  # hold + document, not the note


def test_action_plan_and_refusals_as_messages(
    web: FlaskClient, official: Caller, proposed: str
) -> None:
    page = f"/mentoring/{proposed}"
    login(web, official)
    # The plan can only be changed from "scoping" on: refused while "proposed", as a message.
    editor = f"{page}/action-plan"
    form = web.get(editor).get_data(as_text=True)
    assert_every_form_has_csrf(form)
    data = {
        "csrf_token": csrf_token(web, editor),
        "items-0-text": "Map the districts",
        "items-0-city": "be-gent",
        "items-0-status": "open",
    }
    refused = web.post(editor, data=data)
    assert refused.status_code == 422
    assert "cannot &#39;update_action_plan&#39;" in refused.get_data(as_text=True)
    web.post(f"{page}/transitions/accept", data={"csrf_token": csrf_token(web, page)})
    data["csrf_token"] = csrf_token(web, editor)
    assert web.post(editor, data=data).status_code == 302
    html = web.get(page).get_data(as_text=True)
    assert "Map the districts" in html and "Version 1, by be-gent" in html
    # Only twins are offered; anything else is refused with the form's message.
    listing = "/mentoring"
    options = re.findall(r'<option value="([^"]*)"', web.get(listing).get_data(as_text=True))
    assert "it-padova" in options and "at-graz" not in options
    bad = web.post(
        listing,
        data={
            "csrf_token": csrf_token(web, listing),
            "partner": "at-graz",
            "our_side": "mentor",
            "title": "x",
        },
    )
    assert bad.status_code == 400 and "Not a valid choice" in bad.get_data(as_text=True)
    assert web.get(f"/mentoring/{'e' * 32}").status_code == 404
