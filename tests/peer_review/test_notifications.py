"""In-app notifications: the API (bearer token) and the page (login, CSRF); each user sees and
changes only their own."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from peer_review import notifications
from tests.peer_review.conftest import user_id
from tests.support import Caller, Clock
from tests.web.test_pages import csrf_token, login

Db = Callable[[], Any]
PROBLEM = "application/problem+json"


def notify(db: Db, clock: Clock, who: Caller, title: str, link: str | None = "/reviews/3") -> int:
    with db() as session:
        row = notifications.notify(
            session,
            user_id(db, who),
            kind="reminder_due",
            title=title,
            body=f"{title}: body",
            link=link,
            now=clock(),
        )
        return row.id


@pytest.fixture
def web(app: Flask) -> FlaskClient:
    app.config["WTF_CSRF_ENABLED"] = True
    return app.test_client()


def test_api_lists_only_your_own(
    client: FlaskClient, db: Db, clock: Clock, create_user: Callable[..., Caller]
) -> None:
    ana, bo = create_user("reviewer"), create_user("viewer")
    notify(db, clock, ana, "First")
    clock.advance(hours=1)
    notify(db, clock, ana, "Second")
    notify(db, clock, bo, "For Bo")

    listed = client.get("/api/v1/notifications", headers=ana.headers)
    assert listed.status_code == 200
    body = listed.get_json()
    assert [n["title"] for n in body["items"]] == ["Second", "First"]
    assert body["unread_count"] == 2
    first = body["items"][0]
    assert first["read"] is False and first["read_at"] is None
    assert first["link"] == "/reviews/3" and first["kind"] == "reminder_due"
    assert first["created_at"].startswith("2026-03-01T13:00:00")
    assert [
        n["title"] for n in client.get("/api/v1/notifications", headers=bo.headers).json["items"]
    ] == ["For Bo"]


def test_api_marks_read_and_filters_unread(
    client: FlaskClient, db: Db, clock: Clock, create_user: Callable[..., Caller]
) -> None:
    ana = create_user("official")
    one = notify(db, clock, ana, "One")
    notify(db, clock, ana, "Two")
    clock.advance(minutes=3)
    read = client.post(f"/api/v1/notifications/{one}/read", headers=ana.headers)
    assert read.status_code == 200
    assert read.json["read"] is True and read.json["read_at"].startswith("2026-03-01T12:03:00")
    again = client.post(f"/api/v1/notifications/{one}/read", headers=ana.headers)
    assert again.json["read_at"] == read.json["read_at"]  # the first reading is kept
    unread = client.get("/api/v1/notifications?unread=true", headers=ana.headers).json
    assert [n["title"] for n in unread["items"]] == ["Two"] and unread["unread_count"] == 1
    limited = client.get("/api/v1/notifications?limit=1", headers=ana.headers).json
    assert len(limited["items"]) == 1


@pytest.mark.parametrize("target", ["theirs", "missing", "huge", "zero"])
def test_api_someone_elses_notification_is_404(
    client: FlaskClient,
    db: Db,
    clock: Clock,
    create_user: Callable[..., Caller],
    target: str,
) -> None:
    ana, bo = create_user("admin"), create_user("reviewer")
    theirs = notify(db, clock, bo, "Private to Bo")
    notification_id = {"theirs": theirs, "missing": theirs + 1000, "huge": 2**63, "zero": 0}[target]
    answer = client.post(f"/api/v1/notifications/{notification_id}/read", headers=ana.headers)
    assert answer.status_code == 404 and answer.mimetype == PROBLEM
    # An id no row can have (0, beyond INTEGER) does not match the route: the router's 404.
    expected = "not_found" if target in ("huge", "zero") else "no_such_notification"
    assert answer.json["code"] == expected
    assert client.get("/api/v1/notifications", headers=bo.headers).json["unread_count"] == 1


def test_api_needs_a_token_and_valid_query(client: FlaskClient, official: Caller) -> None:
    anonymous = client.get("/api/v1/notifications")
    assert anonymous.status_code == 401 and anonymous.mimetype == PROBLEM
    assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.post("/api/v1/notifications/1/read").status_code == 401
    wrong = client.get("/api/v1/notifications", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.json["code"] == "invalid_token"
    for query in ("limit=0", "limit=201", "limit=x", "unread=maybe"):
        bad = client.get(f"/api/v1/notifications?{query}", headers=official.headers)
        assert bad.status_code == 422 and bad.mimetype == PROBLEM, query
    not_an_id = client.post("/api/v1/notifications/abc/read", headers=official.headers)
    assert not_an_id.status_code == 404 and not_an_id.mimetype == PROBLEM


def test_unsafe_links_are_not_kept(db: Db, clock: Clock, official: Caller) -> None:
    for link in ("javascript:alert(1)", "//evil.example/x", "https://evil.example", "/a b"):
        with db() as session:
            row = notifications.notify(
                session,
                user_id(db, official),
                kind="reminder_due",
                title="t",
                body="b",
                link=link,
                now=clock(),
            )
            assert row.link is None, link
    assert notifications.safe_link("/reviews/3?tab=comments#c2") == "/reviews/3?tab=comments#c2"


def test_page_shows_your_own_and_the_unread_count(
    web: FlaskClient, db: Db, clock: Clock, create_user: Callable[..., Caller]
) -> None:
    ana, bo = create_user("reviewer"), create_user("reviewer")
    notify(db, clock, ana, "Answer <the> invitation")
    notify(db, clock, ana, "Second one", link=None)
    notify(db, clock, bo, "Only for Bo")
    assert web.get("/notifications").status_code == 302  # sign in first
    login(web, ana)
    page = web.get("/notifications")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Answer &lt;the&gt; invitation" in html and "Only for Bo" not in html
    assert 'href="/reviews/3"' in html
    assert 'Notifications <span class="badge">2<span' in html
    dashboard = web.get("/").get_data(as_text=True)
    assert 'Notifications <span class="badge">2<span' in dashboard


def test_page_marks_read_with_csrf_only_your_own(
    web: FlaskClient, db: Db, clock: Clock, create_user: Callable[..., Caller]
) -> None:
    ana, bo = create_user("official"), create_user("official")
    mine = notify(db, clock, ana, "Mine")
    notify(db, clock, ana, "Mine too")
    theirs = notify(db, clock, bo, "Theirs")
    login(web, ana)
    assert web.post(f"/notifications/{mine}/read").status_code == 400  # no CSRF token
    token = csrf_token(web, "/notifications")
    other = web.post(f"/notifications/{theirs}/read", data={"csrf_token": token})
    assert other.status_code == 404 and other.mimetype == "text/html"
    done = web.post(f"/notifications/{mine}/read", data={"csrf_token": token})
    assert done.status_code == 302 and done.headers["Location"].endswith("/notifications")
    assert 'Notifications <span class="badge">1<span' in web.get("/notifications").get_data(
        as_text=True
    )
    everything = web.post("/notifications/read-all", data={"csrf_token": token})
    assert everything.status_code == 302
    html = web.get("/notifications").get_data(as_text=True)
    assert "1 notifications marked read." in html
    assert 'Notifications <span class="badge">' not in html
    with db() as session:
        assert notifications.unread_count(session, user_id(db, bo)) == 1


def test_a_reminder_arrives_in_the_page(
    web: FlaskClient, app: Flask, db: Db, clock: Clock, create_user: Callable[..., Caller]
) -> None:
    from peer_review import deadlines, reminders

    ana = create_user("reviewer")
    with db() as session:
        deadlines.arm(
            session,
            subject="assignment:9",
            kind="invitation_answer",
            due_at=deadlines.due_after("invitation_answer", clock()),
            now=clock(),
            title="Answer the invitation from Padova",
            link="/reviews/9",
            roles=["reviewer"],
        )
    clock.advance(days=14)
    runtime = app.extensions["hrcnet"]
    reminders.run_sweep(runtime.sessions, runtime.config, clock())  # no smtp_host: in-app only
    login(web, ana)
    html = web.get("/notifications").get_data(as_text=True)
    assert "Due now: Answer the invitation from Padova" in html
    assert "is due now (2026-03-15 12:00 UTC) and still open." in html
