"""Hostile documents at the inbox: refused with 422 (permanent, so the sender's outbox
dead-letters instead of retrying forever), nothing stored, on SQLite and PostgreSQL; pages never
crash on what was stored before the rules existed.

Rules (docs/protocol.md §3.2 and §5.5): no NUL and no lone surrogate in any payload string
(``invalid_string``), nesting at most 64 levels (``nesting_too_deep``), benchmark numbers are
decimal strings (``invalid_payload`` otherwise).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from federation import httpsig
from federation.canonical import canonical_bytes
from federation.envelope import build_key_document, make_envelope, sign_envelope
from federation.keys import generate_signing_key
from node.network.models import FederationIncident, InEnvelope, Peer
from node.secretariat.models import ReceivedBenchmark
from tests.federation.conftest import SECRETARIAT, Node
from tests.federation.test_inbox_refusals import expect, post, stored
from tests.federation.test_secretariat import join

STRANGER = "xx-stranger"
RECEIVER = "be-gent"  # the city of tests/conftest.py's node fixture
RECEIVER_URL = "http://127.0.0.1:5001"


def _count(app: Flask, model: Any) -> int:
    with app.extensions["hrcnet"].sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def _twinning_request(now_ms: int, name: str) -> tuple[bytes, Any]:
    """A stranger's signed twinning request whose city name is ``name`` (raw JSON bytes).

    ``name`` is spliced into the canonical text as written (e.g. ``"Evil\\u0000City"``), the
    way a hostile sender would write it; the request is signed over exactly those bytes'
    parsed form, so only the text rule can refuse it.
    """
    key = generate_signing_key()
    payload = {
        "node": {
            "city_id": STRANGER,
            "name": "PLACEHOLDER",
            "country": "XX",
            "region": "europe-west",
            "role": "city",
            "base_url": "http://127.0.0.1:5999",
        },
        "themes": None,
        "key_document": build_key_document(STRANGER, key, [], now_ms=now_ms, seq=1),
    }
    envelope = make_envelope(
        "hrc.twinning.request",
        "hrc.twinning.request/1",
        STRANGER,
        "twinning",
        1,
        now_ms,
        key.key_id,
        [RECEIVER],
        payload,
    )
    # Sign the document as the receiver will parse it: the name with the hostile character.
    parsed_name = json.loads(f'"{name}"')
    envelope["payload"]["node"]["name"] = parsed_name
    try:
        signed = sign_envelope(envelope, STRANGER, key)
        body = canonical_bytes(signed)
    except ValueError:
        # Our own signer refuses the character (payload rules): write the bytes by hand,
        # signed over a placeholder; the text rule must refuse it before the signature is
        # even looked at.
        envelope["payload"]["node"]["name"] = "PLACEHOLDER"
        signed = sign_envelope(envelope, STRANGER, key)
        body = canonical_bytes(signed).replace(b'"PLACEHOLDER"', f'"{name}"'.encode())
    return body, key


def _post_as_stranger(app: Flask, body: bytes, key: Any, now_s: int) -> Any:
    url = f"{RECEIVER_URL}/federation/v1/inbox"
    headers = {"Content-Type": "application/json"}
    headers.update(httpsig.sign_request("POST", url, headers, body, STRANGER, key, now_s))
    return app.test_client().post("/federation/v1/inbox", data=body, headers=headers)


@pytest.mark.parametrize("name", ["Evil\\u0000City", "Evil\\ud800City", "\\u0000"])
def test_twinning_request_with_invalid_text_in_the_city_name(
    app: Flask, clock: Any, name: str
) -> None:
    now_s = int(clock().timestamp())
    body, key = _twinning_request(now_s * 1000, name)
    response = _post_as_stranger(app, body, key, now_s)
    expect(response, 422, "invalid_string")
    assert _count(app, InEnvelope) == 0
    assert _count(app, Peer) == 0
    # the incident record (written after the rollback) must not itself hold the NUL
    with app.extensions["hrcnet"].sessions() as session:
        for incident in session.scalars(select(FederationIncident)):
            assert "\x00" not in json.dumps(incident.detail) + incident.origin


def test_twinning_request_with_a_clean_name_is_accepted(app: Flask, clock: Any) -> None:
    # The control: the same request with a clean name is stored (so the refusal above is
    # about the text, not about the request).
    now_s = int(clock().timestamp())
    body, key = _twinning_request(now_s * 1000, "Honest City")
    response = _post_as_stranger(app, body, key, now_s)
    assert response.status_code in (200, 201, 202), response.get_json()
    assert _count(app, Peer) == 1


def test_deep_envelope_is_refused_without_parsing(app: Flask, clock: Any) -> None:
    now_s = int(clock().timestamp())
    key = generate_signing_key()
    body = b"[" * 100_000 + b"]" * 100_000
    response = _post_as_stranger(app, body, key, now_s)
    expect(response, 422, "nesting_too_deep")
    assert _count(app, InEnvelope) == 0


# --- benchmarks: numbers checked at the inbox -----------------------------------------------------


def _group(**changes: Any) -> dict[str, Any]:
    group: dict[str, Any] = {
        "indicator": "HRC-HOU-01",
        "period": "2025",
        "scope": "network",
        "direction": "good_down",
        "n": 5,
        "stats": {
            "min": "7.25",
            "q1": "10",
            "median": "12.5",
            "q3": "20",
            "max": "30",
            "mean": "15.95",
        },
        "distribution": ["7.25", "10", "12.5", "20", "30"],
        "previous_median": None,
        "sources": ["a" * 64] * 5,
        "position": {
            "value": "12.5",
            "rank": 2,
            "percentile": "80",
            "quartile": 2,
            "distance_to_best_quartile": "2.5",
            "previous_value": None,
            "trend": "no_data",
        },
    }
    for path, value in changes.items():
        target = group
        *parents, last = path.split("__")
        for parent in parents:
            target = target[parent]
        target[last] = value
    return group


def _benchmark(secretariat: Node, to: Node, seq: int, group: dict[str, Any]) -> bytes:
    envelope = make_envelope(
        "hrc.benchmark",
        "hrc.benchmark/1",
        SECRETARIAT,
        "benchmarks",
        seq,
        int(secretariat.clock().timestamp() * 1000),
        secretariat.key.key_id,
        [to.city_id],
        {"min_cities": 5, "catalogue_version": None, "groups": [group]},
    )
    return canonical_bytes(sign_envelope(envelope, SECRETARIAT, secretariat.key))


BAD_NUMBERS = [
    {"stats__median": "abc"},
    {"stats__median": "nan"},
    {"stats__max": "inf"},
    {"stats__min": "-Infinity"},
    {"stats__mean": "1e5"},
    {"distribution": ["7.25", "NaN", "30"]},
    {"distribution": ["abc"]},
    {"position__value": "nan"},
    {"position__percentile": "101"},
    {"position__quartile": 7},
    {"position__trend": "<script>"},
    {"previous_median": "inf"},
    {"direction": "sideways"},
    {"n": -1},
]


@pytest.fixture
def member(network):  # type: ignore[no-untyped-def]
    secretariat, gent = network(SECRETARIAT, "be-gent")
    join(secretariat, [gent])
    return secretariat, gent


@pytest.mark.parametrize("changes", BAD_NUMBERS, ids=lambda c: "-".join(map(str, c.items())))
def test_benchmark_with_bad_numbers_refused_at_the_inbox(member, changes: dict[str, Any]) -> None:
    secretariat, gent = member
    before = stored(gent)
    response = post(secretariat, gent, _benchmark(secretariat, gent, 1000, _group(**changes)))
    expect(response, 422, "invalid_payload")
    assert stored(gent) == before
    assert _count(gent.app, ReceivedBenchmark) == 0
    assert gent.app.test_client().get("/benchmarks/HRC-HOU-01").status_code == 200


def test_benchmark_with_good_numbers_is_accepted_and_shown(member) -> None:
    secretariat, gent = member
    response = post(secretariat, gent, _benchmark(secretariat, gent, 1000, _group()))
    assert response.status_code in (200, 202), response.get_json()
    assert _count(gent.app, ReceivedBenchmark) == 1
    page = gent.app.test_client().get("/benchmarks/HRC-HOU-01")
    assert page.status_code == 200 and page.get_data(as_text=True).count("<svg") == 2


@pytest.mark.parametrize(
    "changes",
    [{"stats__median": "abc"}, {"distribution": ["nan", "inf", "x"]}, {"position__value": "abc"}],
    ids=["median", "distribution", "position"],
)
def test_benchmark_page_survives_bad_numbers_stored_earlier(
    member, changes: dict[str, Any]
) -> None:
    secretariat, gent = member
    # Accept a good group, then corrupt what is stored, as a node before this rule stored it.
    post(secretariat, gent, _benchmark(secretariat, gent, 1000, _group()))
    with gent.runtime.sessions() as session:
        row = session.scalars(select(ReceivedBenchmark)).one()
        row.group = _group(**changes)
        session.commit()
    for path in ("/benchmarks/HRC-HOU-01", "/benchmarks"):
        page = gent.app.test_client().get(path)
        assert page.status_code == 200, path
