"""The protocol document tells one truth (issue 13): what docs/protocol.md promises on the points
where it used to contradict itself or stay silent, checked against a running node.

- §7.4: ``GET /api/v1/peers/{id}/summaries`` answers ``envelope`` as the stored text, so a client
  can hash and verify exactly the bytes that arrived (the contract: "exactly as received");
- the delivery status: the API and the administrators' page show the same figures;
- §8.1: indicator and dimension codes are the sender's, checked for syntax only;
- §4.3: the key document's ``seq`` is the time (ms) of the last key change;
- §7: federation 401s carry no ``WWW-Authenticate``; the problem ``title`` is informative.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from html.parser import HTMLParser
from typing import Any

from federation import httpsig
from federation.envelope import envelope_sha256, verify_envelope, verify_key_document
from node.db import session_scope
from node.network import keyring
from node.network.models import InEnvelope, OutEnvelope
from tests.federation.conftest import Node, record, twin
from tests.federation.test_inbox_refusals import envelope, post, summary_payload
from tests.federation.test_network_pages import caller
from tests.web.test_pages import login


def _ms(node: Node) -> int:
    return int(node.clock().timestamp() * 1000)


def _twin_key_lookup(twin_node: Node, reader: Node) -> Any:
    """The twin's keys as its own served key document states them (verified for its city)."""
    served = twin_node.app.test_client().get("/federation/v1/keys").get_json()
    keydoc = verify_key_document(served, twin_node.city_id, _ms(reader))
    return lambda origin, key_id, created_ts: (
        keydoc.public_key_for(key_id, created_ts) if origin == twin_node.city_id else None
    )


def _stored_raw(node: Node, origin: str, seq: int) -> str:
    with session_scope(node.runtime.sessions) as session:
        row = session.query(InEnvelope).filter_by(origin=origin, stream="summaries", seq=seq).one()
        return row.raw


# --- §7.4: the envelope exactly as received ------------------------------------------------


def test_received_envelope_is_the_text_that_arrived_byte_for_byte(network) -> None:
    """A sender may serialise its envelope any valid way (indented, members in any order,
    non-ASCII escaped): the signature covers the canonical form, not the text. The API must
    hand back the text that arrived; a parsed object re-serialised by the reader's JSON library
    is other bytes, which a client cannot compare with what the sender holds."""
    gent, padova = network("be-gent", "it-padova")
    twin(gent, padova)
    payload = summary_payload(gent)
    payload["city"]["name"] = "Gënt"  # escaped as \u00eb below, raw UTF-8 in canonical form
    signed = envelope(gent, padova, 500, payload=payload)
    body = json.dumps(dict(reversed(list(signed.items()))), indent=2).encode("ascii")
    assert post(gent, padova, body).status_code == 202

    [item] = padova.api("GET", "/peers/be-gent/summaries").get_json()["items"]
    text = item["envelope"]
    assert isinstance(text, str)
    assert text.encode("utf-8") == body  # exactly as received
    assert hashlib.sha256(text.encode("utf-8")).digest() == hashlib.sha256(body).digest()
    assert text == _stored_raw(padova, "be-gent", 500)
    parsed = json.loads(text)
    assert item["envelope_sha256"] == envelope_sha256(parsed) == envelope_sha256(signed)
    signers = verify_envelope(parsed, _twin_key_lookup(gent, padova))
    assert signers[0] == ("be-gent", gent.key.key_id)
    assert item["verified"] is True and item["via"] == "push" and item["seq"] == 500


def test_published_summary_arrives_as_the_senders_bytes_by_push_and_by_pull(network) -> None:
    gent, padova, graz = network("be-gent", "it-padova", "at-graz")
    twin(gent, padova)
    twin(gent, graz)
    record(gent, "2025", {"HRC-HOU-01": "12.50"})
    published = gent.api("POST", "/summaries", {"period": "2025"}).get_json()["items"]
    [summary] = published  # one scope (every theme): one envelope for both twins
    with session_scope(gent.runtime.sessions) as session:
        sent = session.get(OutEnvelope, summary["seq"])
        assert sent is not None
        sent_raw = sent.raw
    graz.set_down(True)
    gent.deliver()  # Padova gets it by push; Graz is down and pulls it afterwards
    graz.set_down(False)
    assert graz.pull()["be-gent"][1] is None

    for receiver, via in ((padova, "push"), (graz, "pull")):
        [item] = receiver.api("GET", "/peers/be-gent/summaries").get_json()["items"]
        assert item["via"] == via
        # Push stores the body byte for byte; pull stores the compact re-serialisation of the
        # parsed item, which is the same text for a sender that serves JCS (every hrcnet node).
        assert item["envelope"] == sent_raw
        assert (
            hashlib.sha256(item["envelope"].encode()).hexdigest()
            == hashlib.sha256(_stored_raw(receiver, "be-gent", summary["seq"]).encode()).hexdigest()
        )
        assert item["envelope_sha256"] == summary["envelope_sha256"]
        assert envelope_sha256(json.loads(item["envelope"])) == summary["envelope_sha256"]
        verify_envelope(json.loads(item["envelope"]), _twin_key_lookup(gent, receiver))


def test_openapi_describes_the_envelope_as_text_and_documents_verified(network) -> None:
    [gent] = network("be-gent")
    spec = gent.app.test_client().get("/api/openapi.json").get_json()
    schema = spec["components"]["schemas"]["ReceivedSummary"]["properties"]
    assert schema["envelope"]["type"] == "string"
    assert "exactly as received" in schema["envelope"]["description"]
    assert schema["verified"]["type"] == "boolean" and schema["verified"]["description"]


# --- one delivery status for API and page ----------------------------------------------------


class _Rows(HTMLParser):
    """The cells of one table (by id) of a page, row by row, as text."""

    def __init__(self, table_id: str) -> None:
        super().__init__()
        self.table_id, self.inside, self.rows = table_id, False, []
        self.cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table" and ("id", self.table_id) in attrs:
            self.inside = True
        elif self.inside and tag == "tr":
            self.rows.append([])
        elif self.inside and tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self.inside = False
        elif self.inside and tag in ("td", "th") and self.cell is not None:
            self.rows[-1].append(" ".join("".join(self.cell).split()))
            self.cell = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


def _table(html: str, table_id: str) -> list[list[str]]:
    parser = _Rows(table_id)
    parser.feed(html)
    return parser.rows[1:]  # without the header row


def _when(value: str | None) -> str:
    """An API timestamp as an English page writes it (issue 15: "Mar 1, 2026 12:00", UTC)."""
    if not value:
        return "–"
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return f"{moment:%b} {moment.day}, {moment.year} {moment:%H:%M}"


def test_api_and_page_show_the_same_delivery_figures(network) -> None:
    """Padova refuses Gent's summary for good (its inbox takes 1 KiB bodies: 413, a dead
    letter), Graz is down (failures, a queue of two): the API and the page give the same
    numbers for each twin, from one query."""
    gent, padova, graz = network("be-gent", "it-padova", "at-graz")
    twin(gent, padova)
    twin(gent, graz)
    padova.app.config["MAX_CONTENT_LENGTH"] = 1024  # as a node configured with a small limit
    graz.set_down(True)
    for value in ("10", "11"):
        record(gent, "2025", {"HRC-HOU-01": value, "HRC-EDU-01": "3.1"})
        assert gent.api("POST", "/summaries", {"period": "2025"}).status_code == 201
        gent.deliver()

    api = gent.api("GET", "/federation/status").get_json()
    by_city = {p["city_id"]: p for p in api["items"]}
    assert (by_city["it-padova"]["queue_length"], by_city["it-padova"]["dead_letters"]) == (0, 2)
    assert (by_city["at-graz"]["queue_length"], by_city["at-graz"]["dead_letters"]) == (2, 0)
    assert by_city["at-graz"]["failures"] >= 1
    assert [d["destination"] for d in api["dead_letters"]] == ["it-padova", "it-padova"]
    assert {d["last_status"] for d in api["dead_letters"]} == {413}

    web = gent.app.test_client()
    login(web, caller(gent))
    page = web.get("/network/status")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    shown = [
        [
            p["city_id"],
            _when(p["last_success_at"]),
            str(p["queue_length"]),
            str(p["failures"]),
            str(p["dead_letters"]),
            _when(p["next_attempt_at"]),
            p["last_error"] or "",
        ]
        for p in api["items"]
    ]
    assert _table(html, "delivery") == shown
    dead_rows = _table(html, "dead-letters")
    assert [(r[0], r[2]) for r in dead_rows] == [
        (d["destination"], str(d["last_status"])) for d in reversed(api["dead_letters"])
    ]


# --- §8.1: codes are the sender's ------------------------------------------------------------


def test_a_twins_local_codes_and_dimensions_are_accepted_unknown_to_us(network) -> None:
    """NL-LOCAL-99 broken down by WIJK exists only in the sender's catalogue: the receiver
    checks the syntax of codes, never that it knows them; a local indicator compares through
    the core code it maps to. A code that breaks the syntax is refused, nothing stored."""
    gent, padova = network("be-gent", "it-padova")
    twin(gent, padova)
    record(padova, "2025", {"HRC-HOU-01": "9.75"})
    payload = summary_payload(gent)
    local = dict(payload["indicators"][0])
    local.update(
        code="NL-LOCAL-99",
        core=False,
        maps_to="HRC-HOU-01",
        results=[
            {"disaggregation": {}, "value": "12.5"},
            {"disaggregation": {"WIJK": "CENTRUM"}, "value": "20"},
        ],
    )
    payload["indicators"] = [local]
    accepted = post(gent, padova, json.dumps(envelope(gent, padova, 600, payload=payload)).encode())
    assert accepted.status_code == 202, accepted.get_json()
    [item] = padova.api("GET", "/peers/be-gent/summaries").get_json()["items"]
    assert item["seq"] == 600
    rows = padova.api("GET", "/peers/be-gent/comparison?period=2025").get_json()["items"]
    assert [(r["indicator"], r["ours"], r["theirs"]) for r in rows] == [
        ("HRC-HOU-01", "9.75", "12.5")
    ]

    bad = summary_payload(gent, revision=2)
    bad["indicators"][0]["results"] = [{"disaggregation": {"WIJK": "-CENTRUM"}, "value": "1"}]
    refused = post(gent, padova, json.dumps(envelope(gent, padova, 601, payload=bad)).encode())
    assert (refused.status_code, refused.get_json()["code"]) == (422, "invalid_payload")
    assert len(padova.api("GET", "/peers/be-gent/summaries").get_json()["items"]) == 1


# --- §4.3: key-document seq ----------------------------------------------------------------


def test_key_document_seq_is_the_time_of_the_last_key_change(network) -> None:
    [gent] = network("be-gent")
    client = gent.app.test_client()
    first = client.get("/federation/v1/keys").get_json()
    gent.clock.advance(minutes=10)
    again = client.get("/federation/v1/keys").get_json()
    assert again["seq"] == first["seq"] and again["created_ts"] > first["created_ts"]

    # The template node's key was made on the real clock, which may be ahead of the tests'
    # clock: move past it, as time does between a key's creation and its rotation.
    gent.clock.advance(milliseconds=max(0, first["seq"] - _ms(gent)), minutes=10)
    rotated_at = _ms(gent)
    with session_scope(gent.runtime.sessions) as session:
        old_id, _new_id = keyring.rotate(session, gent.runtime.config, gent.clock(), 0)
    assert client.get("/federation/v1/keys").get_json()["seq"] == rotated_at > first["seq"]

    gent.clock.advance(minutes=10)
    revoked_at = _ms(gent)
    with session_scope(gent.runtime.sessions) as session:
        keyring.revoke(session, gent.runtime.config, old_id, gent.clock())
    assert client.get("/federation/v1/keys").get_json()["seq"] == revoked_at


# --- §7: problem documents of the federation endpoints ----------------------------------------


def test_federation_401_has_no_bearer_challenge_and_titles_say_which_layer(network) -> None:
    gent, padova = network("be-gent", "it-padova")
    twin(gent, padova)
    body = json.dumps(envelope(gent, padova, 700)).encode()
    unsigned = padova.app.test_client().post("/federation/v1/inbox", data=body)
    assert unsigned.status_code == 401 and "WWW-Authenticate" not in unsigned.headers
    problem = unsigned.get_json()
    assert (problem["code"], problem["title"]) == ("missing_signature", "Request refused")
    assert unsigned.mimetype == "application/problem+json"

    foreign = post(gent, padova, json.dumps(envelope(gent, gent, 701)).encode())
    assert foreign.get_json()["code"] == "not_addressed"
    assert foreign.get_json()["title"] == "Envelope refused"
    assert "WWW-Authenticate" in padova.api("GET", "/federation/status", token=None).headers

    # the request signature is checked against OUR configured base URL (§6): the same body
    # signed for another URL of the same path is refused
    headers = {"Content-Type": "application/json"}
    headers.update(
        httpsig.sign_request(
            "POST",
            "http://elsewhere.example/federation/v1/inbox",
            headers,
            body,
            gent.city_id,
            gent.key,
            int(padova.clock().timestamp()),
        )
    )
    moved = padova.app.test_client().post("/federation/v1/inbox", data=body, headers=headers)
    assert moved.status_code == 401


# --- §4.5: HTTP statuses of key-document failures ---------------------------------------------


def _twinning_request(sender: Node, to: Node, seq: int, key_document: Any) -> bytes:
    from federation.canonical import canonical_bytes
    from federation.envelope import make_envelope, sign_envelope

    node = {
        "city_id": sender.city_id,
        "name": sender.city_id,
        "country": "FR",
        "region": "europe-west",
        "role": "city",
        "base_url": sender.base_url,
    }
    request = make_envelope(
        "hrc.twinning.request",
        "hrc.twinning.request/1",
        sender.city_id,
        "twinning",
        seq,
        _ms(sender),
        sender.key.key_id,
        [to.city_id],
        {"node": node, "themes": None, "key_document": key_document},
    )
    return canonical_bytes(sign_envelope(request, sender.city_id, sender.key))


def _expired_key_document(node: Node) -> dict[str, Any]:
    from federation.envelope import build_key_document

    two_days = 2 * 86_400_000
    return build_key_document(node.city_id, node.key, now_ms=_ms(node) - two_days, seq=1)


def _peer_rows(node: Node) -> int:
    from sqlalchemy import func, select

    from node.network.models import Peer

    with session_scope(node.runtime.sessions) as session:
        return int(session.scalar(select(func.count()).select_from(Peer)) or 0)


def _peer_state(node: Node, city_id: str) -> str | None:
    from node.network.models import Peer

    with session_scope(node.runtime.sessions) as session:
        peer = session.get(Peer, city_id)
        return None if peer is None else peer.state


def test_a_bad_embedded_key_document_is_refused_with_the_documented_status(network) -> None:
    """§4.5/§7.2: from a stranger, the request signature can only be checked with the embedded
    document, so a document that does not verify ends at the transport (401 unknown_key,
    "Request refused"); from a peer whose keys we hold (declined here), the signature verifies
    and the document itself is refused (401 invalid_key_document, "Envelope refused"). A
    small-order key is 422 weak_public_key either way (tests/federation/test_weak_keys.py).
    Nothing is written in any case."""
    lyon, gent = network("fr-lyon", "be-gent")
    served = lyon.app.test_client().get("/federation/v1/keys").get_json()

    for document in (_expired_key_document(lyon), None):
        stranger = post(lyon, gent, _twinning_request(lyon, gent, 1, document))
        problem = stranger.get_json()
        assert (stranger.status_code, problem["code"], problem["title"]) == (
            401,
            "unknown_key",
            "Request refused",
        )
        assert _peer_rows(gent) == 0

    good = post(lyon, gent, _twinning_request(lyon, gent, 1, served))
    assert good.status_code == 202, good.get_json()
    assert gent.api("POST", "/peers/fr-lyon/decline").status_code == 200
    assert _peer_state(gent, "fr-lyon") == "declined"

    again = post(lyon, gent, _twinning_request(lyon, gent, 2, _expired_key_document(lyon)))
    problem = again.get_json()
    assert (again.status_code, problem["code"], problem["title"]) == (
        401,
        "invalid_key_document",
        "Envelope refused",
    )
    assert "expired" in problem["detail"]
    assert _peer_state(gent, "fr-lyon") == "declined"  # nothing changed
    with session_scope(gent.runtime.sessions) as session:
        assert session.query(InEnvelope).filter_by(origin="fr-lyon", seq=2).count() == 0


# --- §6/§4.6: which base URL a node signs for when the peer asked first -------------------------


def test_when_the_peer_asked_first_its_requests_base_url_is_used_without_discovery(
    network,
) -> None:
    """Lyon asks first and declares a base URL in ``payload.node.base_url``: Gent sends its
    accept to that URL (and signs ``@target-uri`` for it), and never reads Lyon's
    ``/.well-known/hrcnet``."""
    lyon, gent = network("fr-lyon", "be-gent")
    served = lyon.app.test_client().get("/federation/v1/keys").get_json()
    declared = "http://127.0.0.1:5199"  # nobody answers there: the URL alone is what we check
    body = _twinning_request(lyon, gent, 1, served)
    request = json.loads(body)
    assert request["payload"]["node"]["base_url"] == lyon.base_url
    from federation.canonical import canonical_bytes
    from federation.envelope import sign_envelope

    request["payload"]["node"]["base_url"] = declared
    del request["signatures"]
    resigned = canonical_bytes(sign_envelope(request, lyon.city_id, lyon.key))
    assert post(lyon, gent, resigned).status_code == 202
    assert gent.api("POST", "/peers/fr-lyon/accept").status_code == 200
    gent.router.sent.clear()
    gent.deliver()
    # (the delivery retries a refused connection a few times at once: the same URL each time)
    assert set(gent.router.sent) == {("POST", f"{declared}/federation/v1/inbox")}


def test_twinning_messages_are_refused_outside_their_stream(network) -> None:
    """§8.2 used to say the stream of twinning messages is not checked; it is (§5.1)."""
    from federation.canonical import canonical_bytes
    from federation.envelope import make_envelope, sign_envelope

    gent, padova = network("be-gent", "it-padova")
    twin(gent, padova)
    node = {"city_id": gent.city_id, "name": "Gent", "base_url": gent.base_url}
    ending = make_envelope(
        "hrc.twinning.end",
        "hrc.twinning.end/1",
        gent.city_id,
        "summaries",
        900,
        _ms(gent),
        gent.key.key_id,
        [padova.city_id],
        {"node": node, "themes": None},
    )
    refused = post(gent, padova, canonical_bytes(sign_envelope(ending, gent.city_id, gent.key)))
    assert (refused.status_code, refused.get_json()["code"]) == (422, "wrong_stream")
    assert _peer_state(padova, "be-gent") == "active"
