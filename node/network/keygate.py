"""The key gate: the ONE place that decides which key verifies a document or request of a node.

Every signature from another node (a request to ``/federation/v1``, an envelope pushed or
pulled, a stored envelope re-verified for a page) gets its key here, through three layers:

1. **local pins** (:func:`node.network.keyring.pinned_key`): keys an official pinned when
   twinning, or that a key document co-signed by a pinned key brought; a revoked key verifies
   nothing, an old one only what was created before its expiry, a request only current keys;
2. **the pinned secretariat's directory** (:func:`node.network.keyring.directory_key`), only when
   the caller asks for it: documents *relayed* from cities we are not twinned with (review
   chains). A twin's own documents never verify with a key only the directory lists: a replaced
   key waits for an official (``node.network.trust``);
3. **the origin's own key document**: fetched at once when the gate belongs to a job (the pull,
   which passes ``http``; at most once a minute per origin), otherwise only *noted* and queued
   for the ``fetch_peer_keys`` job after the request's unit of work ended (a request thread never
   calls out: a hostile key server would hold the worker; :mod:`node.network.keyfetch`).

Before this gate, keys were looked up in three places with three slightly different rules.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import requests
from sqlalchemy.orm import Session, sessionmaker

from node.network import keyfetch, keyring
from node.network.models import Peer

log = logging.getLogger(__name__)

KeyLookup = Callable[[str, str, int], bytes | None]


@dataclass
class KeyGate:
    """One gate per unit of work (a request, or one pulled envelope)."""

    session: Session
    now: datetime
    # Jobs only: the outbound HTTP session factory; with it a missing key is fetched at once.
    http: Callable[[], requests.Session] | None = None
    # A twinning request's sender is not pinned yet: its request signature is checked against
    # the key document inside the envelope (itself verified before anything is stored).
    embedded: dict[tuple[str, str], bytes] = field(default_factory=dict)
    # (origin, key_id) met unknown on a request thread: queued by ``queue_missing``.
    missing: list[tuple[str, str]] = field(default_factory=list)

    def request_key(self, origin: str, key_id: str) -> bytes | None:
        """The key that verifies a request signed now by ``origin`` with ``key_id``."""
        key = self.embedded.get((origin, key_id))
        if key is None:
            key = keyring.pinned_key(self.session, origin, key_id, None)
        if key is None:
            self._note_missing(origin, key_id)
        return key

    def document_key(
        self, origin: str, key_id: str, created_ts: int, *, fetch: bool = True
    ) -> bytes | None:
        """The key that verifies ``origin``'s document created at ``created_ts`` (local pins,
        then, when ``fetch``, the origin's key document: fetched now by a job, else queued)."""
        key = keyring.pinned_key(self.session, origin, key_id, created_ts)
        if key is None and fetch and self._fetch(origin, key_id):
            key = keyring.pinned_key(self.session, origin, key_id, created_ts)
        return key

    def relayed_key(self, origin: str, key_id: str, created_ts: int) -> bytes | None:
        """The key of a document relayed from ``origin`` (maybe not our twin): local pins, then
        the pinned secretariat's directory. Never fetches: a relayed document must not make us
        call a city that did not contact us."""
        key = keyring.pinned_key(self.session, origin, key_id, created_ts)
        if key is None:
            key = keyring.directory_key(self.session, origin, key_id)
        return key

    def lookup_for(self, origin: str) -> KeyLookup:
        """The lookup ``federation.envelope.verify_envelope`` wants, for ``origin``'s envelope:
        its keys from local pins only (no fetch for co-signatures), other signers unknown
        (co-signing cities are checked by their own handlers)."""

        def lookup(signer: str, key_id: str, created_ts: int) -> bytes | None:
            if signer != origin:
                return None
            return keyring.pinned_key(self.session, origin, key_id, created_ts)

        return lookup

    def queue_missing(self, sessions: sessionmaker[Session]) -> None:
        """Queue the noted missing keys for the ``fetch_peer_keys`` job, each in its own short
        transaction: call it after the request's own unit of work was rolled back (it may hold
        SQLite's write lock)."""
        for origin, key_id in self.missing:
            keyfetch.queue_key_fetch(sessions, origin, key_id, self.now)
        self.missing.clear()

    def _note_missing(self, origin: str, key_id: str) -> None:
        if (origin, key_id) not in self.missing:
            self.missing.append((origin, key_id))

    def _fetch(self, origin: str, key_id: str) -> bool:
        """Layer 3. True when the origin's key document was fetched and applied just now."""
        if self.http is None:
            self._note_missing(origin, key_id)
            return False
        peer = self.session.get(Peer, origin)
        if peer is None or not keyring.FETCH_GATE.allow(origin):
            return False
        problem = keyfetch.fetch_and_apply(self.session, peer, self.now, self.http)
        if problem is not None:
            log.warning("key document of %s not usable: %s", origin, problem)
            return False
        return True
