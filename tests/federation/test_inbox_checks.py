"""The inbox's checks of docs/protocol.md §7.2 that the other inbox tests do not pin, each with
its status AND its ``code``, and each refusal checked to leave nothing stored.

Expected answers come from the table of §7.2 (and §4.5, §9.3), not from ``node.network.inbox``:

* step 4: a body that is not JSON text is 400 ``invalid_json`` / ``invalid_utf8``;
* step 5: a malformed envelope is 422 with the shape's code; ``stream`` and ``type`` are at most
  40 characters (41 is ``invalid_field``; 40 goes on to the next checks);
* step 7: an envelope claiming this node as its origin is 403 ``own_envelope``;
* step 8: this node must be in ``audience``; ``"network"`` does not count (403 ``not_addressed``);
* step 9a: a stranger's twinning request is recorded as a pending *city* whatever role it
  declares; its ``node.city_id`` must be its origin (422 ``invalid_payload``);
* steps 9b/9c: a peer that is not an active twin may send twinning messages only (403
  ``not_twinned``);
* step 10: an unknown key is 401 ``unknown_key`` and a fetch of the origin's keys is queued;
* step 18: the envelope is stored verbatim, with the facts it arrived with.

Some of these steps can only be reached by calling the pipeline directly (the transport refuses
first, e.g. a request signed by this node's own key is unknown to it); those tests call
``ingest_envelope`` exactly as the push and pull transports do.
"""

from __future__ import annotations

from typing import Any

import pytest
from marshmallow import Schema, fields, validate
from sqlalchemy import func, select

from federation.canonical import canonical_bytes
from federation.envelope import build_key_document, envelope_sha256, make_envelope, sign_envelope
from federation.keys import b64encode_unpadded, generate_signing_key
from node.db import session_scope
from node.network import inbox
from node.network.models import FederationIncident, KeyFetch, Peer
from schemas.secretariat import DirectoryKeySchema
from tests.federation.conftest import SECRETARIAT, Node, twin
from tests.federation.test_inbox_refusals import envelope, expect, post, stored, summary_payload
from tests.federation.test_outbound_isolation import signed_post
from tests.federation.test_secretariat import join
from tests.hostile import stranger_twinning_request

MAX = 40  # stream and type: "at most 40 characters" (§7.2 step 5)


@pytest.fixture
def pair(network):  # type: ignore[no-untyped-def]
    """Gent twinned with Padova; Graz on the network, not twinned."""
    gent, padova, graz = network("be-gent", "it-padova", "at-graz")
    twin(gent, padova)
    return gent, padova, graz


def _ms(node: Node) -> int:
    return int(node.clock().timestamp() * 1000)


def _signed(
    sender: Node,
    *,
    type_: str = "hrc.summary",
    schema: str = "hrc.summary/1",
    stream: str = "summaries",
    seq: int = 100,
    audience: list[str],
    payload: dict[str, Any] | None = None,
) -> dict[str, Any]:
    env = make_envelope(
        type_,
        schema,
        sender.city_id,
        stream,
        seq,
        _ms(sender),
        sender.key.key_id,
        audience,
        payload if payload is not None else summary_payload(sender),
    )
    return sign_envelope(env, sender.city_id, sender.key)


def _ingest(node: Node, raw: bytes, *, sender: str | None) -> int:
    """The pipeline as the transports call it (push: via "push", the request's signer)."""
    runtime = node.runtime
    with session_scope(runtime.sessions) as session:
        return inbox.ingest_envelope(
            session,
            runtime.config,
            raw,
            registry=runtime.inbound,
            now=runtime.now(),
            via="push",
            sender=sender,
        )


def _refused(node: Node, raw: bytes, *, sender: str | None) -> inbox.InboxRefusal:
    with pytest.raises(inbox.InboxRefusal) as refusal:
        _ingest(node, raw, sender=sender)
    return refusal.value


def _count(node: Node, model: Any, *where: Any) -> int:
    with session_scope(node.runtime.sessions) as session:
        return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def test_a_body_that_is_not_json_text_is_400_with_its_code(pair) -> None:
    gent, padova, _ = pair
    before = stored(padova)
    expect(post(gent, padova, b'{"v":1,'), 400, "invalid_json")
    expect(post(gent, padova, b'{"v":"\xff"}'), 400, "invalid_utf8")
    assert stored(padova) == before


def test_strict_json_refusals_reached_by_a_pull_are_422(pair) -> None:
    """§7.2 step 4: a push with duplicate names is answered by the transport already; a pulled
    page reaches the pipeline itself, which answers the same 422 with the parser's code."""
    gent, padova, _ = pair
    before = stored(padova)
    text = canonical_bytes(envelope(gent, padova, 100)).decode()
    doubled = text.replace('"seq":100', '"seq":100,"seq":101', 1).encode()
    refusal = _refused(padova, doubled, sender=gent.city_id)
    assert (refusal.status, refusal.code) == (422, "duplicate_key")
    refusal = _refused(padova, b'{"v":1,', sender=gent.city_id)
    assert (refusal.status, refusal.code) == (400, "invalid_json")
    assert str(refusal).startswith("The envelope is not acceptable JSON: ")
    floated = text.replace('"suppressed_cells":0', '"suppressed_cells":0.5', 1).encode()
    refusal = _refused(padova, floated, sender=gent.city_id)
    assert (refusal.status, refusal.code) == (422, "float_not_allowed")
    assert stored(padova) == before


def test_a_malformed_envelope_is_422_with_the_shapes_code(pair) -> None:
    gent, padova, _ = pair
    before = stored(padova)
    without_seq = envelope(gent, padova, 100)
    del without_seq["seq"]
    expect(post(gent, padova, canonical_bytes(without_seq)), 422, "missing_field")
    other_version = {**envelope(gent, padova, 100), "v": 2}
    expect(post(gent, padova, canonical_bytes(other_version)), 422, "unsupported_version")
    assert stored(padova) == before


def test_a_stream_of_40_characters_passes_the_length_check_and_41_does_not(pair) -> None:
    gent, padova, _ = pair
    before = stored(padova)
    # 1 and 40: fine for the stored width, so the next check answers (a summary belongs in
    # "summaries")
    shortest = _signed(gent, stream="s", audience=[padova.city_id])
    expect(post(gent, padova, canonical_bytes(shortest)), 422, "wrong_stream")
    at_limit = _signed(gent, stream="s" * MAX, audience=[padova.city_id])
    expect(post(gent, padova, canonical_bytes(at_limit)), 422, "wrong_stream")
    beyond = _signed(gent, stream="s" * (MAX + 1), audience=[padova.city_id])
    refused = post(gent, padova, canonical_bytes(beyond))
    expect(refused, 422, "invalid_field")
    assert refused.get_json()["detail"] == "stream and type are 1-40 characters."
    assert stored(padova) == before


def test_a_type_of_40_characters_passes_the_length_check_and_41_does_not(pair) -> None:
    gent, padova, _ = pair
    before = stored(padova)
    name = "hrc.x" + "y" * (MAX - 5)
    assert len(name) == MAX
    at_limit = _signed(gent, type_=name, audience=[padova.city_id])
    expect(post(gent, padova, canonical_bytes(at_limit)), 422, "unknown_type")
    beyond = _signed(gent, type_=name + "y", audience=[padova.city_id])
    expect(post(gent, padova, canonical_bytes(beyond)), 422, "invalid_field")
    assert stored(padova) == before


def test_an_envelope_claiming_this_node_as_its_origin_is_refused(pair) -> None:
    _, padova, _ = pair
    before = stored(padova)
    own = canonical_bytes(_signed(padova, audience=[padova.city_id]))
    for sender in (padova.city_id, None):
        refusal = _refused(padova, own, sender=sender)
        assert (refusal.status, refusal.code) == (403, "own_envelope")
        assert str(refusal) == "That envelope claims to come from this node."
    assert stored(padova) == before


def test_an_envelope_must_name_this_node_in_its_audience(pair) -> None:
    gent, padova, graz = pair
    before = stored(padova)
    for seq, audience in ((100, [graz.city_id]), (101, ["network"]), (102, [])):
        body = canonical_bytes(_signed(gent, seq=seq, audience=audience))
        refused = post(gent, padova, body)
        expect(refused, 403, "not_addressed")
        assert refused.get_json()["detail"] == "The envelope is not addressed to this node."
    assert stored(padova) == before
    # Named among others: accepted.
    both = canonical_bytes(_signed(gent, seq=103, audience=[graz.city_id, padova.city_id]))
    assert post(gent, padova, both).status_code == 202
    assert stored(padova) == before + 1


def test_an_origin_that_is_no_peer_is_not_twinned(pair) -> None:
    """The transport refuses a stranger's request signature first (401); the pipeline itself,
    reached by a pull or a relay, refuses the envelope as not twinned."""
    _, padova, graz = pair
    before = stored(padova)
    body = canonical_bytes(_signed(graz, audience=[padova.city_id]))
    for sender in (graz.city_id, None):
        refusal = _refused(padova, body, sender=sender)
        assert (refusal.status, refusal.code) == (403, "not_twinned")
    assert stored(padova) == before


def test_a_peer_not_yet_active_may_send_only_twinning_messages(pair) -> None:
    _, padova, graz = pair
    assert graz.request_twin({"url": padova.base_url})["state"] == "requested"
    graz.deliver()
    with session_scope(padova.runtime.sessions) as session:
        peer = session.get(Peer, graz.city_id)
        assert peer is not None and peer.state == "pending"
    before = stored(padova)
    summary = canonical_bytes(_signed(graz, audience=[padova.city_id]))
    expect(post(graz, padova, summary), 403, "not_twinned")
    assert stored(padova) == before


def _request_from(city_id: str, key: Any, to: Node, node: dict[str, Any], seq: int = 1) -> bytes:
    now_ms = _ms(to)
    env = make_envelope(
        "hrc.twinning.request",
        "hrc.twinning.request/1",
        city_id,
        "twinning",
        seq,
        now_ms,
        key.key_id,
        [to.city_id],
        {
            "node": node,
            "themes": None,
            "key_document": build_key_document(city_id, key, now_ms=now_ms, seq=1),
        },
    )
    return canonical_bytes(sign_envelope(env, city_id, key))


def _stranger_node(city_id: str, **over: Any) -> dict[str, Any]:
    node = {
        "city_id": city_id,
        "name": "Lyon",
        "country": "FR",
        "region": "europe-west",
        "role": "city",
        "base_url": "http://127.0.0.1:5105",
    }
    node.update(over)
    return node


def test_a_strangers_twinning_request_is_a_pending_city_whatever_it_declares(pair) -> None:
    _, padova, _ = pair
    key = generate_signing_key()
    body = _request_from("fr-lyon", key, padova, _stranger_node("fr-lyon", role="secretariat"))
    before = stored(padova)
    assert _ingest(padova, body, sender="fr-lyon") == 202
    with session_scope(padova.runtime.sessions) as session:
        peer = session.get(Peer, "fr-lyon")
        assert peer is not None
        assert (peer.state, peer.role) == ("pending", "city")
        assert (peer.name, peer.base_url) == ("Lyon", "http://127.0.0.1:5105")
        assert (peer.country, peer.region) == ("FR", "europe-west")
        assert (peer.failures, peer.pulled_seq, peer.unavailable) == (0, 0, False)
        assert peer.requested_at == padova.clock()
        assert [(k.key_id, k.state, k.source) for k in peer.keys] == [
            (key.key_id, "current", "pinned")
        ]
    assert stored(padova) == before + 1


def test_a_twinning_request_for_another_city_is_refused(pair) -> None:
    _, padova, _ = pair
    key = generate_signing_key()
    peers = _count(padova, Peer)
    before = stored(padova)
    body = _request_from("fr-lyon", key, padova, _stranger_node("nl-utrecht"))
    refusal = _refused(padova, body, sender="fr-lyon")
    assert (refusal.status, refusal.code) == (422, "invalid_payload")
    assert str(refusal) == "The request's node does not match its origin."
    broken = _request_from("fr-lyon", key, padova, {"city_id": "fr-lyon"})
    refusal = _refused(padova, broken, sender="fr-lyon")
    assert (refusal.status, refusal.code) == (422, "invalid_payload")
    assert _count(padova, Peer) == peers and stored(padova) == before


def test_a_strangers_request_through_the_transport_is_accepted(pair) -> None:
    _, padova, _ = pair
    key = generate_signing_key()
    body = stranger_twinning_request(
        "fr-lyon", "http://127.0.0.1:5105", key, "it-padova", _ms(padova)
    )
    assert signed_post(padova, "fr-lyon", key, body).status_code == 202
    assert _count(padova, Peer, Peer.city_id == "fr-lyon", Peer.state == "pending") == 1


def test_an_unknown_document_key_is_refused_and_its_fetch_queued(pair) -> None:
    gent, padova, _ = pair
    stranger = generate_signing_key()
    before = stored(padova)
    body = canonical_bytes(envelope(gent, padova, 100, key=stranger))
    expect(post(gent, padova, body), 401, "unknown_key")
    assert stored(padova) == before
    with session_scope(padova.runtime.sessions) as session:
        queued = session.get(KeyFetch, gent.city_id)
        assert queued is not None and queued.key_id == stranger.key_id


def test_an_accepted_envelope_is_stored_verbatim_with_how_it_came(pair) -> None:
    gent, padova, _ = pair
    env = envelope(gent, padova, 100)
    body = canonical_bytes(env)
    response = post(gent, padova, body)
    assert (response.status_code, response.get_json()) == (202, {"status": "accepted"})
    with session_scope(padova.runtime.sessions) as session:
        row = session.scalar(
            select(inbox.InEnvelope)
            .where(inbox.InEnvelope.origin == gent.city_id)
            .where(inbox.InEnvelope.stream == "summaries")
        )
        assert row is not None
        assert (row.origin, row.stream, row.seq, row.type) == (
            "be-gent",
            "summaries",
            100,
            "hrc.summary",
        )
        assert (row.key_id, row.created_ts) == (gent.key.key_id, env["created_ts"])
        assert row.sha256 == envelope_sha256(env)
        assert row.raw == body.decode("utf-8")
        assert (row.received_at, row.via) == (padova.clock(), "push")


def test_a_stored_envelope_still_verifies_until_it_is_changed(pair) -> None:
    gent, padova, _ = pair
    env = envelope(gent, padova, 100)
    body = canonical_bytes(env)
    assert post(gent, padova, body).status_code == 202
    tampered = dict(env, seq=101)
    with session_scope(padova.runtime.sessions) as session:
        assert inbox.still_verifies(session, body.decode()) is True
        assert inbox.still_verifies(session, canonical_bytes(tampered).decode()) is False
        assert inbox.still_verifies(session, "{") is False
        assert inbox.still_verifies(session, '{"v":1}') is False
        # signed by a key Padova never pinned for Gent
        other = envelope(gent, padova, 102, key=generate_signing_key())
        assert inbox.still_verifies(session, canonical_bytes(other).decode()) is False


def test_the_secretariat_takes_a_members_network_copy_and_a_city_does_not(network) -> None:
    """Step 8: "network" in the audience counts only on the secretariat (the copy a member
    sends for the benchmarks); a city must find its own id."""
    secretariat, gent = network(SECRETARIAT, "be-gent")
    join(secretariat, [gent])
    before = stored(secretariat)
    copy = canonical_bytes(_signed(gent, seq=100, audience=["network"]))
    assert post(gent, secretariat, copy).status_code == 202
    assert stored(secretariat) == before + 1
    elsewhere = canonical_bytes(_signed(gent, seq=101, audience=["it-padova"]))
    expect(post(gent, secretariat, elsewhere), 403, "not_addressed")
    assert stored(secretariat) == before + 1


# --- payloads loaded with their route's schema (no node needed) ------------------------------


def test_a_payload_is_loaded_with_its_schema() -> None:
    key = b64encode_unpadded(generate_signing_key().public_raw)
    loaded = inbox.load_payload(
        DirectoryKeySchema(), {"key_id": "ed25519:a1b2c3d4", "key": key}, "x"
    )
    assert loaded == {
        "key_id": "ed25519:a1b2c3d4",
        "key": key,
        "state": "current",
        "expired_ts": None,
    }


def test_a_payload_listing_a_weak_key_is_refused_with_its_own_code() -> None:
    weak = b64encode_unpadded(bytes(32))  # all zero: a key of small order
    with pytest.raises(inbox.InboxRefusal) as refused:
        inbox.load_payload(
            DirectoryKeySchema(), {"key_id": "ed25519:a1b2c3d4", "key": weak}, "directory"
        )
    assert (refused.value.status, refused.value.code) == (422, "weak_public_key")
    assert str(refused.value).startswith("The directory lists a weak key: ")


def _choice(size: int) -> Schema:
    """A schema whose refusal quotes a choice of ``size`` characters."""
    pick = fields.String(required=True, validate=validate.OneOf(["x" * size]))
    return Schema.from_dict({"pick": pick})()


@pytest.mark.parametrize("size", [200, 268, 269, 270, 400])
def test_a_malformed_payload_is_invalid_and_its_words_are_cut_at_300(size: int) -> None:
    """The validation messages may quote what was sent: at most 300 characters of them."""
    schema = _choice(size)
    messages = schema.validate({"pick": "y"})
    assert messages  # marshmallow's own words, as a sender would read them
    with pytest.raises(inbox.InboxRefusal) as refused:
        inbox.load_payload(schema, {"pick": "y"}, "directory")
    assert (refused.value.status, refused.value.code) == (422, "invalid_payload")
    assert str(refused.value) == "Malformed directory: " + str(messages)[:300]


def test_an_equivocation_records_both_digests_with_seq_and_stream(pair) -> None:
    gent, padova, _ = pair
    first = envelope(gent, padova, 100)
    assert post(gent, padova, canonical_bytes(first)).status_code == 202
    other = envelope(gent, padova, 100, payload=summary_payload(gent, revision=2))
    expect(post(gent, padova, canonical_bytes(other)), 409, "equivocation")
    with session_scope(padova.runtime.sessions) as session:
        incidents = [
            (i.origin, i.kind, i.detail, i.at) for i in session.scalars(select(FederationIncident))
        ]
    assert incidents == [
        (
            "be-gent",
            "equivocation",
            {
                "seq": 100,
                "stream": "summaries",
                "stored": envelope_sha256(first),
                "received": envelope_sha256(other),
            },
            padova.clock(),
        )
    ]


@pytest.mark.parametrize("state", ["declined", "ended"])
def test_a_former_peer_may_ask_again_and_its_old_keys_are_dropped(pair, state: str) -> None:
    """§7.2 step 9a: a request from a peer in state declined or ended is a new first contact:
    the peer is reset to the request's word and only the new document's keys are pinned."""
    _, padova, _ = pair
    old_key, new_key = generate_signing_key(), generate_signing_key()
    first = _request_from("fr-lyon", old_key, padova, _stranger_node("fr-lyon"))
    assert _ingest(padova, first, sender="fr-lyon") == 202
    with session_scope(padova.runtime.sessions) as session:
        peer = session.get(Peer, "fr-lyon")
        assert peer is not None
        peer.state = state  # an official declined it, or the twinning ended
    padova.clock.advance(minutes=1)
    lyon_again = _stranger_node("fr-lyon", name="Lyon again")
    again = _request_from("fr-lyon", new_key, padova, lyon_again, seq=2)
    assert _ingest(padova, again, sender="fr-lyon") == 202
    with session_scope(padova.runtime.sessions) as session:
        peer = session.get(Peer, "fr-lyon")
        assert peer is not None and (peer.state, peer.name) == ("pending", "Lyon again")
        assert [k.key_id for k in peer.keys] == [new_key.key_id]


def test_a_pending_peer_asking_again_is_not_a_new_first_contact(pair) -> None:
    """Only declined or ended peers start over; a pending one keeps the keys it pinned."""
    _, padova, _ = pair
    old_key, new_key = generate_signing_key(), generate_signing_key()
    assert (
        _ingest(
            padova,
            _request_from("fr-lyon", old_key, padova, _stranger_node("fr-lyon")),
            sender="fr-lyon",
        )
        == 202
    )
    again = _request_from("fr-lyon", new_key, padova, _stranger_node("fr-lyon"), seq=2)
    with pytest.raises(inbox.InboxRefusal) as refused:
        _ingest(padova, again, sender="fr-lyon")
    assert (refused.value.status, refused.value.code) == (401, "unknown_key")
    with session_scope(padova.runtime.sessions) as session:
        peer = session.get(Peer, "fr-lyon")
        assert peer is not None and [k.key_id for k in peer.keys] == [old_key.key_id]
