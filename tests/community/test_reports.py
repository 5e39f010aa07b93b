"""Community reports in one process: the form, the three webhooks, moderation, derived counts,
privacy and abuse (issue 16). Expected values come from the rules in docs/community.md, worked
out by hand here, never from the code under test."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from node.community.models import CommunityReport, CommunityReportEvent, CommunityThrottle
from tests.community.conftest import AT_SECRET, GENERIC_SECRET, RATE_LIMIT, TWILIO_TOKEN
from tests.support import Caller, Clock

BASE_URL = "http://127.0.0.1:5001"  # the template node's configured base_url
TODAY = date(2026, 3, 1)  # the clock fixture's day
CONTACT = "+32 470 12 34 56"
LATITUDE, LONGITUDE = "51.0487312", "3.7291845"


# --- helpers: the rules written again here, from the gateways' documentation -----------------


def twilio_signature(url: str, params: dict[str, str]) -> str:
    data = url + "".join(k + params[k] for k in sorted(params))
    return base64.b64encode(
        hmac.new(TWILIO_TOKEN.encode(), data.encode(), "sha1").digest()
    ).decode()


def generic_headers(body: bytes, timestamp: int, secret: str = GENERIC_SECRET) -> dict[str, str]:
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return {
        "Content-Type": "application/json",
        "X-Hrcnet-Timestamp": str(timestamp),
        "X-Hrcnet-Signature": "sha256=" + mac.hexdigest(),
    }


def csrf(client: FlaskClient, path: str = "/report") -> str:
    html = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html)
    assert match, html[:500]
    return match.group(1)


def form_data(client: FlaskClient, **changes: str) -> dict[str, str]:
    data = {
        "csrf_token": csrf(client),
        "category": "EVICTION",
        "district": "D01",
        "occurred_on": TODAY.isoformat(),
        "description": "Three families were removed from building 12 without any notice.",
        "latitude": LATITUDE,
        "longitude": LONGITUDE,
        "contact": CONTACT,
    }
    data.update(changes)
    return data


def count(cdb: Callable[[], Any], model: Any = CommunityReport) -> int:
    with cdb() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def twilio_post(client: FlaskClient, params: dict[str, str], signature: str | None = None) -> Any:
    url = BASE_URL + "/api/v1/community/sms/twilio"
    headers = {"X-Twilio-Signature": signature or twilio_signature(url, params)}
    return client.post("/api/v1/community/sms/twilio", data=params, headers=headers)


def sms(body: str, sid: str = "SM0001", sender: str = "+254712345678") -> dict[str, str]:
    return {"MessageSid": sid, "From": sender, "To": "+254700000000", "Body": body}


def login(client: FlaskClient, who: Caller) -> None:
    token = csrf(client, "/login")
    answer = client.post(
        "/login", data={"email": who.email, "password": who.password, "csrf_token": token}
    )
    assert answer.status_code == 302


def submit_sms(client: FlaskClient, text: str, sid: str, sender: str = "+254712345678") -> str:
    answer = twilio_post(client, sms(text, sid, sender))
    assert answer.status_code == 200, answer.get_data(as_text=True)
    match = re.search(r"CR-[0-9A-Z]{8}", answer.get_data(as_text=True))
    assert match, answer.get_data(as_text=True)
    return match.group(0)


def report_id(cdb: Callable[[], Any], reference: str) -> int:
    with cdb() as session:
        return int(session.scalar(select(CommunityReport.id).filter_by(reference=reference)))


# --- the public form ----------------------------------------------------------------------------


def test_form_needs_no_account_and_no_javascript(cclient: FlaskClient) -> None:
    page = cclient.get("/report")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "<script" not in html
    for code in ("EVICTION", "WATER", "POLLUTION", "DISCRIMINATION", "D01", "D02", "D03"):
        assert f'value="{code}"' in html


def test_form_report_is_acknowledged_with_its_reference(
    cclient: FlaskClient, cdb: Callable[[], Any]
) -> None:
    answer = cclient.post("/report", data=form_data(cclient))
    html = answer.get_data(as_text=True)
    assert answer.status_code == 200, html
    reference = re.search(r'id="reference">(CR-[0-9A-Z]{8})<', html)
    assert reference
    with cdb() as session:
        row = session.scalar(select(CommunityReport))
        assert row.reference == reference.group(1)
        assert (row.category, row.district, row.state, row.channel) == (
            "EVICTION",
            "D01",
            "received",
            "web",
        )
        assert (row.contact, row.latitude, row.longitude) == (CONTACT, LATITUDE, LONGITUDE)
        assert row.period == "2026-03"
        # The address is kept only as a keyed hash.
        assert "127.0.0.1" not in row.source_hash and len(row.source_hash) == 64
    # Not in the page the reporter sees back.
    assert CONTACT not in html and LATITUDE not in html


def test_form_without_csrf_token_writes_nothing(
    cclient: FlaskClient, cdb: Callable[[], Any]
) -> None:
    data = form_data(cclient)
    del data["csrf_token"]
    assert cclient.post("/report", data=data).status_code == 400
    assert count(cdb) == 0


@pytest.mark.parametrize(
    ("occurred", "accepted"),
    [
        (TODAY + timedelta(days=1), False),  # the future
        (TODAY, True),
        (TODAY - timedelta(days=365), True),  # the oldest allowed
        (TODAY - timedelta(days=366), False),
    ],
)
def test_incident_date_edges(
    cclient: FlaskClient, cdb: Callable[[], Any], occurred: date, accepted: bool
) -> None:
    answer = cclient.post("/report", data=form_data(cclient, occurred_on=occurred.isoformat()))
    assert answer.status_code == (200 if accepted else 422)
    assert count(cdb) == (1 if accepted else 0)
    if not accepted:
        assert 'aria-invalid="true"' in answer.get_data(as_text=True)


@pytest.mark.parametrize(("length", "accepted"), [(9, False), (10, True), (2000, True)])
def test_description_length_edges(
    cclient: FlaskClient, cdb: Callable[[], Any], length: int, accepted: bool
) -> None:
    answer = cclient.post("/report", data=form_data(cclient, description="x" * length))
    assert answer.status_code == (200 if accepted else 422)
    assert count(cdb) == (1 if accepted else 0)


def test_description_over_2000_is_refused(cclient: FlaskClient, cdb: Callable[[], Any]) -> None:
    answer = cclient.post("/report", data=form_data(cclient, description="x" * 2001))
    assert answer.status_code == 422
    assert count(cdb) == 0


@pytest.mark.parametrize(("links", "accepted"), [(2, True), (3, False)])
def test_link_flood_is_refused(
    cclient: FlaskClient, cdb: Callable[[], Any], links: int, accepted: bool
) -> None:
    text = "Flooded street, see " + " ".join(f"https://x{i}.example/p" for i in range(links))
    answer = cclient.post("/report", data=form_data(cclient, description=text))
    assert answer.status_code == (200 if accepted else 422)
    assert count(cdb) == (1 if accepted else 0)


@pytest.mark.parametrize(
    ("lat", "lon"), [("91", "3.7"), ("51.05", ""), ("51.05", "181"), ("abc", "3.7")]
)
def test_bad_coordinates_are_refused(
    cclient: FlaskClient, cdb: Callable[[], Any], lat: str, lon: str
) -> None:
    answer = cclient.post("/report", data=form_data(cclient, latitude=lat, longitude=lon))
    assert answer.status_code == 422
    assert count(cdb) == 0


def test_same_text_from_the_same_source_is_one_report(
    cclient: FlaskClient, cdb: Callable[[], Any]
) -> None:
    first = cclient.post("/report", data=form_data(cclient)).get_data(as_text=True)
    second = cclient.post("/report", data=form_data(cclient)).get_data(as_text=True)
    ref = re.compile(r'id="reference">(CR-[0-9A-Z]{8})<')
    assert ref.search(first).group(1) == ref.search(second).group(1)  # type: ignore[union-attr]
    assert count(cdb) == 1


def test_form_flood_gets_429_with_retry_after(
    cclient: FlaskClient, cdb: Callable[[], Any], clock: Clock
) -> None:
    for number in range(RATE_LIMIT):
        text = f"Water cut off in the whole street, day {number} of the outage."
        answer = cclient.post("/report", data=form_data(cclient, description=text))
        assert answer.status_code == 200
    refused = cclient.post("/report", data=form_data(cclient, description="One more report."))
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) == 3600
    assert count(cdb) == RATE_LIMIT
    clock.advance(seconds=3600)  # the window has passed
    again = cclient.post("/report", data=form_data(cclient, description="After the window."))
    assert again.status_code == 200


def test_oversized_form_body_is_413_before_parsing(
    cclient: FlaskClient, cdb: Callable[[], Any]
) -> None:
    answer = cclient.post("/report", data=form_data(cclient, description="x" * 20_000))
    assert answer.status_code == 413
    assert count(cdb) == 0
    assert count(cdb, CommunityThrottle) == 0  # refused before the view ran


# --- SMS webhooks -------------------------------------------------------------------------------


def test_twilio_report_gets_a_twiml_reply_with_the_reference(
    cclient: FlaskClient, cdb: Callable[[], Any]
) -> None:
    answer = twilio_post(cclient, sms("EVICTION D02 they removed us from the block today"))
    body = answer.get_data(as_text=True)
    assert answer.status_code == 200
    assert answer.mimetype == "application/xml"
    assert body.startswith('<?xml version="1.0" encoding="UTF-8"?><Response><Message>')
    with cdb() as session:
        row = session.scalar(select(CommunityReport))
        assert row.reference in body
        assert (row.category, row.district, row.channel, row.gateway) == (
            "EVICTION",
            "D02",
            "sms",
            "twilio",
        )
        assert row.description == "they removed us from the block today"
        assert row.occurred_on == TODAY
        assert "254712345678" not in row.source_hash


@pytest.mark.parametrize(
    "signature", ["", "AAAA" + "=" * 24, None], ids=["empty", "wrong", "for-other-params"]
)
def test_twilio_bad_or_missing_signature_is_401_and_writes_nothing(
    cclient: FlaskClient, cdb: Callable[[], Any], signature: str | None
) -> None:
    params = sms("EVICTION D02 they removed us from the block today")
    url = BASE_URL + "/api/v1/community/sms/twilio"
    if signature is None:  # signed for another text: the body was changed in transit
        signature = twilio_signature(url, {**params, "Body": "WATER D01 other text here"})
    headers = {"X-Twilio-Signature": signature} if signature else {}
    answer = cclient.post("/api/v1/community/sms/twilio", data=params, headers=headers)
    assert answer.status_code == 401
    assert answer.mimetype == "application/problem+json"
    assert answer.json["code"] in ("signature_missing", "signature_invalid")
    assert count(cdb) == 0 and count(cdb, CommunityThrottle) == 0


def test_twilio_signature_over_the_host_header_url_is_refused(
    cclient: FlaskClient, cdb: Callable[[], Any]
) -> None:
    # Signed for the URL the client claims (Host header), not the node's configured base URL.
    params = sms("EVICTION D02 they removed us from the block today")
    forged = twilio_signature("http://evil.example/api/v1/community/sms/twilio", params)
    answer = cclient.post(
        "/api/v1/community/sms/twilio",
        data=params,
        headers={"X-Twilio-Signature": forged, "Host": "evil.example"},
    )
    assert answer.status_code == 401
    assert count(cdb) == 0


def test_twilio_replayed_message_writes_nothing_new(
    cclient: FlaskClient, cdb: Callable[[], Any]
) -> None:
    first = submit_sms(cclient, "WATER D01 no water since monday in our street", "SM42")
    again = submit_sms(cclient, "WATER D01 no water since monday in our street", "SM42")
    assert first == again
    assert count(cdb) == 1
    with cdb() as session:
        assert session.scalar(select(func.count()).select_from(CommunityReportEvent)) == 1


@pytest.mark.parametrize(
    ("text", "category", "language"),
    [
        ("EVICTION D01 removed from our home", "EVICTION", "en"),
        ("expulsion D01 expulsés de notre logement", "EVICTION", "fr"),
        ("Desalojo D01 nos sacaron de la casa hoy", "EVICTION", "es"),
        ("uitzetting D01 uit ons huis gezet vandaag", "EVICTION", "nl"),
        ("SFRATTO D01 sfrattati dalla casa oggi", "EVICTION", "it"),
        ("maji D01 hakuna maji tangu jumatatu", "WATER", "sw"),
        ("3 D01 smoke from the factory all night", "POLLUTION", "en"),
    ],
)
def test_sms_grammar_reads_keywords_in_six_languages_and_numbers(
    cclient: FlaskClient, cdb: Callable[[], Any], text: str, category: str, language: str
) -> None:
    submit_sms(cclient, text, "SM-" + language + category)
    with cdb() as session:
        row = session.scalar(select(CommunityReport))
        assert (row.category, row.district, row.language) == (category, "D01", language)


def test_sms_reply_speaks_the_keyword_language(cclient: FlaskClient) -> None:
    body = twilio_post(cclient, sms("MAJI D01 hakuna maji tangu jumatatu")).get_data(as_text=True)
    assert "Asante" in body, body


def test_sms_without_district_is_placed_in_the_whole_city(
    cclient: FlaskClient, cdb: Callable[[], Any]
) -> None:
    submit_sms(cclient, "POLLUTION black smoke over the river all day", "SM9")
    with cdb() as session:
        row = session.scalar(select(CommunityReport))
        assert row.district == "_T"
        assert row.description == "black smoke over the river all day"


def test_sms_not_understood_gets_help_and_writes_nothing(
    cclient: FlaskClient, cdb: Callable[[], Any]
) -> None:
    answer = twilio_post(cclient, sms("HELLO is anyone there"))
    body = answer.get_data(as_text=True)
    assert answer.status_code == 200
    assert "1 EVICTION" in body and "CR-" not in body
    assert count(cdb) == 0


def test_africastalking_with_basic_auth_secret(
    cclient: FlaskClient, cdb: Callable[[], Any]
) -> None:
    auth = base64.b64encode(f"hrcnet:{AT_SECRET}".encode()).decode()
    answer = cclient.post(
        "/api/v1/community/sms/africastalking",
        data={
            "from": "+254711000111",
            "to": "22384",
            "text": "ubaguzi D03 walikataa kunihudumia hospitalini",
            "id": "AT-1",
            "date": "2026-03-01",
        },  # fmt: skip
        headers={"Authorization": f"Basic {auth}"},
    )
    assert answer.status_code == 200
    assert answer.mimetype == "text/plain"
    with cdb() as session:
        row = session.scalar(select(CommunityReport))
        assert row.reference in answer.get_data(as_text=True)
        assert (row.category, row.district, row.gateway) == (
            "DISCRIMINATION",
            "D03",
            "africastalking",
        )


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Community-Secret": "wrong"},
        {"Authorization": "Basic " + base64.b64encode(b"hrcnet:wrong").decode()},
        {"Authorization": "Basic !!!not-base64"},
    ],
    ids=["missing", "wrong-header", "wrong-basic", "garbage"],
)
def test_africastalking_without_the_secret_is_401(
    cclient: FlaskClient, cdb: Callable[[], Any], headers: dict[str, str]
) -> None:
    answer = cclient.post(
        "/api/v1/community/sms/africastalking",
        data={"from": "+254711000111", "text": "EVICTION D01 removed today", "id": "AT-2"},
        headers=headers,
    )
    assert answer.status_code == 401
    assert answer.json["code"] in ("secret_missing", "secret_invalid")
    assert count(cdb) == 0


def _generic_body(message_id: str = "g-1", text: str = "POLLUTION D02 oil in the canal") -> bytes:
    return json.dumps({"id": message_id, "from": "+31612345678", "text": text}).encode()


def test_generic_json_with_hmac(cclient: FlaskClient, cdb: Callable[[], Any], clock: Clock) -> None:
    body = _generic_body()
    answer = cclient.post(
        "/api/v1/community/sms/generic",
        data=body,
        headers=generic_headers(body, int(clock().timestamp())),
    )
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.json["accepted"] is True
    assert re.fullmatch(r"CR-[0-9A-Z]{8}", answer.json["reference"])
    assert answer.json["reference"] in answer.json["reply"]
    assert count(cdb) == 1


@pytest.mark.parametrize(("skew", "accepted"), [(300, True), (301, False), (-301, False)])
def test_generic_timestamp_window_edges(
    cclient: FlaskClient, cdb: Callable[[], Any], clock: Clock, skew: int, accepted: bool
) -> None:
    body = _generic_body()
    stamp = int(clock().timestamp()) - skew
    answer = cclient.post(
        "/api/v1/community/sms/generic", data=body, headers=generic_headers(body, stamp)
    )
    assert answer.status_code == (200 if accepted else 401)
    if not accepted:
        assert answer.json["code"] == "signature_expired"
    assert count(cdb) == (1 if accepted else 0)


def test_generic_wrong_or_missing_signature(
    cclient: FlaskClient, cdb: Callable[[], Any], clock: Clock
) -> None:
    body = _generic_body()
    stamp = int(clock().timestamp())
    wrong = generic_headers(body, stamp, secret="not-the-secret")
    answer = cclient.post("/api/v1/community/sms/generic", data=body, headers=wrong)
    assert (answer.status_code, answer.json["code"]) == (401, "signature_invalid")
    missing = {"Content-Type": "application/json"}
    answer = cclient.post("/api/v1/community/sms/generic", data=body, headers=missing)
    assert (answer.status_code, answer.json["code"]) == (401, "signature_missing")
    # The signature of another body (the text changed in transit).
    other = generic_headers(_generic_body(text="WATER D01 changed"), stamp)
    answer = cclient.post("/api/v1/community/sms/generic", data=body, headers=other)
    assert (answer.status_code, answer.json["code"]) == (401, "signature_invalid")
    assert count(cdb) == 0


def test_generic_replay_within_the_window_writes_nothing_new(
    cclient: FlaskClient, cdb: Callable[[], Any], clock: Clock
) -> None:
    body = _generic_body()
    headers = generic_headers(body, int(clock().timestamp()))
    first = cclient.post("/api/v1/community/sms/generic", data=body, headers=headers)
    clock.advance(seconds=60)
    replay = cclient.post("/api/v1/community/sms/generic", data=body, headers=headers)
    assert replay.status_code == 200
    assert replay.json["reference"] == first.json["reference"]
    assert count(cdb) == 1


def test_generic_invalid_report_is_422_problem_and_writes_nothing(
    cclient: FlaskClient, cdb: Callable[[], Any], clock: Clock
) -> None:
    body = _generic_body(text="EVICTION D01 short")
    answer = cclient.post(
        "/api/v1/community/sms/generic",
        data=body,
        headers=generic_headers(body, int(clock().timestamp())),
    )
    assert answer.status_code == 422
    assert answer.mimetype == "application/problem+json"
    assert answer.json["code"] == "report_invalid"
    assert count(cdb) == 0


def test_unknown_gateway_is_404_problem(cclient: FlaskClient) -> None:
    answer = cclient.post("/api/v1/community/sms/nokia", data={"a": "b"})
    assert answer.status_code == 404
    assert answer.json["code"] == "unknown_gateway"


def test_sms_flood_from_one_phone_gets_429(cclient: FlaskClient, cdb: Callable[[], Any]) -> None:
    for number in range(RATE_LIMIT):
        submit_sms(cclient, f"WATER D01 no water again, day {number} now", f"SM-f{number}")
    refused = twilio_post(cclient, sms("WATER D01 no water again, one more day", "SM-f9"))
    assert refused.status_code == 429
    assert refused.mimetype == "application/problem+json"
    assert 0 < int(refused.headers["Retry-After"]) <= 3600
    assert count(cdb) == RATE_LIMIT
    # Another phone is not affected.
    submit_sms(cclient, "WATER D01 no water in my house", "SM-other", sender="+254799999999")


def test_oversized_sms_body_is_413_problem(cclient: FlaskClient, cdb: Callable[[], Any]) -> None:
    params = sms("EVICTION D01 " + "x" * 20_000)
    answer = twilio_post(cclient, params)
    assert answer.status_code == 413
    assert answer.mimetype == "application/problem+json"
    assert count(cdb) == 0


def test_unconfigured_gateway_refuses_everything(
    cclient: FlaskClient, cdb: Callable[[], Any], capp: Any
) -> None:
    capp.extensions["hrcnet"].config.values["community_twilio_auth_token"] = None
    params = sms("EVICTION D02 they removed us from the block today")
    answer = twilio_post(cclient, params)
    assert (answer.status_code, answer.json["code"]) == (401, "gateway_not_configured")
    assert count(cdb) == 0


CUSTOM = [
    {
        "code": "SCHOOL",
        "label": "School exclusion",
        "right": "Education",
        "indicators": ["HRC-EDU-01"],
        "keywords": ["school", "École", "escuela"],
    }
]


@pytest.mark.parametrize("settings", [{"community_categories": CUSTOM}], indirect=True)
def test_a_node_configures_its_own_categories(cclient: FlaskClient, cdb: Callable[[], Any]) -> None:
    html = cclient.get("/report").get_data(as_text=True)
    assert 'value="SCHOOL"' in html and 'value="EVICTION"' not in html
    # Keywords compare without case or accents; the default set's words mean nothing here.
    submit_sms(cclient, "ecole D02 my son was sent home for his origin", "SM-c1")
    refused = twilio_post(cclient, sms("EVICTION D02 removed from our flat", "SM-c2"))
    assert "1 SCHOOL" in refused.get_data(as_text=True)
    with cdb() as session:
        assert [r.category for r in session.scalars(select(CommunityReport))] == ["SCHOOL"]
