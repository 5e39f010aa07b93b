"""Everything the inbox must refuse, with a specific code, storing nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import func, select

from federation import httpsig
from federation.canonical import canonical_bytes
from federation.envelope import make_envelope, sign_envelope
from federation.keys import SigningKey, generate_signing_key
from node.db import session_scope
from node.network.models import InEnvelope
from tests.federation.conftest import BACKENDS, Node, record, twin

# Every test here runs on SQLite and, in the PostgreSQL lane, on PostgreSQL: each node
# has its own database, as separate cities would.
pytestmark = pytest.mark.parametrize("federation_backend", BACKENDS, indirect=True)


def summary_payload(
    city: Node, period: str = "2025", revision: int = 1, value: Any = "12.5"
) -> dict[str, Any]:
    return {
        "city": {"city_id": city.city_id, "name": "Gent", "country": "BE", "region": "europe-west"},
        "period": period,
        "revision": revision,
        "supersedes": None,
        "catalogue_version": "0.1.0",
        "themes": None,
        "suppressed_cells": 0,
        "small_cell_threshold": 5,
        "indicators": [
            {
                "code": "HRC-HOU-01",
                "name": "Evictions",
                "right": "Adequate housing",
                "type": "outcome",
                "value_type": "number",
                "unit": {"code": "PER_10K_HH", "label": "per 10,000 households"},
                "direction": "good_down",
                "core": True,
                "maps_to": None,
                "results": [{"disaggregation": {}, "value": value, "status": "validated"}],
                "baseline": None,
                "target": None,
            }
        ],
    }


def envelope(
    sender: Node,
    to: Node,
    seq: int,
    *,
    key: SigningKey | None = None,
    payload: dict[str, Any] | None = None,
    created_ms: int | None = None,
) -> dict[str, Any]:
    key = key or sender.key
    created = created_ms or int(sender.clock().timestamp() * 1000)
    env = make_envelope(
        "hrc.summary",
        "hrc.summary/1",
        sender.city_id,
        "summaries",
        seq,
        created,
        key.key_id,
        [to.city_id],
        payload or summary_payload(sender),
    )
    return sign_envelope(env, sender.city_id, key)


def post(
    sender: Node,
    to: Node,
    body: bytes,
    *,
    key: SigningKey | None = None,
    created_s: int | None = None,
    target: str | None = None,
    headers_override: dict[str, str] | None = None,
) -> Any:
    key = key or sender.key
    url = target or f"{to.base_url}/federation/v1/inbox"
    headers = {"Content-Type": "application/json"}
    headers.update(
        httpsig.sign_request(
            "POST",
            url,
            headers,
            body,
            sender.city_id,
            key,
            created_s or int(to.clock().timestamp()),
        )
    )
    headers.update(headers_override or {})
    return to.app.test_client().post("/federation/v1/inbox", data=body, headers=headers)


def stored(node: Node) -> int:
    with session_scope(node.runtime.sessions) as session:
        return session.scalar(select(func.count()).select_from(InEnvelope)) or 0


@pytest.fixture
def pair(network):  # type: ignore[no-untyped-def]
    gent, padova, graz = network("be-gent", "it-padova", "at-graz")
    twin(gent, padova)
    return gent, padova, graz


def expect(response: Any, status: int, code: str) -> None:
    body = response.get_json()
    assert response.status_code == status, body
    assert response.mimetype == "application/problem+json"
    assert body["code"] == code, body


def test_accepted_then_exact_replay_is_a_harmless_duplicate(pair) -> None:
    gent, padova, _ = pair
    before = stored(padova)
    body = canonical_bytes(envelope(gent, padova, 100))
    assert post(gent, padova, body).status_code == 202
    replay = post(gent, padova, body)  # new request signature, same document
    assert replay.status_code == 200 and replay.get_json()["status"] == "duplicate"
    assert stored(padova) == before + 1


def test_forged_signature(pair) -> None:
    gent, padova, _ = pair
    env = envelope(gent, padova, 100)
    sig = env["signatures"]["be-gent"][gent.key.key_id]
    env["signatures"]["be-gent"][gent.key.key_id] = ("A" if sig[0] != "A" else "B") + sig[1:]
    before = stored(padova)
    expect(post(gent, padova, canonical_bytes(env)), 401, "bad_signature")
    assert stored(padova) == before


def test_tampered_payload(pair) -> None:
    gent, padova, _ = pair
    env = envelope(gent, padova, 100)
    env["payload"]["indicators"][0]["results"][0]["value"] = "1.0"
    before = stored(padova)
    expect(post(gent, padova, canonical_bytes(env)), 401, "bad_signature")
    assert stored(padova) == before


def test_signature_by_an_unknown_key(pair) -> None:
    gent, padova, _ = pair
    stranger = generate_signing_key()
    body = canonical_bytes(envelope(gent, padova, 100, key=stranger))
    # request signed with Gent's real key, document with a key nobody published
    expect(post(gent, padova, body), 401, "unknown_key")
    # request signed with the stranger key too: refused at the transport
    expect(post(gent, padova, body, key=stranger), 401, "unknown_key")


def test_envelope_from_a_non_twin_is_refused(pair) -> None:
    gent, padova, graz = pair
    before = stored(padova)
    response = post(graz, padova, canonical_bytes(envelope(graz, padova, 1)))
    assert response.status_code == 401  # Padova does not even know Graz's keys
    assert stored(padova) == before


def test_rollback_and_equivocation(pair) -> None:
    gent, padova, _ = pair
    assert post(gent, padova, canonical_bytes(envelope(gent, padova, 200))).status_code == 202
    expect(
        post(
            gent,
            padova,
            canonical_bytes(envelope(gent, padova, 150, payload=summary_payload(gent, revision=5))),
        ),
        409,
        "rollback",
    )
    expect(
        post(
            gent,
            padova,
            canonical_bytes(envelope(gent, padova, 200, payload=summary_payload(gent, revision=7))),
        ),
        409,
        "equivocation",
    )
    assert padova.api("GET", "/federation/status").status_code == 200  # status still answers
    from node.network.models import FederationIncident

    with session_scope(padova.runtime.sessions) as session:
        incidents = [
            (i.origin, i.kind, i.detail["seq"])
            for i in session.scalars(select(FederationIncident).order_by(FederationIncident.id))
        ]
        summaries = session.scalars(
            select(InEnvelope.seq).where(InEnvelope.stream == "summaries")
        ).all()
    assert incidents == [("be-gent", "rollback", 150), ("be-gent", "equivocation", 200)]
    assert summaries == [200]  # neither refused document was stored


@pytest.mark.parametrize(
    ("offset_s", "code"), [(-400, "created_too_old"), (400, "created_in_future")]
)
def test_stale_or_future_request(pair, offset_s: int, code: str) -> None:
    gent, padova, _ = pair
    body = canonical_bytes(envelope(gent, padova, 100))
    expect(
        post(gent, padova, body, created_s=int(padova.clock().timestamp()) + offset_s), 401, code
    )


def test_document_dated_in_the_future(pair) -> None:
    gent, padova, _ = pair
    future = int(gent.clock().timestamp() * 1000) + 10 * 60 * 1000
    body = canonical_bytes(envelope(gent, padova, 100, created_ms=future))
    before = stored(padova)
    expect(post(gent, padova, body), 422, "future_document")
    assert stored(padova) == before


def _raw_with(gent: Node, padova: Node, replace: tuple[str, str]) -> bytes:
    text = canonical_bytes(envelope(gent, padova, 100)).decode()
    assert replace[0] in text
    return text.replace(replace[0], replace[1], 1).encode()


def test_float_in_payload(pair) -> None:
    gent, padova, _ = pair
    body = _raw_with(gent, padova, ('"suppressed_cells":0', '"suppressed_cells":0.5'))
    expect(post(gent, padova, body), 422, "float_not_allowed")


def test_integer_beyond_2_53(pair) -> None:
    gent, padova, _ = pair
    body = _raw_with(gent, padova, ('"suppressed_cells":0', '"suppressed_cells":9007199254740993'))
    expect(post(gent, padova, body), 422, "integer_out_of_range")


def test_duplicate_json_keys(pair) -> None:
    gent, padova, _ = pair
    body = _raw_with(gent, padova, ('"seq":100', '"seq":100,"seq":101'))
    expect(post(gent, padova, body), 422, "duplicate_key")


def test_body_over_the_limit(pair) -> None:
    gent, padova, _ = pair
    body = b'{"pad":"' + b"x" * (1_048_576 + 1) + b'"}'
    response = post(gent, padova, body)
    assert response.status_code == 413
    assert response.get_json()["code"] == "body_too_large"


def test_missing_and_wrong_content_digest(pair) -> None:
    gent, padova, _ = pair
    body = canonical_bytes(envelope(gent, padova, 100))
    url = f"{padova.base_url}/federation/v1/inbox"
    headers = httpsig.sign_request(
        "POST", url, {}, body, gent.city_id, gent.key, int(padova.clock().timestamp())
    )
    missing = {k: v for k, v in headers.items() if k.lower() != "content-digest"}
    response = padova.app.test_client().post(
        "/federation/v1/inbox", data=body, headers={**missing, "Content-Type": "application/json"}
    )
    assert response.status_code == 401
    assert response.get_json()["code"] in ("digest_missing", "missing_covered_header")
    wrong = post(
        gent, padova, body, headers_override={"Content-Digest": httpsig.content_digest(body + b" ")}
    )
    expect(wrong, 401, "digest_mismatch")


def test_wrong_target_uri(pair) -> None:
    gent, padova, _ = pair
    body = canonical_bytes(envelope(gent, padova, 100))
    response = post(gent, padova, body, target=f"{padova.base_url}/federation/v1/other")
    assert response.status_code == 401
    assert response.get_json()["code"] in ("wrong_target_uri", "bad_signature")


def test_unsigned_request(pair) -> None:
    gent, padova, _ = pair
    response = padova.app.test_client().post(
        "/federation/v1/inbox",
        data=canonical_bytes(envelope(gent, padova, 100)),
        headers={"Content-Type": "application/json"},
    )
    expect(response, 401, "missing_signature")


def test_garbage_never_makes_a_500(pair) -> None:
    gent, padova, _ = pair
    for body in (
        b"",
        b"null",
        b"[]",
        b"{",
        b"\xff\xfe",
        b'{"v":1}',
        json.dumps({"v": 1, "type": "hrc.summary", "payload": []}).encode(),
    ):
        response = post(gent, padova, body)
        assert 400 <= response.status_code < 500, (body, response.status_code)


def test_outbox_pull_requires_a_signed_twin(pair) -> None:
    gent, padova, graz = pair
    record(gent, "2025", {"HRC-HOU-01": "9"})
    gent.api("POST", "/summaries", {"period": "2025"})
    client = gent.app.test_client()
    expect(client.get("/federation/v1/outbox?since=0"), 401, "missing_signature")
    url = f"{gent.base_url}/federation/v1/outbox?since=0"
    graz_headers = httpsig.sign_request(
        "GET", url, {}, None, graz.city_id, graz.key, int(gent.clock().timestamp())
    )
    assert client.get("/federation/v1/outbox?since=0", headers=graz_headers).status_code == 401
    ok_headers = httpsig.sign_request(
        "GET", url, {}, None, padova.city_id, padova.key, int(gent.clock().timestamp())
    )
    page = client.get("/federation/v1/outbox?since=0", headers=ok_headers).get_json()
    assert [i["type"] for i in page["items"]] == ["hrc.twinning.request", "hrc.summary"]
    bad = client.get("/federation/v1/outbox?since=-1", headers=ok_headers)
    assert bad.status_code == 400


def test_summary_in_another_stream_is_refused(pair) -> None:
    gent, padova, _ = pair
    env = make_envelope(
        "hrc.summary",
        "hrc.summary/1",
        gent.city_id,
        "elsewhere",
        5,
        int(gent.clock().timestamp() * 1000),
        gent.key.key_id,
        [padova.city_id],
        summary_payload(gent),
    )
    body = canonical_bytes(sign_envelope(env, gent.city_id, gent.key))
    expect(post(gent, padova, body), 422, "wrong_stream")
    long = make_envelope(
        "hrc.summary",
        "hrc.summary/1",
        gent.city_id,
        "s" * 200,
        5,
        int(gent.clock().timestamp() * 1000),
        gent.key.key_id,
        [padova.city_id],
        summary_payload(gent),
    )
    body = canonical_bytes(sign_envelope(long, gent.city_id, gent.key))
    expect(post(gent, padova, body), 422, "invalid_field")


def test_simultaneous_requests_end_active_on_both_sides(network) -> None:
    gent, padova = network("be-gent", "it-padova")
    assert gent.request_twin({"url": padova.base_url})["state"] == "requested"
    assert padova.request_twin({"url": gent.base_url})["state"] == "requested"
    gent.deliver()
    padova.deliver()
    assert padova.api("POST", "/peers/be-gent/accept").status_code == 200
    padova.deliver()
    states = {p["city_id"]: p["state"] for p in gent.api("GET", "/peers").get_json()["items"]}
    assert states == {"it-padova": "active"}
