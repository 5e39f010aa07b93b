"""The inbox's checks (docs/protocol.md §7.2 and §9), each on its own, in milliseconds.

One real node database (the session template, copied per test: real SQLite, real tables, the
real key gate, keyring and trust code), no Flask app and no second node: the other cities are
signing keys made here, pinned in the database the way a twinning would leave them. Each test
calls :func:`node.network.inbox.ingest_envelope` the way the transports do (one unit of work,
rolled back on a refusal, then :func:`node.network.inbox.after_refusal`), so "nothing stored"
is checked in the database after that rollback.

Expected answers come from §7.2's table (status and ``code`` of each step, in order) and §9
(replay, equivocation, rollback and their incidents), not from the inbox's code:

* strict JSON (step 4): 400 ``invalid_json`` / ``invalid_utf8``, 422 for the other parser codes;
* shape and payload rules on the *whole* envelope, ``signatures`` and ``unsigned`` included
  (step 5); ``stream`` and ``type`` 1-40 characters;
* the sender is the origin, no relaying (step 6, 403 ``origin_mismatch``); the origin is not this
  node (7); this node is in ``audience``, ``"network"`` only counts for a secretariat's copy (8);
* twinning requests from strangers: embedded key document, pending cap, payload (9a); other
  senders: a known peer (9b), an active twin unless the type is ``hrc.twinning.*`` (9c);
  secretariat documents from the pinned secretariat only (9d);
* the key (10, queued for a fetch), the signatures (11), not dated beyond now + 300 000 ms (12);
* replay 200, equivocation 409, rollback 409 with their incidents (13, 14);
* the route: stream, type, envelope schema, payload (15, 16); then the handler and its listeners
  see what was verified, and the envelope is stored verbatim with the facts it came with (18).

The slow multi-node tests (tests/federation/test_inbox_*.py) stay: they run the same rules
through real transports. These exist so that every mutant of ``node/network/inbox.py`` gets a
verdict in minutes (``make mutate MODULE=node/network/inbox.py``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import secrets
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from marshmallow import Schema, fields, validate
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session, sessionmaker

from federation.canonical import canonical_bytes
from federation.envelope import (
    MAX_FUTURE_SKEW_MS,
    OldVerifyKey,
    build_key_document,
    envelope_sha256,
    make_envelope,
    sign_envelope,
)
from federation.keys import SigningKey, b64encode_unpadded, generate_signing_key
from node.config import NodeConfig, load_config
from node.db import make_engine
from node.errors import DomainError
from node.network import inbox
from node.network.handlers import handle_twinning
from node.network.keygate import KeyGate
from node.network.models import (
    DirectoryEntry,
    FederationIncident,
    InEnvelope,
    KeyChange,
    KeyFetch,
    Peer,
    PeerKey,
    SecretariatAnchor,
)
from node.network.registry import Inbound, InboundRegistry
from schemas.secretariat import DirectoryKeySchema
from schemas.twinning import TWINNING_TYPES, TwinningPayloadSchema

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)
MAX = 40  # stream and type: "at most 40 characters" (§7.2 step 5)

TWIN = "it-padova"  # an active twin
PENDING = "fr-lyon"  # a peer whose request waits for our answer
STRANGER = "at-graz"  # nobody to us
OTHER_TWIN = "es-madrid"  # a second active twin (the relaying third party)
SECRETARIAT = "hrc-secretariat"  # the secretariat this node pinned, an active twin too

NOTE, NOTE_SCHEMA, NOTE_STREAM = "hrc.test.note", "hrc.test.note/1", "notes"
LOOSE, LOOSE_FAMILY = "hrc.test.loose", "loose/"  # no payload schema; a family of streams
SHORT = "hrc.test.short"  # travels in the one-character stream "s"
LONG_TYPE = "hrc.test." + "l" * (MAX - 9)  # a registered type of exactly 40 characters
BENCHMARK = "hrc.benchmark"  # one of the documents only the pinned secretariat may send
KEYS = "hrc.test.keys"  # a payload listing a key (the directory's key schema)


class NoteSchema(Schema):
    """The test route's payload: one short text."""

    text = fields.String(required=True, validate=validate.Length(1, 10))


# --- the node -----------------------------------------------------------------------------------


@dataclass
class World:
    """This node (the template's city), its database, and the keys of the other cities."""

    sessions: sessionmaker[Session]
    config: NodeConfig
    registry: InboundRegistry
    keys: dict[str, SigningKey]
    handled: list[tuple[str, Inbound]] = field(default_factory=list)

    @property
    def city_id(self) -> str:
        city: str = self.config.city_id
        return city

    def counts(self) -> dict[str, int]:
        """How many rows each table the inbox may write holds."""
        with self.sessions() as session:
            return {
                model.__name__: session.scalar(select(func.count()).select_from(model)) or 0
                for model in (InEnvelope, Peer, PeerKey, KeyFetch, FederationIncident)
            }


def _record(world: list[tuple[str, Inbound]], name: str) -> Any:
    def handler(inbound: Inbound) -> None:
        world.append((name, inbound))
        if name == "handler":
            inbox.store(inbound.session, inbound.stored)

    return handler


def _registry(handled: list[tuple[str, Inbound]]) -> InboundRegistry:
    registry = InboundRegistry()
    registry.register(
        NOTE,
        stream=NOTE_STREAM,
        schema=NoteSchema(),
        envelope_schema=NOTE_SCHEMA,
        handler=_record(handled, "handler"),
    )
    registry.subscribe(NOTE, _record(handled, "listener 1"))
    registry.subscribe(NOTE, _record(handled, "listener 2"))
    for type_, stream in ((LOOSE, LOOSE_FAMILY), (SHORT, "s"), (LONG_TYPE, NOTE_STREAM)):
        registry.register(type_, stream=stream, schema=None, handler=_record(handled, "handler"))
    registry.register(
        KEYS, stream="keys", schema=DirectoryKeySchema(), handler=_record(handled, "handler")
    )
    registry.register(
        BENCHMARK, stream="benchmarks", schema=None, handler=_record(handled, "handler")
    )
    for type_ in TWINNING_TYPES:  # the real twinning handler (it moves the peer's state)
        registry.register(
            type_, stream="twinning", schema=TwinningPayloadSchema(), handler=handle_twinning
        )
    registry.freeze()
    return registry


def _peer(session: Session, city_id: str, state: str, key: SigningKey | None) -> Peer:
    peer = Peer(
        city_id=city_id,
        name=city_id,
        base_url="https://example.org",
        state=state,
        requested_at=NOW,
        failures=0,
        pulled_seq=0,
        unavailable=False,
        role="city",
    )
    session.add(peer)
    session.flush()
    if key is not None:
        session.add(
            PeerKey(
                city_id=city_id,
                key_id=key.key_id,
                public_b64=b64encode_unpadded(key.public_raw),
                state="current",
                source="pinned",
                first_seen=NOW,
            )
        )
    session.flush()
    return peer


@pytest.fixture(scope="module")
def city_keys() -> dict[str, SigningKey]:
    """One key per other city (Ed25519 key generation is cheap, but not free)."""
    names = (TWIN, PENDING, STRANGER, OTHER_TWIN, SECRETARIAT, "other", "declined", "ended")
    return {name: generate_signing_key() for name in names}


@pytest.fixture
def world(tmp_path: Path, template_node: Path, city_keys: dict[str, SigningKey]) -> Iterator[World]:
    """A fresh copy of the template node's database with the other cities pinned."""
    for name in ("node.db", "node.db-wal", "node.db-shm"):
        if (template_node / name).exists():
            shutil.copyfile(template_node / name, tmp_path / name)
    base = load_config(template_node)
    config = NodeConfig(tmp_path, {**base.values, "max_pending_twinning_requests": 3})
    engine = make_engine(f"sqlite:///{tmp_path / 'node.db'}")
    sessions = sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)
    handled: list[tuple[str, Inbound]] = []
    with sessions.begin() as session:
        for city, state in ((TWIN, "active"), (PENDING, "pending"), (OTHER_TWIN, "active")):
            _peer(session, city, state, city_keys[city])
        _peer(session, SECRETARIAT, "active", city_keys[SECRETARIAT])
        session.add(
            SecretariatAnchor(
                slot=1,
                city_id=SECRETARIAT,
                base_url="https://example.org",
                key_id=city_keys[SECRETARIAT].key_id,
                public_b64=b64encode_unpadded(city_keys[SECRETARIAT].public_raw),
                state="pinned",
                how="operator",
                by="CLI",
                applied_at=NOW,
                pinned_at=NOW,
            )
        )
    yield World(sessions, config, _registry(handled), city_keys, handled)
    engine.dispose()


# --- envelopes and the transport's unit of work -------------------------------------------------


def _envelope(
    world: World,
    origin: str = TWIN,
    *,
    type_: str = NOTE,
    schema: str = NOTE_SCHEMA,
    stream: str = NOTE_STREAM,
    seq: int = 1,
    created_ms: int = NOW_MS,
    audience: list[str] | None = None,
    payload: Any = None,
    key: SigningKey | None = None,
) -> dict[str, Any]:
    key = key or world.keys[origin]
    env = make_envelope(
        type_,
        schema,
        origin,
        stream,
        seq,
        created_ms,
        key.key_id,
        audience if audience is not None else [world.city_id],
        payload if payload is not None else {"text": "hello"},
    )
    return sign_envelope(env, origin, key)


def _raw(envelope: dict[str, Any]) -> bytes:
    return canonical_bytes(envelope)


def _hostile(envelope: dict[str, Any]) -> bytes:
    """Bytes a hostile sender may write: JSON that breaks the payload rules."""
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode()


def _ingest(
    world: World,
    raw: bytes,
    *,
    sender: str | None = TWIN,
    via: str = "push",
    config: NodeConfig | None = None,
    keys: KeyGate | None = None,
    http: Callable[[], requests.Session] | None = None,
) -> int | inbox.InboxRefusal:
    """One envelope through the pipeline as the transports run it: a unit of work committed
    on success; on a refusal rolled back, then ``after_refusal`` (incidents, key fetches)."""
    session = world.sessions()
    try:
        status = inbox.ingest_envelope(
            session,
            config or world.config,
            raw,
            registry=world.registry,
            now=NOW,
            via=via,
            sender=sender,
            keys=keys,
            http=http,
        )
        session.commit()
        return status
    except inbox.InboxRefusal as refusal:
        session.rollback()
        inbox.after_refusal(world.sessions, refusal, keys)
        return refusal
    except DomainError as error:  # a handler's refusal (e.g. 409 invalid_transition)
        session.rollback()
        return error  # type: ignore[return-value]
    finally:
        session.close()


def _refused(world: World, raw: bytes, status: int, code: str, **kw: Any) -> inbox.InboxRefusal:
    """Refused with ``status`` and ``code``, and nothing written (incidents aside, §9.4)."""
    before = world.counts()
    refusal = _ingest(world, raw, **kw)
    assert isinstance(refusal, inbox.InboxRefusal), refusal
    assert (refusal.status, refusal.code) == (status, code), (
        refusal.status,
        refusal.code,
        str(refusal),
    )
    after = world.counts()
    if code in ("equivocation", "rollback"):
        after["FederationIncident"] -= 1  # §9.4: the incident outlives the refusal
    if code == "unknown_key" and kw.get("keys") is not None:
        after["KeyFetch"] -= 1  # §7.2 step 10: the fetch is queued after the refusal
    assert after == before
    return refusal


def _accepted(world: World, raw: bytes, **kw: Any) -> None:
    before = world.counts()["InEnvelope"]
    assert _ingest(world, raw, **kw) == 202
    assert world.counts()["InEnvelope"] == before + 1


# --- step 4: strict JSON --------------------------------------------------------------------------


def test_a_body_that_is_not_json_text_is_400(world: World) -> None:
    refusal = _refused(world, b'{"v":1,', 400, "invalid_json")
    assert str(refusal).startswith("The envelope is not acceptable JSON: ")
    assert len(str(refusal)) > len("The envelope is not acceptable JSON: ")
    refusal = _refused(world, b'{"v":"\xff"}', 400, "invalid_utf8")
    assert str(refusal).startswith("The envelope is not acceptable JSON: ")


def test_parse_gives_the_envelope_or_the_parsers_refusal(world: World) -> None:
    """``parse``, the public face of steps 4-5: the envelope, or the refusal with its code."""
    env = _envelope(world)
    assert inbox.parse(_raw(env)) == env
    with pytest.raises(inbox.InboxRefusal) as refused:
        inbox.parse(b'{"v":1,')
    assert (refused.value.status, refused.value.code) == (400, "invalid_json")


def test_other_strict_json_refusals_are_422_with_the_parsers_code(world: World) -> None:
    text = _raw(_envelope(world)).decode()
    doubled = text.replace('"seq":1', '"seq":1,"seq":2', 1).encode()
    refusal = _refused(world, doubled, 422, "duplicate_key")
    assert str(refusal).startswith("The envelope is not acceptable JSON: ")
    _refused(world, text.replace('"seq":1', '"seq":NaN', 1).encode(), 422, "non_finite_number")
    deep = ("[" * 70 + "]" * 70).encode()
    _refused(world, deep, 422, "nesting_too_deep")


# --- step 5: shape, payload rules on the whole envelope, lengths ---------------------------------


def test_a_malformed_envelope_is_422_with_the_shapes_code(world: World) -> None:
    without_seq = _envelope(world)
    del without_seq["seq"]
    refusal = _refused(world, _raw(without_seq), 422, "missing_field")
    assert str(refusal) == "The envelope is malformed: missing member 'seq'"
    _refused(world, _raw({**_envelope(world), "v": 2}), 422, "unsupported_version")
    _refused(world, b"[1, 2]", 422, "invalid_envelope")


def test_the_payload_rules_apply_to_the_signed_part(world: World) -> None:
    text = _raw(_envelope(world)).decode()
    floated = text.replace('"text":"hello"', '"text":"hello","n":1.5', 1).encode()
    refusal = _refused(world, floated, 422, "float_not_allowed")
    assert str(refusal).startswith("The envelope is malformed: ")
    too_big = text.replace('"text":"hello"', f'"text":"hello","n":{2**53}', 1).encode()
    refusal = _refused(world, too_big, 422, "integer_out_of_range")
    assert str(refusal).startswith("The envelope is malformed: ")


def test_the_payload_rules_apply_to_the_unsigned_part_too(world: World) -> None:
    """§7.2 step 5: the rules apply to the whole envelope, ``signatures`` and ``unsigned``
    included, although the signature does not cover them."""
    env = _envelope(world)
    for unsigned, code in (
        ({"note": 0.5}, "float_not_allowed"),
        ({"n": 2**53}, "integer_out_of_range"),
        ({"text": "a\u0000b"}, "invalid_string"),
    ):
        refusal = _refused(world, _hostile({**env, "unsigned": unsigned}), 422, code)
        assert str(refusal).startswith("The envelope breaks the payload rules: ")
        assert len(str(refusal)) > len("The envelope breaks the payload rules: ")
    # ... and a signature value with a NUL in it
    signatures = {TWIN: {world.keys[TWIN].key_id: "a\u0000b"}}
    refusal = _refused(world, _hostile({**env, "signatures": signatures}), 422, "invalid_string")
    assert str(refusal).startswith("The envelope breaks the payload rules: ")
    # A well-formed unsigned part is not signed, so it may be added: accepted.
    _accepted(world, _raw({**env, "unsigned": {"note": "relayed by hand"}}))


@pytest.mark.parametrize("length", [1, MAX - 1, MAX])
def test_a_stream_of_1_to_40_characters_is_accepted(world: World, length: int) -> None:
    if length == 1:
        env = _envelope(world, type_=SHORT, stream="s")
    else:
        env = _envelope(
            world, type_=LOOSE, stream=LOOSE_FAMILY + "x" * (length - len(LOOSE_FAMILY))
        )
    assert len(env["stream"]) == length
    _accepted(world, _raw(env))


def test_a_stream_of_41_characters_is_refused(world: World) -> None:
    env = _envelope(world, type_=LOOSE, stream=LOOSE_FAMILY + "x" * (MAX + 1 - len(LOOSE_FAMILY)))
    refusal = _refused(world, _raw(env), 422, "invalid_field")
    assert str(refusal) == "stream and type are 1-40 characters."


def test_a_type_of_40_characters_is_accepted_and_41_refused(world: World) -> None:
    assert len(LONG_TYPE) == MAX
    _accepted(world, _raw(_envelope(world, type_=LONG_TYPE, seq=1)))
    refusal = _refused(
        world, _raw(_envelope(world, type_=LONG_TYPE + "l", seq=2)), 422, "invalid_field"
    )
    assert str(refusal) == "stream and type are 1-40 characters."


def test_an_empty_stream_is_refused(world: World) -> None:
    env = _envelope(world)
    env["stream"] = ""  # unsigned-by-hand: the shape check answers before any signature
    _refused(world, _raw(env), 422, "invalid_field")


# --- steps 6-8: who delivers, whose envelope, to whom ---------------------------------------------


def test_a_twin_cannot_relay_another_twins_envelope(world: World) -> None:
    """§7.2 step 6: Madrid's envelope, valid and addressed to us, delivered by Padova."""
    raw = _raw(_envelope(world, OTHER_TWIN))
    refusal = _refused(world, raw, 403, "origin_mismatch", sender=TWIN)
    assert str(refusal) == f"{TWIN} cannot deliver {OTHER_TWIN}'s envelopes."
    _accepted(world, raw, sender=OTHER_TWIN)


def test_without_a_sender_the_origin_is_not_compared(world: World) -> None:
    _accepted(world, _raw(_envelope(world, OTHER_TWIN)), sender=None, via="pull")


def test_an_envelope_claiming_this_node_as_its_origin_is_refused(world: World) -> None:
    own = _raw(_envelope(world, world.city_id, key=world.keys["other"]))
    for sender in (world.city_id, None):
        refusal = _refused(world, own, 403, "own_envelope", sender=sender)
        assert str(refusal) == "That envelope claims to come from this node."


def test_this_node_must_be_in_the_audience(world: World) -> None:
    for seq, audience in ((1, [OTHER_TWIN]), (2, ["network"]), (3, [])):
        raw = _raw(_envelope(world, seq=seq, audience=audience))
        refusal = _refused(world, raw, 403, "not_addressed")
        assert str(refusal) == "The envelope is not addressed to this node."
    _accepted(world, _raw(_envelope(world, seq=4, audience=[OTHER_TWIN, world.city_id])))


def test_a_secretariat_takes_the_network_audience_as_its_own(world: World) -> None:
    secretariat = NodeConfig(world.config.data_dir, {**world.config.values, "role": "secretariat"})
    network_copy = _raw(_envelope(world, seq=1, audience=["network"]))
    _accepted(world, network_copy, config=secretariat)
    # not another audience, though
    elsewhere = _raw(_envelope(world, seq=2, audience=[OTHER_TWIN]))
    _refused(world, elsewhere, 403, "not_addressed", config=secretariat)


# --- step 9: who may send at all --------------------------------------------------------------


def test_an_origin_that_is_no_peer_is_not_twinned(world: World) -> None:
    refusal = _refused(world, _raw(_envelope(world, STRANGER)), 403, "not_twinned", sender=STRANGER)
    assert str(refusal) == f"{STRANGER} is not twinned with this node."


@pytest.mark.parametrize("state", ["pending", "requested", "declined", "ended", "new"])
def test_a_peer_that_is_not_an_active_twin_sends_twinning_messages_only(
    world: World, state: str
) -> None:
    with world.sessions.begin() as session:
        session.get(Peer, PENDING).state = state  # type: ignore[union-attr]
    refusal = _refused(world, _raw(_envelope(world, PENDING)), 403, "not_twinned", sender=PENDING)
    assert str(refusal) == f"{PENDING} is not an active twin ({state})."


def test_a_pending_peer_may_send_a_twinning_answer(world: World) -> None:
    """9c: a type starting with ``hrc.twinning.`` passes; its handler judges the transition."""
    accept = _envelope(
        world,
        PENDING,
        type_="hrc.twinning.accept",
        schema="hrc.twinning.accept/1",
        stream="twinning",
        payload=_twinning_payload(PENDING, world.keys[PENDING], with_key_document=False),
    )
    _accepted(world, _raw(accept), sender=PENDING)
    with world.sessions() as session:
        assert session.get(Peer, PENDING).state == "active"  # type: ignore[union-attr]


def test_secretariat_documents_come_from_the_pinned_secretariat_only(world: World) -> None:
    """9d: refused before any key lookup, so nothing is even noted for a fetch."""
    unknown = generate_signing_key()
    for key in (world.keys[OTHER_TWIN], unknown):
        env = _envelope(world, OTHER_TWIN, type_=BENCHMARK, stream="benchmarks", key=key)
        gate = KeyGate(world.sessions(), NOW)
        refusal = _refused(world, _raw(env), 403, "not_secretariat", sender=OTHER_TWIN, keys=gate)
        assert str(refusal) == f"{OTHER_TWIN} is not this node's secretariat."
        assert gate.missing == []
    from_secretariat = _envelope(world, SECRETARIAT, type_=BENCHMARK, stream="benchmarks")
    _accepted(world, _raw(from_secretariat), sender=SECRETARIAT)


# --- step 9a: twinning requests from strangers -------------------------------------------------


def _twinning_payload(
    city_id: str,
    key: SigningKey,
    *,
    with_key_document: bool = True,
    role: str = "city",
    **node: Any,
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "node": {
            "city_id": city_id,
            "name": f"City of {city_id}",
            "country": "AT",
            "region": "europe-central",
            "role": role,
            "base_url": f"https://{city_id}.example.org",
            **node,
        },
        "themes": None,
    }
    if with_key_document:
        payload["key_document"] = build_key_document(city_id, key, now_ms=NOW_MS, seq=1)
    return payload


def _request(
    world: World, origin: str = STRANGER, *, key: SigningKey | None = None, **kw: Any
) -> bytes:
    key = key or world.keys[origin]
    payload = kw.pop("payload", None) or _twinning_payload(origin, key)
    env = _envelope(
        world,
        origin,
        type_="hrc.twinning.request",
        schema="hrc.twinning.request/1",
        stream="twinning",
        payload=payload,
        key=key,
        **kw,
    )
    return _raw(env)


def test_a_strangers_twinning_request_records_a_pending_city(world: World) -> None:
    _accepted(
        world,
        _request(
            world, payload=_twinning_payload(STRANGER, world.keys[STRANGER], role="secretariat")
        ),
        sender=STRANGER,
    )
    with world.sessions() as session:
        peer = session.get(Peer, STRANGER)
        assert peer is not None
        facts = (peer.state, peer.name, peer.base_url, peer.country, peer.region, peer.role)
        assert facts == (
            "pending",
            f"City of {STRANGER}",
            f"https://{STRANGER}.example.org",
            "AT",
            "europe-central",
            "city",
        )
        assert (peer.requested_at, peer.failures, peer.pulled_seq, peer.unavailable) == (
            NOW,
            0,
            0,
            False,
        )
        pinned = [(k.key_id, k.public_b64, k.state, k.source) for k in peer.keys]
        key = world.keys[STRANGER]
        assert pinned == [(key.key_id, b64encode_unpadded(key.public_raw), "current", "pinned")]


def test_the_pinned_secretariats_request_keeps_its_role(world: World) -> None:
    """The one requester that is a secretariat is the one this node pinned (its key unchanged,
    after it ended the twinning and asks again)."""
    with world.sessions.begin() as session:
        session.get(Peer, SECRETARIAT).state = "ended"  # type: ignore[union-attr]
    _accepted(world, _request(world, SECRETARIAT), sender=SECRETARIAT)
    with world.sessions() as session:
        peer = session.get(Peer, SECRETARIAT)
        assert peer is not None
        assert (peer.state, peer.role) == ("pending", "secretariat")
        assert session.get(SecretariatAnchor, 1) is not None  # same key: the anchor stays


@pytest.mark.parametrize("state", ["declined", "ended"])
def test_a_new_request_after_a_decline_or_an_end_re_pins_from_scratch(
    world: World, state: str
) -> None:
    old, new = world.keys[state], world.keys[STRANGER]
    with world.sessions.begin() as session:
        _peer(session, "pt-porto", state, old)
    before = world.counts()
    _accepted(world, _request(world, "pt-porto", key=new), sender="pt-porto")
    with world.sessions() as session:
        peer = session.get(Peer, "pt-porto")
        assert peer is not None
        assert peer.state == "pending"
        assert peer.name == "City of pt-porto"
        assert [(k.key_id, k.state, k.source) for k in peer.keys] == [
            (new.key_id, "current", "pinned")
        ]
    assert world.counts()["Peer"] == before["Peer"]  # the same row, reset


@pytest.mark.parametrize("state", ["active", "pending"])
def test_a_request_from_a_twin_or_a_waiting_peer_is_not_re_pinned(world: World, state: str) -> None:
    """Only unknown, declined and ended peers are (re)recorded; an active twin's request is
    the handler's to judge (409 invalid_transition), a pending one's is a repeat."""
    city = TWIN if state == "active" else PENDING
    other = world.keys["other"]
    raw = _request(world, city, key=world.keys[city], payload=_twinning_payload(city, other))
    status = _ingest(world, raw, sender=city)
    with world.sessions() as session:
        peer = session.get(Peer, city)
        assert peer is not None
        assert [k.key_id for k in peer.keys] == [world.keys[city].key_id]  # not the embedded key
        assert peer.name == city
    if state == "active":
        assert isinstance(status, DomainError) and status.code == "invalid_transition"
    else:
        assert status == 202


def test_the_secretariat_asking_again_with_another_key_loses_its_trust(world: World) -> None:
    """§8.4.1: whoever sends that request may not be the secretariat at all; the anchor is
    dropped, the requester is recorded as a city, and the key changes the former secretariat
    announced are superseded, now."""
    with world.sessions.begin() as session:
        session.get(Peer, SECRETARIAT).state = "declined"  # type: ignore[union-attr]
        session.add(
            KeyChange(
                city_id=OTHER_TWIN,
                old_keys=[],
                new_keys=[],
                new_key_ids="ed25519:a1b2c3d4",
                directory_origin=SECRETARIAT,
                directory_seq=1,
                state="pending",
                recorded_at=NOW,
            )
        )
    _accepted(world, _request(world, SECRETARIAT, key=world.keys["other"]), sender=SECRETARIAT)
    with world.sessions() as session:
        peer = session.get(Peer, SECRETARIAT)
        assert peer is not None
        assert (peer.state, peer.role) == ("pending", "city")
        assert session.get(SecretariatAnchor, 1) is None
        change = session.scalars(select(KeyChange)).one()
        assert (change.state, change.decided_at, change.decided_by) == (
            "superseded",
            NOW,
            "unpinned",
        )


def test_a_request_without_a_key_document_is_401(world: World) -> None:
    payload = _twinning_payload(STRANGER, world.keys[STRANGER], with_key_document=False)
    refusal = _refused(
        world, _request(world, payload=payload), 401, "invalid_key_document", sender=STRANGER
    )
    assert str(refusal).startswith("The twinning request's key document does not verify: ")


def test_a_key_document_of_another_city_is_401(world: World) -> None:
    payload = _twinning_payload(STRANGER, world.keys[STRANGER])
    payload["key_document"] = build_key_document(
        "pt-porto", world.keys[STRANGER], now_ms=NOW_MS, seq=1
    )
    refusal = _refused(
        world, _request(world, payload=payload), 401, "invalid_key_document", sender=STRANGER
    )
    assert str(refusal).startswith("The twinning request's key document does not verify: ")


def test_an_expired_key_document_is_401(world: World) -> None:
    """The document is checked at *now*: one that expired before now does not verify."""
    payload = _twinning_payload(STRANGER, world.keys[STRANGER])
    payload["key_document"] = build_key_document(
        STRANGER, world.keys[STRANGER], now_ms=NOW_MS - 10_000, valid_for_ms=5_000, seq=1
    )
    _refused(world, _request(world, payload=payload), 401, "invalid_key_document", sender=STRANGER)


def test_a_weak_key_in_the_key_document_is_422(world: World) -> None:
    identity = bytes([1]) + bytes(31)  # a small-order point: it "verifies" forged signatures
    payload = _twinning_payload(STRANGER, world.keys[STRANGER])
    payload["key_document"] = build_key_document(
        STRANGER,
        world.keys[STRANGER],
        [OldVerifyKey("ed25519:weak", identity, NOW_MS + 60_000)],
        now_ms=NOW_MS,
        seq=1,
    )
    refusal = _refused(
        world, _request(world, payload=payload), 422, "weak_public_key", sender=STRANGER
    )
    assert str(refusal).startswith("The twinning request's key document: ")


def test_a_malformed_request_payload_is_422(world: World) -> None:
    payload = _twinning_payload(STRANGER, world.keys[STRANGER], name="")
    refusal = _refused(
        world, _request(world, payload=payload), 422, "invalid_payload", sender=STRANGER
    )
    assert str(refusal).startswith("Twinning request: {")
    assert "node" in str(refusal)


def test_a_request_about_another_city_is_422(world: World) -> None:
    payload = _twinning_payload(STRANGER, world.keys[STRANGER])
    payload["node"]["city_id"] = "pt-porto"
    refusal = _refused(
        world, _request(world, payload=payload), 422, "invalid_payload", sender=STRANGER
    )
    assert str(refusal) == "The request's node does not match its origin."


def test_a_key_the_directory_does_not_list_is_refused_at_first_contact(world: World) -> None:
    listed = generate_signing_key()
    with world.sessions.begin() as session:
        session.add(
            DirectoryEntry(
                city_id=STRANGER,
                name=STRANGER,
                region=None,
                country=None,
                base_url="https://example.org",
                state="active",
                keys=[{"key_id": listed.key_id, "key": b64encode_unpadded(listed.public_raw)}],
                directory_seq=1,
                updated_at=NOW,
            )
        )
    refusal = _refused(world, _request(world), 401, "key_not_in_directory", sender=STRANGER)
    key_id = world.keys[STRANGER].key_id
    assert str(refusal) == f"{STRANGER}'s key {key_id} is not the one the network directory lists."


def _pending(world: World, how_many: int, *, state: str = "pending") -> None:
    with world.sessions.begin() as session:
        for number in range(how_many):
            _peer(session, f"xx-{state}{number}", state, None)


@pytest.mark.parametrize(("waiting", "accepted"), [(1, True), (2, False), (3, False)])
def test_the_pending_cap_at_cap_minus_one_cap_and_cap_plus_one(
    world: World, waiting: int, accepted: bool
) -> None:
    """Cap 3; Lyon is pending already, so ``waiting`` more make 2, 3 and 4 waiting."""
    _pending(world, waiting)
    if accepted:
        _accepted(world, _request(world), sender=STRANGER)
        return
    refusal = _refused(world, _request(world), 429, "too_many_requests", sender=STRANGER)
    assert (
        str(refusal)
        == "Too many twinning requests are waiting for an answer here; try again later."
    )


def test_only_pending_peers_count_against_the_cap(world: World) -> None:
    for state in ("active", "requested", "declined", "ended", "new"):
        _pending(world, 2, state=state)
    _pending(world, 1)  # with Lyon: 2 pending, cap 3
    _accepted(world, _request(world), sender=STRANGER)


def test_a_cap_of_one_takes_a_first_request(world: World) -> None:
    with world.sessions.begin() as session:
        session.get(Peer, PENDING).state = "active"  # type: ignore[union-attr]
    one = NodeConfig(
        world.config.data_dir, {**world.config.values, "max_pending_twinning_requests": 1}
    )
    _accepted(world, _request(world), sender=STRANGER, config=one)
    refusal = _refused(
        world,
        _request(world, "pt-porto", key=world.keys["other"]),
        429,
        "too_many_requests",
        sender="pt-porto",
        config=one,
    )
    assert refusal.status == 429


def test_the_cap_does_not_apply_to_twins(world: World) -> None:
    _pending(world, 5)
    _accepted(world, _raw(_envelope(world)))


# --- steps 10-12: key, signature, date -----------------------------------------------------------


def test_an_unknown_key_is_401_and_noted_for_a_fetch(world: World) -> None:
    unknown = generate_signing_key()
    session = world.sessions()
    gate = KeyGate(session, NOW)
    refusal = _refused(world, _raw(_envelope(world, key=unknown)), 401, "unknown_key", keys=gate)
    session.close()
    assert (
        str(refusal)
        == f"{TWIN}'s key {unknown.key_id} is unknown, revoked or expired for this document."
    )
    # the transport's gate noted it, and after_refusal queued it for the job
    assert gate.missing == []
    with world.sessions() as session:
        queued = [(f.origin, f.key_id) for f in session.scalars(select(KeyFetch))]
    assert queued == [(TWIN, unknown.key_id)]


def test_without_a_transport_gate_the_inbox_makes_its_own(world: World) -> None:
    """A pull job's call: no gate given, none to queue afterwards; the refusal still says why."""
    unknown = generate_signing_key()
    refusal = _refused(world, _raw(_envelope(world, key=unknown)), 401, "unknown_key")
    assert unknown.key_id in str(refusal)


class KeyServer(BaseAdapter):
    """A twin's ``GET /federation/v1/keys`` in place of its socket (no network in tests)."""

    def __init__(self, document: dict[str, Any]) -> None:
        super().__init__()
        self.body = canonical_bytes(document)
        self.asked: list[str] = []

    def send(self, request: requests.PreparedRequest, **_: Any) -> requests.Response:
        self.asked.append(request.url or "")
        response = requests.Response()
        response.status_code = 200
        response.headers = CaseInsensitiveDict({"Content-Type": "application/json"})
        response._content = self.body
        response._content_consumed = True
        response.url, response.request = request.url or "", request
        return response

    def close(self) -> None:
        pass


def _pull_serving_keys(world: World, raw: bytes, origin: str, server: KeyServer) -> int:
    """Ingest ``raw`` as a job's pull whose key fetches ``server`` answers (no socket)."""
    opened: list[requests.Session] = []

    def http() -> requests.Session:
        session = requests.Session()
        session.mount("https://", server)
        opened.append(session)
        return session

    try:
        return _ingest(world, raw, sender=origin, via="pull", http=http)
    finally:
        for session in opened:
            session.close()


def test_a_document_is_checked_with_the_key_valid_when_it_was_created(world: World) -> None:
    """§4.6: an old key verifies documents created before its expiry (exclusive), so a
    document signed before a rotation still arrives by a late pull; one created at the
    expiry is refused."""
    old = world.keys["other"]
    expiry = NOW_MS - 60_000
    with world.sessions.begin() as session:
        session.add(
            PeerKey(
                city_id=TWIN,
                key_id=old.key_id,
                public_b64=b64encode_unpadded(old.public_raw),
                state="old",
                source="pinned",
                first_seen=NOW,
                expired_ts=expiry,
            )
        )
    _accepted(world, _raw(_envelope(world, seq=1, key=old, created_ms=expiry - 1)))
    _refused(world, _raw(_envelope(world, seq=2, key=old, created_ms=expiry)), 401, "unknown_key")


def test_a_jobs_call_fetches_an_unknown_key_at_once(world: World) -> None:
    """§4.6 / §7.2 step 10: with ``http`` (a job: the pull), a twin's unknown key is fetched
    from its key document before the answer; the document rotated to it, so it verifies."""
    # A fresh origin each run: key fetches are limited per origin per minute, process-wide.
    origin = "pt-" + "".join(secrets.choice("abcdefghij") for _ in range(8))
    old, new = generate_signing_key(), generate_signing_key()
    with world.sessions.begin() as session:
        _peer(session, origin, "active", old)
    document = build_key_document(
        origin,
        new,
        [OldVerifyKey(old.key_id, old.public_raw, NOW_MS + 86_400_000)],
        now_ms=NOW_MS,
        seq=2,
        co_signing_key=old,
    )
    server = KeyServer(document)
    raw = _raw(_envelope(world, origin, key=new))
    assert _pull_serving_keys(world, raw, origin, server) == 202
    assert server.asked == ["https://example.org/federation/v1/keys"]
    with world.sessions() as session:
        assert session.scalars(select(InEnvelope.origin)).all() == [origin]
        assert session.scalars(select(KeyFetch)).all() == []  # fetched, nothing queued


def test_a_fetched_old_key_verifies_what_it_signed_before_its_expiry(world: World) -> None:
    """§4.6 through the gate: the twin signed with a key this node has never pinned, now an
    old key of its rotated document (still before its expiry); the pull fetches the document
    and the key verifies the envelope, dated before the expiry, as a pinned old key would."""
    origin = "pt-" + "".join(secrets.choice("abcdefghij") for _ in range(8))
    pinned, signer, current = generate_signing_key(), generate_signing_key(), generate_signing_key()
    with world.sessions.begin() as session:
        _peer(session, origin, "active", pinned)
    expiry = NOW_MS + 86_400_000
    document = build_key_document(
        origin,
        current,
        [
            OldVerifyKey(pinned.key_id, pinned.public_raw, expiry),
            OldVerifyKey(signer.key_id, signer.public_raw, expiry),
        ],
        now_ms=NOW_MS,
        seq=2,
        co_signing_key=pinned,
    )
    raw = _raw(_envelope(world, origin, key=signer, created_ms=NOW_MS - 1))
    assert _pull_serving_keys(world, raw, origin, KeyServer(document)) == 202
    with world.sessions() as session:
        assert session.scalars(select(InEnvelope.origin)).all() == [origin]
        states = dict(
            session.execute(
                select(PeerKey.key_id, PeerKey.state).where(PeerKey.city_id == origin)
            ).all()
        )
        assert states[signer.key_id] == "old"


def test_a_signature_that_does_not_verify_is_401(world: World) -> None:
    env = _envelope(world)
    forged = sign_envelope({**env, "signatures": {}, "seq": 2}, TWIN, world.keys["other"])
    # Padova's key id, another key's signature
    env["signatures"] = {
        TWIN: {world.keys[TWIN].key_id: forged["signatures"][TWIN][world.keys["other"].key_id]}
    }
    refusal = _refused(world, _raw(env), 401, "bad_signature")
    assert str(refusal) == f"The signature of {TWIN} does not verify."


def test_a_changed_document_does_not_verify(world: World) -> None:
    env = _envelope(world)
    env["payload"] = {"text": "changed"}
    _refused(world, _raw(env), 401, "bad_signature")


def test_an_envelope_signed_by_someone_else_only_is_401(world: World) -> None:
    env = _envelope(world)
    other = sign_envelope({**env, "signatures": {}}, OTHER_TWIN, world.keys[OTHER_TWIN])
    refusal = _refused(world, _raw(other), 401, "missing_signature")
    assert str(refusal) == f"The signature of {TWIN} does not verify."


def test_a_document_dated_up_to_five_minutes_ahead_is_accepted(world: World) -> None:
    _accepted(world, _raw(_envelope(world, seq=1, created_ms=NOW_MS + MAX_FUTURE_SKEW_MS)))
    refusal = _refused(
        world,
        _raw(_envelope(world, seq=2, created_ms=NOW_MS + MAX_FUTURE_SKEW_MS + 1)),
        422,
        "future_document",
    )
    assert "future" in str(refusal)
    assert not str(refusal).startswith("The envelope")


# --- steps 13-14: replay, equivocation, rollback -----------------------------------------------


def _incidents(world: World) -> list[tuple[str, str, dict[str, Any], datetime]]:
    with world.sessions() as session:
        return [
            (i.origin, i.kind, i.detail, i.at)
            for i in session.scalars(select(FederationIncident).order_by(FederationIncident.id))
        ]


def test_the_same_document_again_is_a_harmless_duplicate(world: World) -> None:
    raw = _raw(_envelope(world, seq=5))
    _accepted(world, raw)
    before = world.counts()
    handled = len(world.handled)
    assert _ingest(world, raw, via="pull", sender=None) == 200
    assert world.counts() == before
    assert len(world.handled) == handled  # the handler did not run again
    assert _incidents(world) == []


def test_seq_at_last_with_another_digest_is_equivocation(world: World) -> None:
    first = _envelope(world, seq=5)
    _accepted(world, _raw(first))
    second = _envelope(world, seq=5, payload={"text": "other"})
    refusal = _refused(world, _raw(second), 409, "equivocation")
    assert str(refusal) == f"{TWIN} sent two different documents with seq 5 in {NOTE_STREAM}."
    detail = {
        "seq": 5,
        "stream": NOTE_STREAM,
        "stored": envelope_sha256(first),
        "received": envelope_sha256(second),
    }
    assert _incidents(world) == [(TWIN, "equivocation", detail, NOW)]


def test_seq_at_last_minus_one_is_a_rollback(world: World) -> None:
    _accepted(world, _raw(_envelope(world, seq=5)))
    refusal = _refused(world, _raw(_envelope(world, seq=4)), 409, "rollback")
    assert str(refusal) == "seq 4 is lower than 5, already accepted."
    assert _incidents(world) == [
        (TWIN, "rollback", {"seq": 4, "stream": NOTE_STREAM, "last": 5}, NOW)
    ]


def test_a_rollbacks_last_is_the_highest_of_its_own_origin_and_stream(world: World) -> None:
    """§9.4: the incident records the highest seq *this* origin used in *this* stream, not a
    higher one of another twin in the same stream or of the same twin in another stream."""
    _accepted(world, _raw(_envelope(world, seq=5)))
    _accepted(world, _raw(_envelope(world, OTHER_TWIN, seq=9)), sender=OTHER_TWIN)
    _accepted(world, _raw(_envelope(world, seq=8, type_=LOOSE, stream="loose/a")))
    refusal = _refused(world, _raw(_envelope(world, seq=4)), 409, "rollback")
    assert str(refusal) == "seq 4 is lower than 5, already accepted."
    assert _incidents(world) == [
        (TWIN, "rollback", {"seq": 4, "stream": NOTE_STREAM, "last": 5}, NOW)
    ]


def test_seq_at_last_plus_one_and_a_gap_upwards_are_accepted(world: World) -> None:
    for seq in (5, 6, 9):
        _accepted(world, _raw(_envelope(world, seq=seq)))
    assert _incidents(world) == []


def test_seq_zero_is_a_sequence_like_any_other(world: World) -> None:
    _accepted(world, _raw(_envelope(world, seq=0)))
    assert _ingest(world, _raw(_envelope(world, seq=0))) == 200
    _refused(world, _raw(_envelope(world, seq=0, payload={"text": "other"})), 409, "equivocation")


def test_sequences_are_per_origin_and_stream(world: World) -> None:
    _accepted(world, _raw(_envelope(world, seq=5)))
    # a lower seq, then the same seq, from another origin in the same stream: its own sequence
    _accepted(world, _raw(_envelope(world, OTHER_TWIN, seq=3)), sender=OTHER_TWIN)
    _accepted(world, _raw(_envelope(world, OTHER_TWIN, seq=5)), sender=OTHER_TWIN)
    # a lower one in another stream (of both origins): that stream's own sequence
    _accepted(
        world,
        _raw(_envelope(world, OTHER_TWIN, seq=3, type_=LOOSE, stream="loose/a")),
        sender=OTHER_TWIN,
    )
    _accepted(world, _raw(_envelope(world, seq=4, type_=LOOSE, stream="loose/a")))
    _accepted(world, _raw(_envelope(world, seq=5, type_=LOOSE, stream="loose/a")))
    assert _incidents(world) == []


def test_an_incident_is_kept_although_the_envelope_is_not(world: World) -> None:
    """§9.4: written after the rollback, in its own unit of work; without one nothing is."""
    refusal = inbox.refuse(409, "rollback", "seq 1 is lower than 2, already accepted.")
    inbox.after_refusal(world.sessions, refusal)
    assert _incidents(world) == []
    refusal.incident = {"origin": TWIN, "kind": "rollback", "detail": {"seq": 1}, "at": NOW}
    inbox.after_refusal(world.sessions, refusal)
    assert _incidents(world) == [(TWIN, "rollback", {"seq": 1}, NOW)]


# --- steps 15-16: the route ---------------------------------------------------------------------


def test_a_type_in_the_wrong_stream_is_422(world: World) -> None:
    raw = _raw(_envelope(world, stream="elsewhere"))
    refusal = _refused(world, raw, 422, "wrong_stream")
    assert str(refusal) == f"{NOTE} travels in stream '{NOTE_STREAM}', not 'elsewhere'."


def test_a_family_route_takes_its_streams_only(world: World) -> None:
    refusal = _refused(
        world, _raw(_envelope(world, type_=LOOSE, stream="loose")), 422, "wrong_stream"
    )
    assert str(refusal) == f"{LOOSE} travels in stream '{LOOSE_FAMILY}', not 'loose'."
    _accepted(world, _raw(_envelope(world, type_=LOOSE, stream="loose/7")))


def test_an_unknown_type_is_422(world: World) -> None:
    refusal = _refused(world, _raw(_envelope(world, type_="hrc.test.nobody")), 422, "unknown_type")
    assert str(refusal) == "This node does not handle hrc.test.nobody."


def test_the_envelope_schema_must_be_the_routes(world: World) -> None:
    refusal = _refused(
        world, _raw(_envelope(world, schema="hrc.test.note/2")), 422, "unsupported_schema"
    )
    assert str(refusal) == f"Expected {NOTE_SCHEMA}."
    # a route without an envelope schema takes any
    _accepted(world, _raw(_envelope(world, type_=SHORT, stream="s", schema="anything/9")))


def test_a_payload_listing_a_weak_key_is_422_weak_public_key(world: World) -> None:
    weak = b64encode_unpadded(bytes(32))  # all zero: a point of small order
    payload = {"key_id": "ed25519:a1b2c3d4", "key": weak}
    raw = _raw(_envelope(world, type_=KEYS, stream="keys", payload=payload))
    refusal = _refused(world, raw, 422, "weak_public_key")
    assert str(refusal).startswith(f"The {KEYS} lists a weak key: {{'key': [")
    good = {**payload, "key": b64encode_unpadded(world.keys["other"].public_raw)}
    _accepted(world, _raw(_envelope(world, type_=KEYS, stream="keys", payload=good)))
    assert world.handled[-1][1].payload == {**good, "state": "current", "expired_ts": None}


def test_the_words_of_a_weak_key_refusal_are_cut_at_300_characters() -> None:
    """A payload may list many keys; the refusal quotes at most 300 characters of what the
    schema said (the sender's own words may be in it)."""
    weak = b64encode_unpadded(bytes(32))
    schema = Schema.from_dict({"keys": fields.List(fields.Nested(DirectoryKeySchema))})()
    payload = {"keys": [{"key_id": f"ed25519:{n:08x}", "key": weak} for n in range(12)]}
    messages = schema.validate(payload)
    assert len(str(messages)) > 301
    with pytest.raises(inbox.InboxRefusal) as refused:
        inbox.load_payload(schema, payload, "directory")
    assert (refused.value.status, refused.value.code) == (422, "weak_public_key")
    assert str(refused.value) == "The directory lists a weak key: " + str(messages)[:300]


def test_a_payload_its_schema_refuses_is_422(world: World) -> None:
    refusal = _refused(
        world, _raw(_envelope(world, payload={"text": "x" * 11})), 422, "invalid_payload"
    )
    assert str(refusal) == "Malformed " + NOTE + ": {'text': ['Length must be between 1 and 10.']}"


# --- step 18: what the handler sees, what is stored ---------------------------------------------


def test_the_handler_and_its_listeners_see_what_was_verified(world: World) -> None:
    env = _envelope(world, seq=7, payload={"text": "hello"})
    raw = _raw(env)
    _accepted(world, raw, via="pull", sender=TWIN)
    assert [name for name, _ in world.handled] == ["handler", "listener 1", "listener 2"]
    inbound = world.handled[0][1]
    assert all(other is inbound for _, other in world.handled)  # one object for all
    assert inbound.envelope == env
    assert inbound.payload == {"text": "hello"}
    assert inbound.peer.city_id == TWIN
    assert inbound.config is world.config
    assert inbound.now == NOW
    assert inbound.session is not None
    stored = inbound.stored
    assert (stored.origin, stored.stream, stored.seq, stored.type) == (TWIN, NOTE_STREAM, 7, NOTE)
    assert (stored.key_id, stored.created_ts) == (world.keys[TWIN].key_id, NOW_MS)
    assert (
        stored.sha256
        == envelope_sha256(env)
        == hashlib.sha256(
            canonical_bytes({k: v for k, v in env.items() if k != "signatures"})
        ).hexdigest()
    )
    assert (stored.raw, stored.received_at, stored.via) == (raw.decode(), NOW, "pull")


def test_a_route_without_a_schema_hands_the_payload_as_it_came(world: World) -> None:
    payload = {"anything": [1, "two", None], "deep": {"x": True}}
    _accepted(world, _raw(_envelope(world, type_=SHORT, stream="s", payload=payload)))
    assert world.handled[-1][1].payload == payload


def test_the_envelope_is_stored_verbatim(world: World) -> None:
    """§9.9: pushed bodies byte for byte, whitespace and member order included; the hash is
    still the canonical one (§5.3)."""
    env = _envelope(world, seq=3, payload={"text": "\U0001f600 é"})
    raw = json.dumps(env, indent=2, ensure_ascii=False).encode()
    _accepted(world, raw)
    with world.sessions() as session:
        row = session.scalars(select(InEnvelope)).one()
        assert row.raw == raw.decode("utf-8")
        assert row.sha256 == envelope_sha256(env)


def test_a_key_beyond_the_bmp_hashes_like_the_reference_form(world: World) -> None:
    """A member name beyond U+FFFF sorts differently in UTF-16 (RFC 8785): the digest is the
    reference serialisation's."""
    env = _envelope(world, type_=SHORT, stream="s", payload={"\U0001f600": 1, "\uff61": 2})
    _accepted(world, _raw(env))
    with world.sessions() as session:
        assert session.scalars(select(InEnvelope.sha256)).one() == envelope_sha256(env)


def test_still_verifies_with_the_keys_trusted_now(world: World) -> None:
    raw = _raw(_envelope(world)).decode()
    with world.sessions() as session:
        assert inbox.still_verifies(session, raw) is True
        key = session.scalars(select(PeerKey).where(PeerKey.city_id == TWIN)).one()
        key.state, key.revoked_ts = "revoked", NOW_MS - 1
        session.flush()
        assert inbox.still_verifies(session, raw) is False
        assert inbox.still_verifies(session, "{") is False


def test_the_config_is_the_one_given(world: World) -> None:
    """The node's own city id comes from the configuration passed in, not from elsewhere."""
    other = dataclasses.replace(world.config, values={**world.config.values, "city_id": OTHER_TWIN})
    _refused(world, _raw(_envelope(world)), 403, "not_addressed", config=other)


# --- issue 14: the peer and its keys read as plain values (keyring.peer_facts) -------------------


def _ingest_in(world: World, session: Session, raw: bytes) -> int | inbox.InboxRefusal:
    """``_ingest`` in a unit of work the caller already changed (and did not flush)."""
    try:
        return inbox.ingest_envelope(
            session, world.config, raw, registry=world.registry, now=NOW, via="push", sender=TWIN
        )
    except inbox.InboxRefusal as refusal:
        return refusal


def test_a_key_revoked_earlier_in_the_same_unit_of_work_verifies_nothing(world: World) -> None:
    """§4.6: a revoked key verifies nothing, from the moment it is revoked: a change not yet
    flushed in this unit of work counts (the peer's keys are read with a Core query, which
    sees only the database: what the session holds is flushed first)."""
    before = world.counts()
    with world.sessions() as session:
        key = session.get(PeerKey, (TWIN, world.keys[TWIN].key_id))
        assert key is not None
        key.state, key.revoked_ts = "revoked", NOW_MS - 1  # not flushed
        refusal = _ingest_in(world, session, _raw(_envelope(world)))
        assert isinstance(refusal, inbox.InboxRefusal)
        assert (refusal.status, refusal.code) == (401, "unknown_key")
        session.rollback()
    assert world.counts() == before


def test_a_twin_ended_earlier_in_the_same_unit_of_work_is_not_twinned(world: World) -> None:
    before = world.counts()
    with world.sessions() as session:
        peer = session.get(Peer, TWIN)
        assert peer is not None
        peer.state = "ended"  # not flushed
        refusal = _ingest_in(world, session, _raw(_envelope(world)))
        assert isinstance(refusal, inbox.InboxRefusal)
        assert (refusal.status, refusal.code) == (403, "not_twinned")
        session.rollback()
    assert world.counts() == before


def test_a_key_rotated_in_the_same_unit_of_work_verifies_at_once(world: World) -> None:
    """The other way round: the new key pinned (not flushed) verifies the next document, and
    the replaced one, now old with an expiry, still verifies what was made before it."""
    new = world.keys["other"]
    with world.sessions() as session:
        old = session.get(PeerKey, (TWIN, world.keys[TWIN].key_id))
        assert old is not None
        old.state, old.expired_ts = "old", NOW_MS
        session.add(
            PeerKey(
                city_id=TWIN,
                key_id=new.key_id,
                public_b64=b64encode_unpadded(new.public_raw),
                state="current",
                source="key_document",
                first_seen=NOW,
            )
        )
        assert _ingest_in(world, session, _raw(_envelope(world, seq=1, key=new))) == 202
        made_before = _envelope(world, seq=2, created_ms=NOW_MS - 1)
        assert _ingest_in(world, session, _raw(made_before)) == 202
        refusal = _ingest_in(world, session, _raw(_envelope(world, seq=3, created_ms=NOW_MS)))
        assert isinstance(refusal, inbox.InboxRefusal)
        assert (refusal.status, refusal.code) == (401, "unknown_key")


def test_a_bad_co_signature_by_another_key_of_the_origin_is_401(world: World) -> None:
    """§7.2 step 11: every signature by a key we hold for the origin must verify (the keys
    read with the peer answer for all of the origin's key ids, not only ``key_id``)."""
    second = world.keys["other"]
    with world.sessions.begin() as session:
        session.add(
            PeerKey(
                city_id=TWIN,
                key_id=second.key_id,
                public_b64=b64encode_unpadded(second.public_raw),
                state="current",
                source="key_document",
                first_seen=NOW,
            )
        )
    env = _envelope(world)
    wrong = sign_envelope({**env, "signatures": {}, "seq": 99}, TWIN, second)
    env["signatures"][TWIN][second.key_id] = wrong["signatures"][TWIN][second.key_id]
    _refused(world, _raw(env), 401, "bad_signature")
    good = sign_envelope(_envelope(world, seq=2), TWIN, second)  # both of its keys: accepted
    _accepted(world, _raw(good))


def test_a_co_signature_by_another_city_is_not_checked_against_the_origins_keys(
    world: World,
) -> None:
    """Co-signing cities are checked by their own handlers: another city's signature, even
    one that does not verify, neither helps nor harms the origin's envelope here."""
    env = _envelope(world)
    wrong = sign_envelope({**env, "signatures": {}, "seq": 99}, OTHER_TWIN, world.keys[OTHER_TWIN])
    env["signatures"][OTHER_TWIN] = wrong["signatures"][OTHER_TWIN]
    _accepted(world, _raw(env))


def test_a_handler_gets_the_twins_themes_without_loading_the_peer(world: World) -> None:
    with world.sessions.begin() as session:
        peer = session.get(Peer, TWIN)
        assert peer is not None
        peer.themes = ["Health", "Education"]
    _accepted(world, _raw(_envelope(world)))
    inbound = world.handled[0][1]
    assert inbound.facts is not None and inbound.known_peer is None  # not loaded
    assert inbound.origin == TWIN
    assert inbound.themes == ["Health", "Education"]
    assert inbound.known_peer is None
    assert inbound.peer.city_id == TWIN and inbound.peer.themes == ["Health", "Education"]
    assert inbound.known_peer is inbound.peer  # loaded once, then kept
    inbound.peer.themes = ["Work"]  # e.g. a handler changed it: the loaded Peer is the truth
    assert inbound.themes == ["Work"]


def test_without_the_facts_the_themes_come_from_the_peer(world: World) -> None:
    with world.sessions() as session:
        peer = session.get(Peer, TWIN)
        assert peer is not None
        peer.themes = ["Work"]
        inbound = Inbound(session, world.config, _envelope(world), {}, InEnvelope(), NOW)
        assert inbound.themes == ["Work"]
        assert inbound.known_peer is peer


def test_the_origins_keys_are_read_once_with_its_peer(world: World) -> None:
    """One query reads the peer and its keys; the key that verifies comes from it, so no
    second read of ``peer_keys`` (nor of ``peers``) happens before the handler runs."""
    engine = world.sessions.kw["bind"]
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", note)
    try:
        _accepted(world, _raw(_envelope(world)))
    finally:
        event.remove(engine, "before_cursor_execute", note)
    reads = [
        s
        for s in seen
        if s.startswith("SELECT")
        and not s.startswith("SELECT count(")  # _accepted's own counts, before and after
        and ("peer_keys" in s or "peers" in s)
    ]
    assert len(reads) == 1, reads
    assert "FROM peers LEFT OUTER JOIN peer_keys" in reads[0]
