"""Every role's daily work in pages (issue 15): targets and baselines, budget lines, evidence with
attachments, import templates, and the administrators' users, tokens and password resets.

Through the test client with CSRF on (as in production), on a real SQLite (and PostgreSQL when
configured) node. Each refusal checks its answer AND that nothing was written.
"""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from node.models import (
    ApiToken,
    BudgetLine,
    Evidence,
    EvidenceAttachment,
    PasswordReset,
    Target,
    User,
)
from tests.support import Caller, Clock
from tests.web.test_pages import csrf_token, login

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


@pytest.fixture
def web(app: Flask) -> FlaskClient:
    app.config["WTF_CSRF_ENABLED"] = True
    return app.test_client()


def count(db: Any, model: Any) -> int:
    with db() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


# --- targets and baselines ----------------------------------------------------------------------


def _target_form(web: FlaskClient, code: str, **fields: str) -> dict[str, str]:
    html = web.get(f"/targets?indicator={code}").get_data(as_text=True)
    data = {"csrf_token": csrf_token(web, f"/targets?indicator={code}"), "indicator": code}
    for name in re.findall(r'<select[^>]*name="(dim_[A-Z_]+)"', html):
        data[name] = "_T"
    return {**data, **fields}


def test_an_official_sets_a_baseline_and_target_and_sees_it_on_the_indicator(
    web: FlaskClient, official: Caller, db: Any
) -> None:
    login(web, official)
    data = _target_form(
        web,
        "HRC-HOU-01",
        baseline_period="2020",
        baseline_value="14.2",
        target_period="2030",
        target_value="10",
        dim_SEX="F",
    )
    saved = web.post("/targets?indicator=HRC-HOU-01", data=data)
    assert saved.status_code == 302, saved.get_data(as_text=True)
    with db() as session:
        row = session.scalars(select(Target)).one()
        assert (row.disaggregation, row.baseline_value, row.target_value) == (
            {"SEX": "F"},
            "14.2",
            "10",
        )
    listing = web.get("/targets").get_data(as_text=True)
    assert "HRC-HOU-01" in listing and "14.2" in listing
    assert "14.2" in web.get("/catalogue/HRC-HOU-01").get_data(as_text=True)


@pytest.mark.parametrize(
    ("code", "value", "accepted", "message"),
    [
        # HRC-EDU-01 is a percentage (unit PT): 0 and 100 pass, just beyond them not.
        ("HRC-EDU-01", "-0.1", False, "between 0 and 100"),
        ("HRC-EDU-01", "0", True, ""),
        ("HRC-EDU-01", "100", True, ""),
        ("HRC-EDU-01", "100.1", False, "between 0 and 100"),
        ("HRC-EDU-01", "150", False, "between 0 and 100"),
        # HRC-HOU-01 is a rate per 10,000 households: never negative, at most its base (more
        # than one per household is a count typed where a rate belongs).
        ("HRC-HOU-01", "-0.1", False, "cannot be negative"),
        ("HRC-HOU-01", "0", True, ""),
        ("HRC-HOU-01", "150", True, ""),
        ("HRC-HOU-01", "10000", True, ""),
        ("HRC-HOU-01", "10000.01", False, "cannot be more than 10,000"),
    ],
)
def test_targets_are_checked_against_the_unit(
    web: FlaskClient,
    official: Caller,
    db: Any,
    code: str,
    value: str,
    accepted: bool,
    message: str,
) -> None:
    login(web, official)
    data = _target_form(
        web,
        code,
        baseline_period="2020",
        baseline_value="12",
        target_period="2030",
        target_value=value,
    )
    answer = web.post(f"/targets?indicator={code}", data=data)
    if accepted:
        assert answer.status_code == 302
        assert count(db, Target) == 1
    else:
        html = answer.get_data(as_text=True)
        assert answer.status_code == 422
        # The message sits beside its field, which is marked (and focused).
        error = re.search(r'<small class="error" id="target_value-error">([^<]*)<', html)
        assert error and message in error.group(1)
        field = re.search(r'<input[^>]*id="target_value"[^>]*>', html)
        assert field and 'aria-invalid="true"' in field.group(0)
        assert count(db, Target) == 0


def test_a_malformed_target_period_is_a_message_not_a_500(
    web: FlaskClient, official: Caller, db: Any
) -> None:
    login(web, official)
    data = _target_form(web, "HRC-HOU-01", baseline_period="2025-13", baseline_value="3")
    answer = web.post("/targets?indicator=HRC-HOU-01", data=data)
    assert answer.status_code == 422 and 'id="baseline_period-error"' in answer.get_data(
        as_text=True
    )
    assert count(db, Target) == 0


@pytest.mark.parametrize("role", ["data_collector", "cso_partner", "viewer", "reviewer"])
def test_only_officials_and_admins_set_targets(
    web: FlaskClient, create_user: Any, db: Any, official: Caller, role: str
) -> None:
    login(web, official)
    data = _target_form(web, "HRC-HOU-01", baseline_period="2020", baseline_value="12")
    other = web.application.test_client()
    login(other, create_user(role))
    data["csrf_token"] = csrf_token(other, "/account/password")
    assert other.get("/targets").status_code == 403
    assert other.post("/targets?indicator=HRC-HOU-01", data=data).status_code == 403
    assert count(db, Target) == 0


# --- budget lines ---------------------------------------------------------------------------


def test_budget_lines_are_listed_and_added_by_officials_only(
    web: FlaskClient, official: Caller, create_user: Any, db: Any
) -> None:
    data = {
        "indicator": "HRC-HOU-01",
        "period": "2025",
        "programme": "Social housing",
        "allocated": "1200000",
        "executed": "900000",
        "currency": "EUR",
    }
    collector = web.application.test_client()
    login(collector, create_user("data_collector"))
    token = csrf_token(collector, "/budget")
    assert collector.post("/budget", data={**data, "csrf_token": token}).status_code == 403
    assert count(db, BudgetLine) == 0

    login(web, official)
    negative = web.post(
        "/budget", data={**data, "allocated": "-5", "csrf_token": csrf_token(web, "/budget")}
    )
    assert negative.status_code == 422 and 'id="allocated-error"' in negative.get_data(as_text=True)
    assert count(db, BudgetLine) == 0
    saved = web.post("/budget", data={**data, "csrf_token": csrf_token(web, "/budget")})
    assert saved.status_code == 302
    html = web.get("/budget").get_data(as_text=True)
    assert "Social housing" in html and "75" in html  # 900000 of 1200000 spent: 75.0 %


# --- evidence and attachments ------------------------------------------------------------------


def _evidence_data(web: FlaskClient, files: list[tuple[bytes, str]]) -> dict[str, Any]:
    return {
        "csrf_token": csrf_token(web, "/evidence"),
        "indicator": "HRC-HOU-01",
        "period": "2025",
        "kind": "cso_report",
        "title": "Evictions in winter",
        "body": "We counted 40 evictions.",
        "organisation": "Housing Rights Gent",
        "attachments": [(io.BytesIO(content), name) for content, name in files],
    }


def test_a_partner_adds_evidence_with_an_attachment_and_an_official_publishes_it(
    web: FlaskClient, app: Flask, create_user: Any, official: Caller, db: Any
) -> None:
    login(web, create_user("cso_partner"))
    saved = web.post(
        "/evidence",
        data=_evidence_data(web, [(PDF, "../../etc/report 2025.pdf")]),
        content_type="multipart/form-data",
    )
    assert saved.status_code == 302, saved.get_data(as_text=True)
    with db() as session:
        attachment = session.scalars(select(EvidenceAttachment)).one()
        evidence_id, attachment_id = attachment.evidence_id, attachment.id
        stored, shown = attachment.stored_name, attachment.filename
        assert attachment.media_type == "application/pdf" and attachment.size == len(PDF)
    # Stored under a generated name in the data directory, never under the client's path.
    data_dir = app.extensions["hrcnet"].config.data_dir
    assert re.fullmatch(r"[0-9a-f]{32}", stored)
    assert (data_dir / "attachments" / stored).read_bytes() == PDF
    assert shown == "report 2025.pdf" and not (data_dir / "etc").exists()

    # Not published yet: a visitor finds nothing (not even that it exists), a partner sees it.
    anonymous = app.test_client()
    assert anonymous.get(f"/evidence/attachments/{attachment_id}").status_code == 404
    download = web.get(f"/evidence/attachments/{attachment_id}")
    assert download.status_code == 200 and download.data == PDF
    assert download.headers["Content-Disposition"].startswith("attachment")
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    assert download.mimetype == "application/pdf"

    # The partner may not publish; the official does, and the public then sees it.
    token = csrf_token(web, "/evidence")
    assert (
        web.post(f"/evidence/{evidence_id}/publish", data={"csrf_token": token}).status_code == 403
    )
    with db() as session:
        assert session.get(Evidence, evidence_id).status == "submitted"
    boss = app.test_client()
    login(boss, official)
    token = csrf_token(boss, "/evidence")
    assert (
        boss.post(f"/evidence/{evidence_id}/publish", data={"csrf_token": token}).status_code == 302
    )
    assert "Evictions in winter" in anonymous.get("/catalogue/HRC-HOU-01").get_data(as_text=True)
    assert anonymous.get(f"/evidence/attachments/{attachment_id}").status_code == 200


@pytest.mark.parametrize(
    ("content", "name"),
    [
        (b"<html><script>alert(1)</script></html>", "report.pdf"),  # markup named as a PDF
        (b"MZ\x90\x00\x03\x00\x00\x00", "photo.png"),  # an executable named as a picture
        (b"PK\x03\x04" + b"\x00" * 20, "notes.txt"),  # a zip (office file) named as text
    ],
)
def test_an_attachment_is_judged_by_its_bytes_not_its_name_or_content_type(
    web: FlaskClient, create_user: Any, db: Any, content: bytes, name: str
) -> None:
    login(web, create_user("cso_partner"))
    data = _evidence_data(web, [])
    data["attachments"] = [(io.BytesIO(content), name, "application/pdf")]
    answer = web.post("/evidence", data=data, content_type="multipart/form-data")
    html = answer.get_data(as_text=True)
    assert answer.status_code == 422 and "not a PDF, PNG, JPEG or plain-text file" in html
    assert count(db, Evidence) == 0 and count(db, EvidenceAttachment) == 0


@pytest.mark.parametrize(("extra", "accepted"), [(-1, True), (0, True), (1, False)])
def test_an_attachment_is_bounded_in_size(
    app: Flask, web: FlaskClient, create_user: Any, db: Any, extra: int, accepted: bool
) -> None:
    # A small limit (the setting of node.toml): big bodies would be spooled to temporary files.
    app.extensions["hrcnet"].config.values["max_attachment_bytes"] = limit = 20_000
    content = PNG + b"\x00" * (limit + extra - len(PNG))
    login(web, create_user("cso_partner"))
    answer = web.post(
        "/evidence",
        data=_evidence_data(web, [(content, "photo.png")]),
        content_type="multipart/form-data",
    )
    if accepted:
        assert answer.status_code == 302
        assert count(db, EvidenceAttachment) == 1
    else:
        assert answer.status_code == 422
        assert "larger than" in answer.get_data(as_text=True)
        assert count(db, Evidence) == 0 and count(db, EvidenceAttachment) == 0
    folder = app.extensions["hrcnet"].config.data_dir / "attachments"
    assert len(list(folder.glob("*"))) == (1 if accepted else 0)


def test_viewers_may_not_add_evidence(web: FlaskClient, create_user: Any, db: Any) -> None:
    login(web, create_user("viewer"))
    assert web.get("/evidence").status_code == 403
    token = csrf_token(web, "/account/password")
    answer = web.post(
        "/evidence",
        data={
            "csrf_token": token,
            "indicator": "HRC-HOU-01",
            "period": "2025",
            "kind": "cso_report",
            "title": "x",
            "body": "y",
        },
    )
    assert answer.status_code == 403
    assert count(db, Evidence) == 0


# --- import template -----------------------------------------------------------------------


def test_the_import_template_has_the_columns_one_row_per_breakdown_code_and_the_unit(
    web: FlaskClient, official: Caller
) -> None:
    answer = web.get("/catalogue/HRC-HOU-01/import-template.csv")
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    assert (
        answer.headers["Content-Disposition"]
        == 'attachment; filename="import-template-HRC-HOU-01.csv"'
    )
    rows = list(csv.DictReader(io.StringIO(answer.get_data(as_text=True))))
    indicator = web.get("/api/v1/indicators/HRC-HOU-01").get_json()
    dimensions = {d["code"]: d for d in web.get("/api/v1/dimensions").get_json()["items"]}
    expected = 1 + sum(
        len([c for c in dimensions[dim]["codes"] if c["code"] != "_T"])
        for dim in indicator["disaggregations"]
    )
    assert len(rows) == expected
    assert set(rows[0]) >= {"indicator", "period", "value", *indicator["disaggregations"]}
    assert all(r["indicator"] == "HRC-HOU-01" and r["value"] == "" for r in rows)
    assert all(indicator["unit"]["label"] in r["note"] for r in rows)
    assert {r["SEX"] for r in rows} >= {"F", "M"}
    # Linked from the import page (through the list of templates) and the indicator page.
    login(web, official)
    assert "/import/templates" in web.get("/import").get_data(as_text=True)
    assert "/catalogue/HRC-HOU-01/import-template.csv" in web.get("/import/templates").get_data(
        as_text=True
    )
    assert "/catalogue/HRC-HOU-01/import-template.csv" in web.get("/catalogue/HRC-HOU-01").get_data(
        as_text=True
    )


def test_the_import_template_filled_in_imports_one_figure_per_row(
    web: FlaskClient, official: Caller, db: Any
) -> None:
    from node.models import Result

    rows = list(
        csv.reader(
            io.StringIO(web.get("/catalogue/HRC-HOU-01/import-template.csv").get_data(as_text=True))
        )
    )
    header, body = rows[0], rows[1:]
    value_column = header.index("value")
    for number, row in enumerate(body):
        row[value_column] = f"{10 + number}.5"
    out = io.StringIO()
    csv.writer(out).writerows([header, *body])
    login(web, official)
    answer = web.post(
        "/import",
        data={
            "csrf_token": csrf_token(web, "/import"),
            "layout": "own",
            "file": (io.BytesIO(out.getvalue().encode()), "template.csv"),
        },
        content_type="multipart/form-data",
    )
    html = answer.get_data(as_text=True)
    assert answer.status_code == 200, re.findall(r"<td>[^<]*</td>", html)
    assert count(db, Result) == len(body)


# --- administrators: users, roles, tokens, password resets --------------------------------


def _user_id(db: Any, email: str) -> int:
    with db() as session:
        return int(session.scalar(select(User.id).where(User.email == email)))


def test_an_admin_creates_a_user_changes_the_role_and_deactivates_them(
    web: FlaskClient, admin: Caller, db: Any, app: Flask
) -> None:
    login(web, admin)
    token = csrf_token(web, "/admin/users")
    weak = web.post(
        "/admin/users",
        data={
            "csrf_token": token,
            "email": "new@gent.example",
            "role": "data_collector",
            "password": "short",
        },
    )
    assert weak.status_code == 422 and 'id="password-error"' in weak.get_data(as_text=True)
    assert count(db, User) == 1
    created = web.post(
        "/admin/users",
        data={
            "csrf_token": token,
            "email": "New@Gent.example",
            "role": "data_collector",
            "password": "a long enough passphrase here",
        },
    )
    assert created.status_code == 302
    new_id = _user_id(db, "new@gent.example")

    person = app.test_client()
    login(person, Caller("new@gent.example", "data_collector", "", "a long enough passphrase here"))
    assert person.get("/enter").status_code == 200

    assert (
        web.post(
            "/admin/users/role",
            data={"csrf_token": token, "member": str(new_id), "new_role": "official"},
        ).status_code
        == 302
    )
    with db() as session:
        assert session.get(User, new_id).role == "official"
    # A change of role ends the person's sessions (they sign in again under the new role).
    assert person.get("/enter").status_code == 302

    assert (
        web.post(f"/admin/users/{new_id}/deactivate", data={"csrf_token": token}).status_code == 302
    )
    with db() as session:
        assert session.get(User, new_id).active is False
    signin = app.test_client()
    token2 = csrf_token(signin, "/login")
    refused = signin.post(
        "/login",
        data={
            "email": "new@gent.example",
            "password": "a long enough passphrase here",
            "csrf_token": token2,
        },
    )
    assert refused.status_code == 400
    assert (
        web.post(f"/admin/users/{new_id}/reactivate", data={"csrf_token": token}).status_code == 302
    )
    with db() as session:
        assert session.get(User, new_id).active is True


def test_the_last_admin_can_be_neither_demoted_nor_deactivated(
    web: FlaskClient, admin: Caller, create_user: Any, db: Any
) -> None:
    login(web, admin)
    token = csrf_token(web, "/admin/users")
    me = _user_id(db, admin.email)
    demote = web.post(
        "/admin/users/role", data={"csrf_token": token, "member": str(me), "new_role": "official"}
    )
    assert demote.status_code == 409 and "last administrator" in demote.get_data(as_text=True)
    off = web.post(f"/admin/users/{me}/deactivate", data={"csrf_token": token})
    assert off.status_code == 409
    with db() as session:
        row = session.get(User, me)
        assert (row.role, row.active) == ("admin", True)
    # With a second active administrator, the first may step down (edge: 2 admins → 1).
    second = create_user("admin")
    assert (
        web.post(
            "/admin/users/role",
            data={"csrf_token": token, "member": str(me), "new_role": "official"},
        ).status_code
        == 302
    )
    other = web.application.test_client()
    login(other, second)
    token = csrf_token(other, "/admin/users")
    second_id = _user_id(db, second.email)
    assert (
        other.post(f"/admin/users/{second_id}/deactivate", data={"csrf_token": token}).status_code
        == 409
    )


@pytest.mark.parametrize("role", ["official", "data_collector", "cso_partner", "viewer"])
def test_only_admins_reach_the_admin_pages(
    web: FlaskClient, create_user: Any, admin: Caller, db: Any, role: str
) -> None:
    target = _user_id(db, admin.email)
    login(web, create_user(role))
    token = csrf_token(web, "/account/password")
    users_before, tokens_before = count(db, User), count(db, ApiToken)
    assert web.get("/admin/users").status_code == 403
    assert web.get("/admin/tokens").status_code == 403
    assert (
        web.post(
            "/admin/users",
            data={
                "csrf_token": token,
                "email": "x@y.example",
                "role": "admin",
                "password": "a long enough passphrase here",
            },
        ).status_code
        == 403
    )
    assert (
        web.post(
            "/admin/users/role",
            data={"csrf_token": token, "member": str(target), "new_role": "viewer"},
        ).status_code
        == 403
    )
    assert (
        web.post(f"/admin/users/{target}/deactivate", data={"csrf_token": token}).status_code == 403
    )
    assert (
        web.post(f"/admin/users/{target}/reset-link", data={"csrf_token": token}).status_code == 403
    )
    assert (
        web.post("/admin/tokens", data={"csrf_token": token, "user_id": str(target)}).status_code
        == 403
    )
    with db() as session:
        admin_token = session.scalar(select(ApiToken.id).where(ApiToken.user_id == target))
    assert (
        web.post(f"/admin/tokens/{admin_token}/revoke", data={"csrf_token": token}).status_code
        == 403
    )
    assert (count(db, User), count(db, ApiToken), count(db, PasswordReset)) == (
        users_before,
        tokens_before,
        0,
    )
    with db() as session:
        row = session.get(User, target)
        assert (row.role, row.active) == ("admin", True)
        assert session.get(ApiToken, admin_token).revoked is False


def test_an_admin_creates_a_token_shown_once_lists_it_by_prefix_and_revokes_it(
    web: FlaskClient, admin: Caller, official: Caller, db: Any, app: Flask
) -> None:
    login(web, admin)
    token = csrf_token(web, "/admin/tokens")
    official_id = _user_id(db, official.email)
    made = web.post("/admin/tokens", data={"csrf_token": token, "user_id": str(official_id)})
    html = made.get_data(as_text=True)
    assert made.status_code == 201
    secret = re.search(r"<code>(hrc_[A-Za-z0-9_-]{43})</code>", html).group(1)  # type: ignore[union-attr]
    api = app.test_client()
    headers = {"Authorization": f"Bearer {secret}"}
    assert api.get("/api/v1/results", headers=headers).status_code == 200
    listing = web.get("/admin/tokens").get_data(as_text=True)
    assert secret not in listing and secret[:10] in listing  # by prefix only, never again whole
    with db() as session:
        row = session.scalar(select(ApiToken).where(ApiToken.prefix == secret[:10]))
        token_id = row.id
    assert (
        web.post(f"/admin/tokens/{token_id}/revoke", data={"csrf_token": token}).status_code == 302
    )
    assert api.get("/api/v1/results", headers=headers).status_code == 401


def _issue_reset(web: FlaskClient, user_id: int) -> str:
    token = csrf_token(web, "/admin/users")
    answer = web.post(f"/admin/users/{user_id}/reset-link", data={"csrf_token": token})
    assert answer.status_code == 200
    match = re.search(
        r"<code>https?://[^<]*/reset/([A-Za-z0-9_-]+)</code>", answer.get_data(as_text=True)
    )
    assert match
    return match.group(1)


def _use_reset(client: FlaskClient, secret: str, password: str) -> Any:
    token = csrf_token(client, f"/reset/{secret}")
    return client.post(
        f"/reset/{secret}",
        data={"csrf_token": token, "new_password": password, "repeat_password": password},
    )


def test_a_password_reset_link_works_once_through_the_policy_and_ends_sessions(
    web: FlaskClient, admin: Caller, official: Caller, db: Any, app: Flask
) -> None:
    signed_in = app.test_client()
    login(signed_in, official)
    assert signed_in.get("/enter").status_code == 200
    login(web, admin)
    secret = _issue_reset(web, _user_id(db, official.email))
    with db() as session:
        row = session.scalars(select(PasswordReset)).one()
        assert secret not in (row.token_sha256,) and len(row.token_sha256) == 64  # a hash only

    visitor = app.test_client()
    page = visitor.get(f"/reset/{secret}")
    assert page.status_code == 200 and page.headers["Referrer-Policy"] == "no-referrer"
    weak = _use_reset(visitor, secret, "password")
    assert weak.status_code == 422 and 'id="new_password-error"' in weak.get_data(as_text=True)
    done = _use_reset(visitor, secret, "a brand new passphrase for ana")
    assert done.status_code == 302
    # The session opened with the old password is over; the new password works.
    assert signed_in.get("/enter").status_code == 302
    login(visitor, Caller(official.email, "official", "", "a brand new passphrase for ana"))
    # Used once: the link is dead now.
    assert app.test_client().get(f"/reset/{secret}").status_code == 410
    again = _use_reset(app.test_client(), secret, "yet another long passphrase")
    assert again.status_code == 410


@pytest.mark.parametrize(("hours", "valid"), [(23.99, True), (24, False), (24.01, False)])
def test_a_password_reset_link_expires_after_24_hours(
    web: FlaskClient,
    admin: Caller,
    official: Caller,
    db: Any,
    app: Flask,
    clock: Clock,
    hours: float,
    valid: bool,
) -> None:
    login(web, admin)
    secret = _issue_reset(web, _user_id(db, official.email))
    clock.advance(hours=hours)
    visitor = app.test_client()
    assert visitor.get(f"/reset/{secret}").status_code == (200 if valid else 410)
    if not valid:
        with db() as session:
            before = session.scalar(select(User.password_hash).where(User.email == official.email))
        token = csrf_token(visitor, "/login")
        answer = visitor.post(
            f"/reset/{secret}",
            data={
                "csrf_token": token,
                "new_password": "a brand new passphrase",
                "repeat_password": "a brand new passphrase",
            },
        )
        assert answer.status_code == 410
        with db() as session:
            after = session.scalar(select(User.password_hash).where(User.email == official.email))
        assert before == after


def test_a_newer_reset_link_replaces_the_older_one(
    web: FlaskClient, admin: Caller, official: Caller, db: Any, app: Flask
) -> None:
    login(web, admin)
    user_id = _user_id(db, official.email)
    first = _issue_reset(web, user_id)
    second = _issue_reset(web, user_id)
    assert app.test_client().get(f"/reset/{first}").status_code == 410
    assert app.test_client().get(f"/reset/{second}").status_code == 200
    assert app.test_client().get("/reset/not-a-link-anyone-issued-xxxxxxxx").status_code == 410


def test_a_reset_link_of_a_deactivated_user_does_not_work(
    web: FlaskClient, admin: Caller, official: Caller, db: Any, app: Flask
) -> None:
    login(web, admin)
    user_id = _user_id(db, official.email)
    secret = _issue_reset(web, user_id)
    token = csrf_token(web, "/admin/users")
    assert (
        web.post(f"/admin/users/{user_id}/deactivate", data={"csrf_token": token}).status_code
        == 302
    )
    visitor = app.test_client()
    assert visitor.get(f"/reset/{secret}").status_code == 410
    with db() as session:
        before = session.scalar(select(User.password_hash).where(User.id == user_id))
    token = csrf_token(visitor, "/login")
    answer = visitor.post(
        f"/reset/{secret}",
        data={
            "csrf_token": token,
            "new_password": "a brand new passphrase for ana",
            "repeat_password": "a brand new passphrase for ana",
        },
    )
    assert answer.status_code == 410
    with db() as session:
        assert session.scalar(select(User.password_hash).where(User.id == user_id)) == before
