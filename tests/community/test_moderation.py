"""Moderation (transitions, refusals that write nothing), derived counts checked against the
reports by hand, evidence links, trusted reporters and privacy of contacts and exact places."""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from node.community import services
from node.community.models import CommunityReport, CommunityReportEvent
from node.models import Evidence, Result
from tests.community.test_reports import CONTACT, LATITUDE, LONGITUDE, form_data, login, submit_sms
from tests.support import Caller, Clock


def moderate(client: FlaskClient, who: Caller, report: int, state: str, **extra: Any) -> Any:
    return client.post(
        f"/api/v1/community/reports/{report}/moderate",
        json={"state": state, **extra},
        headers=who.headers,
    )


def reports(cdb: Callable[[], Any]) -> dict[str, CommunityReport]:
    with cdb() as session:
        rows = session.scalars(select(CommunityReport)).all()
        session.expunge_all()
        return {row.reference: row for row in rows}


def events(cdb: Callable[[], Any]) -> int:
    with cdb() as session:
        return int(session.scalar(select(func.count()).select_from(CommunityReportEvent)) or 0)


def figures(cdb: Callable[[], Any], indicator: str) -> dict[tuple[str, str], tuple[str, int]]:
    with cdb() as session:
        rows = session.scalars(select(Result).where(Result.indicator_code == indicator)).all()
        return {(r.period, r.disaggregation_key): (r.value_text, r.cases) for r in rows}


@pytest.fixture
def official(make_user: Callable[..., Caller]) -> Caller:
    return make_user("official")


@pytest.fixture
def one_report(cclient: FlaskClient, cdb: Callable[[], Any]) -> int:
    submit_sms(cclient, "EVICTION D01 three families removed from block 12", "SM-1")
    return next(iter(reports(cdb).values())).id


# --- transitions and refusals -------------------------------------------------------------------


def test_verify_then_correct_with_a_reason_keeps_the_history(
    cclient: FlaskClient, cdb: Callable[[], Any], official: Caller, one_report: int
) -> None:
    answer = moderate(cclient, official, one_report, "verified")
    assert answer.status_code == 200, answer.json
    assert answer.json["state"] == "verified"
    answer = moderate(
        cclient, official, one_report, "rejected", reason="The owner showed a court order."
    )
    assert answer.status_code == 200
    history = answer.json["history"]
    assert [(h["from"], h["to"]) for h in history] == [
        (None, "received"),
        ("received", "verified"),
        ("verified", "rejected"),
    ]
    assert history[2]["reason"] == "The owner showed a court order."
    assert history[2]["by"] == official.email


@pytest.mark.parametrize(
    ("first", "then", "extra", "status", "code"),
    [
        (None, "rejected", {}, 422, "reason_required"),
        (None, "duplicate", {"reason": "same"}, 422, "duplicate_of_required"),
        ("verified", "verified", {}, 409, "report_already_in_state"),
        ("verified", "rejected", {}, 422, "reason_required"),  # changing a decision says why
    ],
)
def test_moderation_refusals_write_nothing(
    cclient: FlaskClient,
    cdb: Callable[[], Any],
    official: Caller,
    one_report: int,
    first: str | None,
    then: str,
    extra: dict[str, Any],
    status: int,
    code: str,
) -> None:
    if first:
        assert moderate(cclient, official, one_report, first).status_code == 200
    before = (events(cdb), {r.state for r in reports(cdb).values()}, figures(cdb, "CR-EVICTION"))
    answer = moderate(cclient, official, one_report, then, **extra)
    assert (answer.status_code, answer.json["code"]) == (status, code)
    assert (
        events(cdb),
        {r.state for r in reports(cdb).values()},
        figures(cdb, "CR-EVICTION"),
    ) == before


def test_received_is_not_a_target_state(
    cclient: FlaskClient, official: Caller, one_report: int
) -> None:
    answer = moderate(cclient, official, one_report, "received")
    assert answer.status_code == 422


def test_duplicate_links_to_the_original(
    cclient: FlaskClient, cdb: Callable[[], Any], official: Caller
) -> None:
    submit_sms(cclient, "WATER D02 no water since monday in our street", "SM-a")
    submit_sms(
        cclient, "WATER D02 still no water on our street since monday", "SM-b", "+254700000001"
    )
    first, second = sorted(r.id for r in reports(cdb).values())
    answer = moderate(
        cclient, official, second, "duplicate", reason="Same street", duplicate_of=first
    )
    assert answer.status_code == 200
    assert answer.json["duplicate_of"] == first
    itself = moderate(cclient, official, first, "duplicate", reason="x", duplicate_of=first)
    assert (itself.status_code, itself.json["code"]) == (409, "bad_duplicate_of")


@pytest.mark.parametrize(
    ("role", "status"), [("data_collector", 403), ("viewer", 403), ("reviewer", 403)]
)
def test_only_moderators_moderate_or_read(
    cclient: FlaskClient,
    cdb: Callable[[], Any],
    make_user: Callable[..., Caller],
    one_report: int,
    role: str,
    status: int,
) -> None:
    who = make_user(role)
    before = events(cdb)
    answer = moderate(cclient, who, one_report, "verified")
    assert (answer.status_code, answer.json["code"]) == (status, "role_not_allowed")
    assert cclient.get("/api/v1/community/reports", headers=who.headers).status_code == status
    one = cclient.get(f"/api/v1/community/reports/{one_report}", headers=who.headers)
    assert one.status_code == status and "description" not in one.json
    assert events(cdb) == before
    anonymous = cclient.get("/api/v1/community/reports")
    assert anonymous.status_code == 401


def test_cso_partner_moderates_and_sees_the_contact(
    cclient: FlaskClient, cdb: Callable[[], Any], make_user: Callable[..., Caller]
) -> None:
    cclient.post("/report", data=form_data(cclient))
    partner = make_user("cso_partner")
    listing = cclient.get("/api/v1/community/reports", headers=partner.headers)
    assert listing.status_code == 200
    [item] = listing.json["items"]
    assert (item["contact"], item["latitude"], item["longitude"]) == (CONTACT, LATITUDE, LONGITUDE)
    one = cclient.get(f"/api/v1/community/reports/{item['id']}", headers=partner.headers)
    assert (one.status_code, one.json["contact"]) == (200, CONTACT)
    assert moderate(cclient, partner, item["id"], "verified").status_code == 200


# --- derived counts -----------------------------------------------------------------------------


def test_derived_counts_follow_every_state_change(
    cclient: FlaskClient, cdb: Callable[[], Any], official: Caller, clock: Clock
) -> None:
    texts = [
        ("EVICTION D01 2026-02-03 family of five removed", "+2547000001"),
        ("EVICTION D01 2026-02-10 two households put on the street", "+2547000002"),
        ("EVICTION D01 2026-02-27 elderly tenant evicted by force", "+2547000003"),
        ("EVICTION D02 2026-02-14 squatters removed by police", "+2547000004"),
        ("EVICTION D01 2026-01-20 evicted after a rent rise", "+2547000005"),
        ("EVICTION D03 2026-02-05 a false report for testing", "+2547000006"),
        ("EVICTION 2026-02-11 evicted somewhere in the city", "+2547000007"),
        ("WATER D01 2026-02-05 water cut at number 4", "+2547000008"),
    ]
    refs = [submit_sms(cclient, text, f"SM-d{i}", phone) for i, (text, phone) in enumerate(texts)]
    ids = {ref: r.id for ref, r in reports(cdb).items()}
    for ref in refs[:5] + refs[6:]:
        assert moderate(cclient, official, ids[ref], "verified").status_code == 200
    assert moderate(cclient, official, ids[refs[5]], "rejected", reason="test").status_code == 200
    # By hand: February, EVICTION: D01 3, D02 1, D03 0 (rejected), whole city 5 (with the one
    # placed only "in the city"); January: D01 1.
    assert figures(cdb, "CR-EVICTION") == {
        ("2026-02", "DISTRICT=D01"): ("3", 3),
        ("2026-02", "DISTRICT=D02"): ("1", 1),
        ("2026-02", ""): ("5", 5),
        ("2026-01", "DISTRICT=D01"): ("1", 1),
        ("2026-01", ""): ("1", 1),
    }
    assert figures(cdb, "CR-WATER") == {
        ("2026-02", "DISTRICT=D01"): ("1", 1),
        ("2026-02", ""): ("1", 1),
    }
    with cdb() as session:
        row = session.scalar(select(Result).where(Result.indicator_code == "CR-EVICTION").limit(1))
        assert row.source == "community reports (verified by moderators)"
        assert row.status == "validated"
    # Un-verifying removes the report from its cell, in the same request.
    moderate(cclient, official, ids[refs[3]], "rejected", reason="Was a lawful clearance.")
    moderate(cclient, official, ids[refs[0]], "duplicate", reason="same", duplicate_of=ids[refs[1]])
    assert figures(cdb, "CR-EVICTION") == {
        ("2026-02", "DISTRICT=D01"): ("2", 2),
        ("2026-02", ""): ("3", 3),
        ("2026-01", "DISTRICT=D01"): ("1", 1),
        ("2026-01", ""): ("1", 1),
    }


@pytest.mark.parametrize(
    "settings", [{"community_households": {"D01": 1500, "D02": 3000}}], indirect=True
)
def test_derived_rates_per_10000_households(
    cclient: FlaskClient, cdb: Callable[[], Any], official: Caller
) -> None:
    refs = [
        submit_sms(
            cclient,
            f"EVICTION D01 2026-02-0{i + 1} household evicted today",
            f"SM-r{i}",
            f"+25470000{i}",
        )
        for i in range(3)
    ] + [submit_sms(cclient, "EVICTION D02 2026-02-09 household evicted", "SM-r9", "+254799")]
    assert len(refs) == 4
    for report in reports(cdb).values():
        assert moderate(cclient, official, report.id, "verified").status_code == 200
    # By hand: D01 3 × 10,000 / 1,500 = 20.00; D02 1 × 10,000 / 3,000 = 3.33 (half up);
    # whole city 4 × 10,000 / 4,500 = 8.888… → 8.89.
    assert figures(cdb, "CR-EVICTION") == {
        ("2026-02", "DISTRICT=D01"): ("20.00", 3),
        ("2026-02", "DISTRICT=D02"): ("3.33", 1),
        ("2026-02", ""): ("8.89", 4),
    }
    assert Decimal("8.89") == round(Decimal(40000) / 4500, 2)


# --- evidence and trusted reporters -------------------------------------------------------------


def test_a_verified_report_is_linked_as_evidence_not_copied(
    cclient: FlaskClient, cdb: Callable[[], Any], official: Caller
) -> None:
    cclient.post("/report", data=form_data(cclient))
    report = next(iter(reports(cdb).values()))
    refused = cclient.post(
        f"/api/v1/community/reports/{report.id}/evidence", headers=official.headers
    )
    assert (refused.status_code, refused.json["code"]) == (409, "report_not_verified")
    moderate(cclient, official, report.id, "verified")
    first = cclient.post(
        f"/api/v1/community/reports/{report.id}/evidence", headers=official.headers
    )
    again = cclient.post(
        f"/api/v1/community/reports/{report.id}/evidence", headers=official.headers
    )
    assert first.status_code == 200
    assert first.json == again.json
    assert first.json["indicator"] == "HRC-HOU-01" and first.json["period"] == "2026-03"
    with cdb() as session:
        [evidence] = session.scalars(select(Evidence)).all()
        assert evidence.kind == "community_report"
        assert evidence.url == f"/community/reports/{report.id}"
        for secret in (CONTACT, LATITUDE, LONGITUDE, report.description):
            assert secret not in f"{evidence.title} {evidence.body}"


def test_trusted_reporter_mark_follows_the_source(
    cclient: FlaskClient, cdb: Callable[[], Any], official: Caller
) -> None:
    submit_sms(cclient, "EVICTION D01 a first report from this phone", "SM-t1", "+254711")
    first = next(iter(reports(cdb).values()))
    answer = cclient.post(
        f"/api/v1/community/reports/{first.id}/trusted",
        json={"trusted": True, "note": "Tenants' union contact"},
        headers=official.headers,
    )
    assert answer.json == {"trusted": True}
    submit_sms(cclient, "WATER D02 a second report from the same phone", "SM-t2", "+254 711")
    submit_sms(cclient, "WATER D02 a report from another phone", "SM-t3", "+254722")
    items = cclient.get("/api/v1/community/reports", headers=official.headers).json["items"]
    assert {i["description"]: i["trusted_reporter"] for i in items} == {
        "a first report from this phone": True,
        "a second report from the same phone": True,
        "a report from another phone": False,
    }


# --- privacy and injection ----------------------------------------------------------------------

SCRIPT = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def test_script_in_a_report_is_escaped_on_the_moderators_page(
    cclient: FlaskClient, cdb: Callable[[], Any], official: Caller
) -> None:
    text = "Our water was cut. " + SCRIPT
    cclient.post("/report", data=form_data(cclient, description=text, contact=SCRIPT))
    report = next(iter(reports(cdb).values()))
    assert report.description == text  # stored as typed
    login(cclient, official)
    for path in (f"/community/reports/{report.id}", "/community/reports"):
        html = cclient.get(path).get_data(as_text=True)
        assert "<script>alert" not in html and "<img src=x" not in html
    html = cclient.get(f"/community/reports/{report.id}").get_data(as_text=True)
    assert "&lt;script&gt;alert(" in html


def test_moderator_pages_are_for_moderators(
    cclient: FlaskClient, make_user: Callable[..., Caller], one_report: int
) -> None:
    assert cclient.get("/community/reports").status_code == 302  # to the login page
    login(cclient, make_user("data_collector"))
    assert cclient.get("/community/reports").status_code == 403
    assert cclient.get(f"/community/reports/{one_report}").status_code == 403


def test_moderation_by_page(
    cclient: FlaskClient, cdb: Callable[[], Any], official: Caller, one_report: int
) -> None:
    from tests.community.test_reports import csrf

    login(cclient, official)
    token = csrf(cclient, f"/community/reports/{one_report}")
    answer = cclient.post(
        f"/community/reports/{one_report}/moderate",
        data={"csrf_token": token, "state": "rejected", "reason": "", "duplicate_of": ""},
    )
    assert answer.status_code == 302
    assert reports(cdb)[next(iter(reports(cdb)))].state == "received"  # no reason: refused
    answer = cclient.post(
        f"/community/reports/{one_report}/moderate",
        data={"csrf_token": token, "state": "verified", "reason": "", "duplicate_of": ""},
        follow_redirects=True,
    )
    assert answer.status_code == 200
    assert next(iter(reports(cdb).values())).state == "verified"


def test_grid_cells_are_at_least_one_kilometre() -> None:
    for latitude in ("0.5", "45.123", "-33.9", "60.17", "69.6"):
        lat, lon = services.grid_cell(latitude, "10.123456")
        lat_next = float(lat) + 0.01
        width_km = 111.32 * math.cos(math.radians(float(latitude)))
        (lat_step,) = {round(lat_next - float(lat), 2)}
        assert lat_step * 111.0 >= 1.0
        # The longitude step at that latitude: recomputed from the rule (≥ 1 km).
        step = 0.01 * math.ceil(1 / (width_km / 100))
        assert step * width_km >= 1.0
        assert float(lon) <= 10.123456 < float(lon) + step + 1e-9


def test_a_public_visitor_never_sees_contacts_or_exact_places(
    cclient: FlaskClient, cdb: Callable[[], Any], official: Caller, capp: Flask
) -> None:
    cclient.post("/report", data=form_data(cclient))
    report = next(iter(reports(cdb).values()))
    moderate(cclient, official, report.id, "verified")
    cclient.post(f"/api/v1/community/reports/{report.id}/evidence", headers=official.headers)
    with cdb() as session:
        for row in session.scalars(select(Evidence)):
            row.status = "published"
    cclient.post(
        "/api/v1/results/status",
        json={"status": "published", "indicator": "CR-EVICTION"},
        headers=official.headers,
    )
    anonymous = capp.test_client()
    paths = [
        "/",
        "/catalogue",
        "/catalogue/CR-EVICTION",
        "/catalogue/HRC-HOU-01",
        "/report",
        "/api/v1/results?indicator=CR-EVICTION",
        "/api/v1/evidence",
        "/api/v1/export?format=csv",
        "/api/v1/export?format=json",
        "/api/v1/export?format=sdmx-json",
    ]
    seen = []
    for path in paths:
        answer = anonymous.get(path)
        body = answer.get_data(as_text=True)
        seen.append((path, answer.status_code))
        for secret in (CONTACT, LATITUDE, LONGITUDE, "51.0487", "3.7291", report.description):
            assert secret not in body, (path, secret)
    assert all(status == 200 for _path, status in seen), seen
    exported = anonymous.get("/api/v1/export?format=csv").get_data(as_text=True)
    assert "CR-EVICTION" in exported  # the count is public, the report is not


def test_the_portal_its_downloads_feed_report_and_signed_summary_never_show_a_reporter(
    cclient: FlaskClient, cdb: Callable[[], Any], official: Caller, capp: Flask
) -> None:
    """Issue 16's privacy rule across both halves: a verified report counted in a published
    figure, then everything the public portal serves (pages, downloads, feed, embeds, the annual
    report and the signed summary of that month) searched for the reporter's contact, exact
    coordinates and words. The count may be public; the report never is."""
    cclient.post("/report", data=form_data(cclient))
    report = next(iter(reports(cdb).values()))
    moderate(cclient, official, report.id, "verified")
    published = cclient.post(
        "/api/v1/results/status",
        json={"status": "published", "indicator": "CR-EVICTION"},
        headers=official.headers,
    )
    assert published.status_code == 200, published.get_json()
    signed = cclient.post(
        "/api/v1/summaries", json={"period": report.period}, headers=official.headers
    )
    assert signed.status_code == 201, signed.get_json()
    digest = signed.get_json()["items"][0]["envelope_sha256"]
    anonymous = capp.test_client()
    paths = [
        "/portal",
        "/portal/indicators/CR-EVICTION",
        "/open-data",
        "/open-data/results.csv",
        "/open-data/results.json",
        "/open-data/results.sdmx.json",
        "/feed.atom",
        "/embed/indicators/CR-EVICTION",
        "/embed/indicators/CR-EVICTION.svg",
        f"/annual-report/{report.period[:4]}",
        f"/public/summaries/{digest}",
    ]
    for path in paths:
        answer = anonymous.get(path)
        assert answer.status_code == 200, (path, answer.status_code)
        body = answer.get_data(as_text=True)
        for secret in (CONTACT, LATITUDE, LONGITUDE, "51.0487", "3.7291", report.description):
            assert secret not in body, (path, secret)
    # The count itself is public: the figure is on the portal's page for it.
    assert "CR-EVICTION" in anonymous.get("/open-data/results.csv").get_data(as_text=True)
