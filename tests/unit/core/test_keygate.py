"""The key gate's layers, each on its own (real database, no network).

Expected answers from the gate's rules (docs/protocol.md §4.6 and §7.2 steps 2 and 10,
``node/network/keygate.py``'s contract):

* a request signature is checked with the key document a twinning request carries, else a
  *current* pinned key; an old or revoked key signs no request;
* a document is checked with a pinned key that was valid when it was created (an old key until
  its expiry, exclusive; a revoked key never);
* a key the gate does not hold is *noted* on a request thread (once per origin and key id) and
  queued for the fetch job afterwards, only for peers whose keys may be fetched
  (active, requested, pending); without ``fetch`` nothing is noted;
* a relayed document (another city's, maybe not our twin) is checked with a pinned key, else the
  key the pinned secretariat's directory lists for an *active* member; it never notes a fetch;
* ``lookup_for(origin)`` answers only for the origin's own signatures.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import select

from federation.keys import SigningKey, b64encode_unpadded, generate_signing_key
from node.network.keygate import KeyGate
from node.network.models import DirectoryEntry, KeyFetch, Peer, PeerKey

EXPIRED_TS = 1_767_225_600_000  # the old key's expiry (ms)


def _peer(session: Any, city_id: str, state: str, now: datetime) -> Peer:
    peer = Peer(
        city_id=city_id,
        name=city_id,
        base_url="http://127.0.0.1:9",
        state=state,
        requested_at=now,
        failures=0,
        pulled_seq=0,
        unavailable=False,
    )
    session.add(peer)
    session.flush()
    return peer


def _pin(
    session: Any, city_id: str, key: SigningKey, state: str, now: datetime, **over: Any
) -> None:
    session.add(
        PeerKey(
            city_id=city_id,
            key_id=key.key_id,
            public_b64=b64encode_unpadded(key.public_raw),
            state=state,
            source="pinned",
            first_seen=now,
            **over,
        )
    )
    session.flush()


@pytest.fixture
def keys(db, clock) -> dict[str, SigningKey]:  # type: ignore[no-untyped-def]
    """be-gent: an active twin with a current, an old and a revoked key; fr-lyon: pending."""
    made = {name: generate_signing_key() for name in ("current", "old", "revoked", "lyon")}
    now = clock()
    with db() as session:
        _peer(session, "be-gent", "active", now)
        _pin(session, "be-gent", made["current"], "current", now)
        _pin(session, "be-gent", made["old"], "old", now, expired_ts=EXPIRED_TS)
        _pin(session, "be-gent", made["revoked"], "revoked", now, revoked_ts=EXPIRED_TS)
        _peer(session, "fr-lyon", "pending", now)
        _pin(session, "fr-lyon", made["lyon"], "current", now)
    return made


def test_a_request_is_checked_with_current_keys_only(db, clock, keys) -> None:  # type: ignore[no-untyped-def]
    with db() as session:
        gate = KeyGate(session, clock())
        assert gate.request_key("be-gent", keys["current"].key_id) == keys["current"].public_raw
        assert gate.request_key("be-gent", keys["old"].key_id) is None
        assert gate.request_key("be-gent", keys["revoked"].key_id) is None
        # Another city's key is not Gent's.
        assert gate.request_key("be-gent", keys["lyon"].key_id) is None
        assert gate.missing == [
            ("be-gent", keys["old"].key_id),
            ("be-gent", keys["revoked"].key_id),
            ("be-gent", keys["lyon"].key_id),
        ]


def test_a_twinning_requests_embedded_key_checks_its_request(db, clock, keys) -> None:  # type: ignore[no-untyped-def]
    stranger = generate_signing_key()
    with db() as session:
        gate = KeyGate(session, clock())
        gate.embedded[("nl-utrecht", stranger.key_id)] = stranger.public_raw
        assert gate.request_key("nl-utrecht", stranger.key_id) == stranger.public_raw
        # only for that origin
        assert gate.request_key("be-gent", stranger.key_id) is None
        assert gate.missing == [("be-gent", stranger.key_id)]


def test_a_document_is_checked_with_the_key_valid_when_it_was_created(db, clock, keys) -> None:  # type: ignore[no-untyped-def]
    with db() as session:
        gate = KeyGate(session, clock())
        current, old = keys["current"], keys["old"]
        assert gate.document_key("be-gent", current.key_id, EXPIRED_TS) == current.public_raw
        assert gate.document_key("be-gent", old.key_id, EXPIRED_TS - 1) == old.public_raw
        assert gate.document_key("be-gent", old.key_id, EXPIRED_TS, fetch=False) is None
        assert gate.document_key("be-gent", keys["revoked"].key_id, 1, fetch=False) is None
        assert gate.missing == []  # nothing noted without fetch
        assert gate.document_key("be-gent", old.key_id, EXPIRED_TS + 1) is None
        assert gate.missing == [("be-gent", old.key_id)]


def test_a_key_is_noted_once_and_queued_for_fetchable_peers_only(app, db, clock, keys) -> None:  # type: ignore[no-untyped-def]
    unknown = generate_signing_key().key_id
    with db() as session:
        _peer(session, "at-graz", "ended", clock())
    with db() as session:
        gate = KeyGate(session, clock())
        for _ in range(2):
            assert gate.document_key("be-gent", unknown, EXPIRED_TS) is None
            assert gate.request_key("fr-lyon", unknown) is None
            assert gate.document_key("at-graz", unknown, EXPIRED_TS) is None
        assert gate.missing == [("be-gent", unknown), ("fr-lyon", unknown), ("at-graz", unknown)]
    with db() as session:
        assert session.scalars(select(KeyFetch)).all() == []  # noted, not yet queued
    gate.queue_missing(app.extensions["hrcnet"].sessions)
    assert gate.missing == []
    with db() as session:
        queued = {(f.origin, f.key_id) for f in session.scalars(select(KeyFetch))}
    assert queued == {("be-gent", unknown), ("fr-lyon", unknown)}  # not the ended peer


def test_a_relayed_document_uses_a_pin_then_the_secretariats_directory(db, clock, keys) -> None:  # type: ignore[no-untyped-def]
    listed, inactive = generate_signing_key(), generate_signing_key()
    with db() as session:
        for city_id, key, state in (
            ("es-madrid", listed, "active"),
            ("nl-utrecht", inactive, "left"),
        ):
            session.add(
                DirectoryEntry(
                    city_id=city_id,
                    name=city_id,
                    region=None,
                    country=None,
                    base_url="http://127.0.0.1:9",
                    state=state,
                    keys=[{"key_id": key.key_id, "key": b64encode_unpadded(key.public_raw)}],
                    directory_seq=1,
                    updated_at=clock(),
                )
            )
    with db() as session:
        gate = KeyGate(session, clock())
        # pinned first (a twin's documents relayed to us)
        assert gate.relayed_key("be-gent", keys["current"].key_id, 1) == keys["current"].public_raw
        # ... with the document's date: an old key until its expiry, exclusive
        old = keys["old"]
        assert gate.relayed_key("be-gent", old.key_id, EXPIRED_TS - 1) == old.public_raw
        assert gate.relayed_key("be-gent", old.key_id, EXPIRED_TS) is None
        assert gate.relayed_key("be-gent", keys["revoked"].key_id, 1) is None
        # a city we are not twinned with: the directory's key for an active member
        assert gate.relayed_key("es-madrid", listed.key_id, 1) == listed.public_raw
        assert gate.relayed_key("es-madrid", inactive.key_id, 1) is None
        assert gate.relayed_key("nl-utrecht", inactive.key_id, 1) is None  # not active
        assert gate.relayed_key("pt-porto", listed.key_id, 1) is None  # not listed
        assert gate.missing == []  # a relayed document never makes us fetch


def test_lookup_for_answers_only_for_the_origins_own_signatures(db, clock, keys) -> None:  # type: ignore[no-untyped-def]
    with db() as session:
        lookup = KeyGate(session, clock()).lookup_for("be-gent")
        assert lookup("be-gent", keys["current"].key_id, 1) == keys["current"].public_raw
        assert lookup("be-gent", keys["old"].key_id, EXPIRED_TS - 1) == keys["old"].public_raw
        assert lookup("be-gent", keys["old"].key_id, EXPIRED_TS) is None
        assert lookup("fr-lyon", keys["lyon"].key_id, 1) is None  # a co-signer: not here


def test_without_http_a_missing_document_key_is_only_noted(db, clock, keys) -> None:  # type: ignore[no-untyped-def]
    unknown = generate_signing_key().key_id
    with db() as session:
        gate = KeyGate(session, clock(), http=None)
        assert gate.document_key("be-gent", unknown, 1) is None
        assert gate.missing == [("be-gent", unknown)]
        assert session.scalars(select(KeyFetch)).all() == []
