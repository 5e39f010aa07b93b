"""Community reports end to end against a real ``hrcnet serve`` process (issue 16): the public
form, the three SMS gateways with their signature checks, moderation through the API, the
derived counts checked against the reports by hand, abuse (flood, oversized body, script), and
privacy: no public page, export, or signed summary carries a reporter's contact or exact place.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import sqlite3
import time
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from tests.multinode.harness import NodeFactory, NodeProcess, official_token

pytestmark = pytest.mark.multinode

TWILIO_TOKEN = "e2e-twilio-token-qwerty"
AT_SECRET = "e2e-africastalking-secret"
GENERIC_SECRET = "e2e-generic-secret-zxcv"
RATE_LIMIT = 3
CONTACT = "reporter-7731@example.net"
LATITUDE, LONGITUDE = "51.0612345", "3.7098765"
REFERENCE = re.compile(r"CR-[0-9A-Z]{8}")


def community_env() -> dict[str, str]:
    return {
        "NODE_COMMUNITY_TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
        "NODE_COMMUNITY_AFRICASTALKING_SECRET": AT_SECRET,
        "NODE_COMMUNITY_GENERIC_SECRET": GENERIC_SECRET,
        "NODE_COMMUNITY_RATE_LIMIT": str(RATE_LIMIT),
    }


def twilio(node: NodeProcess, body: str, sid: str, sender: str, sign: bool = True) -> Any:
    params = {"MessageSid": sid, "From": sender, "To": "+3225550000", "Body": body}
    url = node.base_url + "/api/v1/community/sms/twilio"
    # The signature written from Twilio's documentation: URL + sorted name/value pairs,
    # HMAC-SHA1 with the auth token, base64.
    data = url + "".join(k + params[k] for k in sorted(params))
    signature = base64.b64encode(
        hmac.new(TWILIO_TOKEN.encode(), data.encode(), hashlib.sha1).digest()
    ).decode()
    headers = {"X-Twilio-Signature": signature} if sign else {}
    return node.api("POST", "/api/v1/community/sms/twilio", data=params, headers=headers)


def generic(node: NodeProcess, message: dict[str, str], stamp: int, secret: str) -> Any:
    body = json.dumps(message).encode()
    mac = hmac.new(secret.encode(), str(stamp).encode() + b"." + body, hashlib.sha256)
    headers = {
        "Content-Type": "application/json",
        "X-Hrcnet-Timestamp": str(stamp),
        "X-Hrcnet-Signature": "sha256=" + mac.hexdigest(),
    }
    return node.api("POST", "/api/v1/community/sms/generic", data=body, headers=headers)


def form_post(http: requests.Session, node: NodeProcess, **fields: str) -> requests.Response:
    page = http.get(node.base_url + "/report", timeout=10)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text)
    assert token, page.text[:300]
    return http.post(
        node.base_url + "/report", data={"csrf_token": token.group(1), **fields}, timeout=10
    )


def test_community_reports_end_to_end(node_factory: NodeFactory) -> None:
    [node] = node_factory("be-gent", start=False, extra_env=community_env())
    token = official_token(node)
    node.start()
    auth = {"Authorization": f"Bearer {token}"}
    added = node.api(
        "POST",
        "/api/v1/dimensions/DISTRICT/codes",
        json={
            "codes": [{"code": "D01", "label": "Binnenstad"}, {"code": "D02", "label": "Ledeberg"}]
        },
        headers=auth,
    )
    assert added.status_code == 201, node.fail(added.text)
    today = datetime.now(UTC).date()
    month = f"{today.year:04d}-{today.month:02d}"
    http = requests.Session()
    http.trust_env = False

    # --- the public form, in a real server, with its CSRF token ----------------------------------
    answer = form_post(
        http,
        node,
        category="EVICTION",
        district="D01",
        occurred_on=today.isoformat(),
        description="Four families were evicted from the Wolterslaan building this morning.",
        latitude=LATITUDE,
        longitude=LONGITUDE,
        contact=CONTACT,
    )
    assert answer.status_code == 200, node.fail(answer.text[:500])
    form_ref = REFERENCE.search(answer.text)
    assert form_ref and CONTACT not in answer.text
    no_token = http.post(node.base_url + "/report", data={"category": "EVICTION"}, timeout=10)
    assert no_token.status_code == 400

    # --- Twilio: signed, a reply in TwiML; wrong and missing signatures refused ------------------
    reply = twilio(node, "EVICTION D02 a family put out on the street", "SM-e2e-1", "+3247000001")
    assert reply.status_code == 200, node.fail(reply.text)
    assert reply.headers["Content-Type"].startswith("application/xml")
    twilio_ref = REFERENCE.search(reply.text)
    assert twilio_ref
    unsigned = twilio(node, "EVICTION D02 forged", "SM-e2e-2", "+3247000002", sign=False)
    assert (unsigned.status_code, unsigned.json()["code"]) == (401, "signature_missing")
    forged = node.api(
        "POST",
        "/api/v1/community/sms/twilio",
        data={"MessageSid": "SM-x", "From": "+32", "Body": "EVICTION D01 forged report"},
        headers={"X-Twilio-Signature": base64.b64encode(b"0" * 20).decode()},
    )
    assert (forged.status_code, forged.json()["code"]) == (401, "signature_invalid")
    replay = twilio(node, "EVICTION D02 a family put out on the street", "SM-e2e-1", "+3247000001")
    assert REFERENCE.search(replay.text).group(0) == twilio_ref.group(0)  # type: ignore[union-attr]

    # --- Africa's Talking: shared secret as the Basic password -----------------------------------
    basic = base64.b64encode(f"hrcnet:{AT_SECRET}".encode()).decode()
    at_fields = {
        "from": "+254711222333",
        "to": "22384",
        "text": "kufukuzwa D01 tumefukuzwa nyumbani leo",
        "id": "ATX-1",
    }
    at_reply = node.api(
        "POST", "/api/v1/community/sms/africastalking", data=at_fields,
        headers={"Authorization": f"Basic {basic}"},
    )  # fmt: skip
    assert at_reply.status_code == 200, node.fail(at_reply.text)
    assert at_reply.headers["Content-Type"].startswith("text/plain")
    assert "Asante" in at_reply.text  # the reply speaks the keyword's language (Swahili)
    at_ref = REFERENCE.search(at_reply.text)
    assert at_ref
    wrong = node.api(
        "POST", "/api/v1/community/sms/africastalking", data=at_fields,
        headers={"X-Community-Secret": "not-it"},
    )  # fmt: skip
    assert (wrong.status_code, wrong.json()["code"]) == (401, "secret_invalid")

    # --- generic JSON with HMAC-SHA256; a stale timestamp and a wrong key refused ----------------
    message = {"id": "gen-1", "from": "+31611111111", "text": "WATER D02 no water for three days"}
    now_s = int(time.time())
    gen = generic(node, message, now_s, GENERIC_SECRET)
    assert gen.status_code == 200, node.fail(gen.text)
    assert REFERENCE.fullmatch(gen.json()["reference"])
    again = generic(node, message, now_s, GENERIC_SECRET)  # replayed within the window
    assert again.json()["reference"] == gen.json()["reference"]
    stale = generic(node, {**message, "id": "gen-2"}, now_s - 3600, GENERIC_SECRET)
    assert (stale.status_code, stale.json()["code"]) == (401, "signature_expired")
    bad_key = generic(node, {**message, "id": "gen-3"}, now_s, "guessed")
    assert (bad_key.status_code, bad_key.json()["code"]) == (401, "signature_invalid")

    # --- abuse: a flood from one phone, an oversized body, a script ------------------------------
    flood = [
        twilio(node, f"WATER D01 day {n} without water here", f"SM-flood-{n}", "+3247999999")
        for n in range(RATE_LIMIT + 1)
    ]
    assert [r.status_code for r in flood] == [200] * RATE_LIMIT + [429]
    assert 0 < int(flood[-1].headers["Retry-After"]) <= 3600
    assert flood[-1].json()["code"] == "rate_limited"
    huge = node.api("POST", "/report", data={"description": "x" * 40_000})
    assert huge.status_code == 413
    script = '<script>alert("owned")</script>'
    scripted = twilio(node, f"POLLUTION D01 smoke {script} all night", "SM-script", "+3247000077")
    assert scripted.status_code == 200 and "<script>" not in scripted.text  # XML-escaped reply

    # --- moderation through the API; the derived counts by hand ----------------------------------
    items = node.api("GET", "/api/v1/community/reports", headers=auth).json()["items"]
    by_ref = {item["reference"]: item for item in items}
    assert by_ref[form_ref.group(0)]["contact"] == CONTACT  # moderators see the contact
    for ref in (form_ref.group(0), twilio_ref.group(0), at_ref.group(0)):
        done = node.api(
            "POST", f"/api/v1/community/reports/{by_ref[ref]['id']}/moderate",
            json={"state": "verified"}, headers=auth,
        )  # fmt: skip
        assert done.status_code == 200, node.fail(done.text)
    refused = node.api(
        "POST", f"/api/v1/community/reports/{by_ref[at_ref.group(0)]['id']}/moderate",
        json={"state": "rejected"}, headers=auth,
    )  # fmt: skip
    assert (refused.status_code, refused.json()["code"]) == (422, "reason_required")
    figures = node.api(
        "GET", f"/api/v1/results?indicator=CR-EVICTION&period={month}", headers=auth
    ).json()["items"]
    # By hand: EVICTION this month, verified: the form's (D01), Twilio's (D02), Africa's
    # Talking's (D01) → D01 2, D02 1, whole city 3.
    assert {(f["disaggregation"].get("DISTRICT", ""), f["value"]) for f in figures} == {
        ("D01", "2"),
        ("D02", "1"),
        ("", "3"),
    }

    # Moderator page: the script stays text.
    login_page = http.get(node.base_url + "/login", timeout=10)
    csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', login_page.text)
    assert csrf
    signed_in = http.post(
        node.base_url + "/login",
        data={
            "email": "official@be-gent.example",
            "password": "correct horse battery staple",
            "csrf_token": csrf.group(1),
        },  # fmt: skip
        timeout=10,
        allow_redirects=False,
    )
    assert signed_in.status_code == 302
    scripted_id = next(i["id"] for i in items if i["reference"] in scripted.text)
    detail = http.get(f"{node.base_url}/community/reports/{scripted_id}", timeout=10)
    assert detail.status_code == 200
    assert script not in detail.text and "&lt;script&gt;" in detail.text
    http.post(node.base_url + "/logout", data={"csrf_token": csrf.group(1)}, timeout=10)

    # --- publish the counts and a signed summary; then search everything public ------------------
    published = node.api(
        "POST", "/api/v1/results/status", json={"status": "published", "indicator": "CR-EVICTION"},
        headers=auth,
    )  # fmt: skip
    assert published.status_code == 200, node.fail(published.text)
    summary = node.api("POST", "/api/v1/summaries", json={"period": month}, headers=auth)
    assert summary.status_code == 201, node.fail(summary.text)
    with sqlite3.connect(node.data_dir / "node.db") as db:
        envelopes = [row[0] for row in db.execute("SELECT raw FROM out_envelopes")]
    assert envelopes
    anonymous = requests.Session()
    anonymous.trust_env = False
    public_paths = [
        "/", "/catalogue", "/catalogue/CR-EVICTION", "/catalogue/HRC-HOU-01", "/report",
        "/recommendations", "/benchmarks", "/api/v1/results?indicator=CR-EVICTION",
        "/api/v1/evidence", "/api/v1/progress", "/api/v1/export?format=csv",
        "/api/v1/export?format=json", "/api/v1/export?format=sdmx-json", "/api/v1/summaries",
        # The public portal: its pages, downloads, feed, embeds and the annual report.
        "/portal", "/portal/indicators/CR-EVICTION", "/portal/verify", "/open-data",
        "/open-data/results.csv", "/open-data/results.json", "/open-data/results.sdmx.json",
        "/open-data/cso-figures.csv", "/feed.atom", "/embed/indicators/CR-EVICTION",
        "/embed/indicators/CR-EVICTION.svg", f"/annual-report/{month[:4]}",
    ]  # fmt: skip
    bodies = {}
    for path in public_paths:
        got = anonymous.get(node.base_url + path, timeout=10)
        assert got.status_code == 200, node.fail(f"{path}: {got.status_code}")
        bodies[path] = got.text
    bodies["signed summaries"] = "\n".join(envelopes)
    secrets = [
        CONTACT,
        LATITUDE,
        LONGITUDE,
        LATITUDE[:7],
        LONGITUDE[:6],
        "+3247000001",
        "+254711222333",
        "Wolterslaan",
    ]
    leaks = [(where, s) for where, body in bodies.items() for s in secrets if s in body]
    assert leaks == []
    assert "CR-EVICTION" in bodies["/api/v1/export?format=csv"]  # the counts are public
    assert "CR-EVICTION" in bodies["/open-data/results.csv"]
    anonymous.close()
    http.close()
