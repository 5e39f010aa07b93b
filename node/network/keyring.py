"""Keys: our own (current, old, revoked) and other nodes' (pinned, fetched), and key documents.

Trust rules, in one place:
- a peer's key is *pinned* when we twin (officials compare fingerprints out of band);
- a newer key document of a peer is accepted only if it is signed by a key we already trust
  for that peer (rotation overlap: the new document is co-signed by the old key), and never if
  its ``seq`` is lower than one we saw (rollback);
- the secretariat's directory (the notary) may refuse a key it does not list for a member,
  but never makes a key trusted by itself: a replacement it announces is recorded and waits
  for an official's confirmation (``node.network.trust``);
- a revoked key verifies nothing; an old key verifies only documents created before its
  ``expired_ts``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import cast

from sqlalchemy import Table, bindparam, select
from sqlalchemy.orm import Session

from federation import keys as fkeys
from federation.envelope import KeyDocument, OldVerifyKey, build_key_document
from node.config import NodeConfig
from node.errors import ConflictError, DomainError, NotFoundError
from node.network.models import DirectoryEntry, NodeKey, Peer, PeerKey

KEYS_DIR = "keys"
ROTATION_OVERLAP_MS = 7 * 24 * 3600 * 1000
KEY_FETCH_MIN_INTERVAL_S = 60.0


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


# --- our own keys -------------------------------------------------------------------------------


def register_initial_key(session: Session, config: NodeConfig, now: datetime) -> NodeKey:
    """Record the key ``hrcnet init`` created as our current key (idempotent)."""
    existing = session.scalar(select(NodeKey).where(NodeKey.state == "current"))
    if existing is not None:
        return existing
    key = fkeys.load_signing_key(config.signing_key_path)
    row = NodeKey(
        key_id=key.key_id,
        public_b64=key.public_b64,
        file_name=config.signing_key_path.name,
        state="current",
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row


_KEY_CACHE: dict[tuple[str, float], fkeys.SigningKey] = {}


def _load(config: NodeConfig, row: NodeKey) -> fkeys.SigningKey:
    if row.file_name is None:
        raise DomainError(
            f"The private key {row.key_id} is no longer on this node.",
            code="key_unavailable",
            status=500,
        )
    path = config.data_dir / row.file_name
    cache_key = (str(path), path.stat().st_mtime)
    if cache_key not in _KEY_CACHE:
        _KEY_CACHE[cache_key] = fkeys.load_signing_key(path, row.key_id)
    return _KEY_CACHE[cache_key]


@dataclass(frozen=True)
class Signers:
    """The key that signs new documents, plus old keys that co-sign during a rotation overlap."""

    primary: fkeys.SigningKey
    co_signers: tuple[fkeys.SigningKey, ...]


def signers(session: Session, config: NodeConfig, now: datetime) -> Signers:
    """Keys to sign a document created ``now`` with."""
    current = register_initial_key(session, config, now)
    overlap = [
        row
        for row in session.scalars(select(NodeKey).where(NodeKey.state == "old"))
        if row.expired_ts is not None and row.expired_ts > ms(now) and row.file_name
    ]
    return Signers(_load(config, current), tuple(_load(config, row) for row in overlap))


def own_key_document(session: Session, config: NodeConfig, now: datetime) -> dict:
    """Our self-signed key document (co-signed by an old key during a rotation overlap)."""
    keys_now = signers(session, config, now)
    rows = list(session.scalars(select(NodeKey)))
    old = [
        OldVerifyKey(r.key_id, fkeys.b64decode_unpadded(r.public_b64), r.expired_ts)
        for r in rows
        if r.state == "old" and r.expired_ts is not None
    ]
    revoked = {r.key_id: r.revoked_ts for r in rows if r.state == "revoked" and r.revoked_ts}
    # seq is the time of the last key change (creation, rotation, revocation): it grows with
    # every change and stays the same otherwise, so a peer can refuse an older key set.
    seq = max([ms(r.created_at) for r in rows] + [r.revoked_ts or 0 for r in rows])
    return build_key_document(
        config.city_id,
        keys_now.primary,
        old,
        now_ms=ms(now),
        seq=seq,
        co_signing_key=keys_now.co_signers[0] if keys_now.co_signers else None,
        revoked=revoked,
    )


def rotate(
    session: Session, config: NodeConfig, now: datetime, overlap_ms: int = ROTATION_OVERLAP_MS
) -> tuple[str, str]:
    """Make a new current key; the old one co-signs for ``overlap_ms`` and then only verifies
    what it signed before. Returns (old key id, new key id)."""
    current = register_initial_key(session, config, now)
    new_key = fkeys.generate_signing_key()
    (config.data_dir / KEYS_DIR).mkdir(mode=0o700, exist_ok=True)
    file_name = f"{KEYS_DIR}/{new_key.key_id.replace(':', '-')}.pem"
    fkeys.save_private_key(new_key, config.data_dir / file_name)
    current.state = "old"
    current.expired_ts = ms(now) + overlap_ms
    session.add(
        NodeKey(
            key_id=new_key.key_id,
            public_b64=new_key.public_b64,
            file_name=file_name,
            state="current",
            created_at=now,
        )
    )
    session.flush()
    return current.key_id, new_key.key_id


def revoke(session: Session, config: NodeConfig, key_id: str, now: datetime) -> NodeKey:
    """Revoke one of our keys: from now on peers let it verify nothing. The private key file
    is destroyed, so a copy can never sign for us again from this node."""
    row = session.get(NodeKey, key_id)
    if row is None:
        raise NotFoundError(f"This node has no key {key_id}.", code="key_not_found")
    if row.state == "current":
        raise ConflictError(
            "Rotate first: the current key cannot be revoked while it signs.", code="key_is_current"
        )
    row.state = "revoked"
    row.revoked_ts = ms(now)
    if row.file_name:
        Path(config.data_dir / row.file_name).unlink(missing_ok=True)
        row.file_name = None
    session.flush()
    return row


# --- other nodes' keys ----------------------------------------------------------------------------


def pinned_key(session: Session, origin: str, key_id: str, created_ts: int | None) -> bytes | None:
    """Layer 1 of the key gate (:mod:`node.network.keygate`): a key we hold for ``origin``.

    ``created_ts`` is the date of the document to verify; None for a request signature (a
    request is made now: current keys only). A revoked key verifies nothing; an old key only
    documents created before its ``expired_ts``.
    """
    row = session.get(PeerKey, (origin, key_id))
    if row is None:
        return None
    return usable_key(row.state, row.public_b64, row.expired_ts, created_ts)


def usable_key(
    state: str, public_b64: str, expired_ts: int | None, created_ts: int | None
) -> bytes | None:
    """The raw public key of a pinned key in ``state`` if it may verify a signature made at
    ``created_ts`` (None: a request, made now), else None: the one rule of :func:`pinned_key`
    and :meth:`PeerFacts.document_key`."""
    if state == "revoked":
        return None  # a revoked key verifies nothing, whenever the document says it was made
    if created_ts is None:
        return fkeys.b64decode_unpadded(public_b64) if state == "current" else None
    if state == "old" and expired_ts is not None and created_ts >= expired_ts:
        return None  # an old key signs nothing dated after its expiry (it may have leaked since)
    return fkeys.b64decode_unpadded(public_b64)


@dataclass(frozen=True)
class PeerFacts:
    """What the inbox decides a twin's envelope on, read as plain values in one Core query:
    the peer's state and themes, and its pinned keys (``key_id`` → state, public key,
    expiry). Read in the unit of work that uses them, never kept beyond it (no cache: a key
    revoked or rotated a moment ago is seen at once)."""

    city_id: str
    state: str
    themes: list[str] | None
    keys: dict[str, tuple[str, str, int | None]]

    def document_key(self, key_id: str, created_ts: int) -> bytes | None:
        """:func:`pinned_key` for a document of this peer, from the keys read."""
        found = self.keys.get(key_id)
        return None if found is None else usable_key(*found, created_ts)

    def lookup(self, signer: str, key_id: str, created_ts: int) -> bytes | None:
        """``KeyGate.lookup_for(city_id)`` from the keys read: this peer's pinned keys only
        (other signers are unknown here, as there)."""
        return self.document_key(key_id, created_ts) if signer == self.city_id else None


_PEERS = cast(Table, Peer.__table__)
_PEER_KEYS = cast(Table, PeerKey.__table__)
# Built once (issue 14: the ORM load of the peer and its keys was a tenth of an ingest).
_PEER_FACTS = (
    select(
        _PEERS.c.state,
        _PEERS.c.themes,
        _PEER_KEYS.c.key_id,
        _PEER_KEYS.c.state,
        _PEER_KEYS.c.public_b64,
        _PEER_KEYS.c.expired_ts,
    )
    .select_from(_PEERS.outerjoin(_PEER_KEYS, _PEER_KEYS.c.city_id == _PEERS.c.city_id))
    .where(_PEERS.c.city_id == bindparam("origin"))
)


def peer_facts(session: Session, origin: str) -> PeerFacts | None:
    """``origin``'s :class:`PeerFacts` (None: not a peer of ours), as the ORM would see them.

    The query reads the database, not the session's objects: whatever the unit of work changed
    and has not flushed yet (a key revoked or rotated, a peer ended a moment ago) is flushed
    first, so these facts are never older than what ``session.get`` would answer.
    """
    if session.new or session.dirty or session.deleted:
        session.flush()
    rows = session.connection().execute(_PEER_FACTS, {"origin": origin}).all()
    if not rows:
        return None
    state, themes = rows[0][0], rows[0][1]
    keys = {row[2]: (row[3], row[4], row[5]) for row in rows if row[2] is not None}
    return PeerFacts(origin, state, themes, keys)


def peer_public_key(session: Session, origin: str, key_id: str, created_ts: int) -> bytes | None:
    """The raw public key of ``origin``'s ``key_id`` if it may verify a document created then."""
    return pinned_key(session, origin, key_id, created_ts)


def request_key(session: Session, origin: str, key_id: str) -> bytes | None:
    """Key for a request signature: current keys only (a request is made now)."""
    return pinned_key(session, origin, key_id, None)


def directory_entry(session: Session, city_id: str) -> DirectoryEntry | None:
    """The pinned secretariat's directory entry for ``city_id`` (None: not listed)."""
    return session.get(DirectoryEntry, city_id)


def directory_key(session: Session, origin: str, key_id: str) -> bytes | None:
    """Layer 2 of the key gate: the key the pinned secretariat's directory lists for an active
    member (used for documents relayed from cities we are not twinned with, never to replace
    a twin's pinned key: see :func:`apply_key_document` and ``node.network.trust``)."""
    listed = notary_keys(session, origin).get(key_id)
    return fkeys.b64decode_unpadded(listed) if listed else None


class KeyTrustError(DomainError):
    status = 401
    code = "untrusted_key_document"
    title = "Key document not trusted"


def apply_key_document(
    session: Session,
    peer: Peer,
    doc: KeyDocument,
    *,
    now: datetime,
    source: str,
    first_contact: bool = False,
) -> list[str]:
    """Update ``peer``'s keys from a verified key document; return the key ids that are new.

    Outside first contact, the document must be signed by a key we already trust for this peer.
    """
    known = {k.key_id: k for k in peer.keys}
    vouched = notary_keys(session, peer.city_id)
    if vouched:
        # The secretariat's directory is the notary: a key it does not list for a member is
        # refused, whoever signed the document (a stolen or forged key stays out).
        stray = [
            kid
            for kid, raw in doc.verify_keys.items()
            if fkeys.b64encode_unpadded(raw) != vouched.get(kid)
        ]
        if stray:
            raise KeyTrustError(
                f"{peer.city_id}'s key {stray[0]} is not the one the network directory lists.",
                code="key_not_in_directory",
            )
    # Outside first contact a newer key document must be co-signed by a key we already trust,
    # directory or not: the directory may veto keys (above) but never vouch for one on its own;
    # a key it announces as a replacement waits for an official (node.network.trust).
    if not first_contact:
        trusted = [
            kid
            for kid in doc.signed_by
            if kid in known
            and known[kid].state != "revoked"
            and (known[kid].state == "current" or (known[kid].expired_ts or 0) > doc.created_ts)
        ]
        if not trusted:
            raise KeyTrustError(
                f"{peer.city_id}'s new key document is not signed by a key we trust; "
                "an official must re-pin the key."
            )
        last_seq = max((k.keydoc_seq or 0 for k in peer.keys), default=0)
        if doc.seq < last_seq:
            raise KeyTrustError(
                f"{peer.city_id} sent an older key document (rollback).",
                code="key_document_rollback",
            )
    added: list[str] = []
    for key_id, raw in doc.verify_keys.items():
        row = known.get(key_id)
        if row is None:
            row = PeerKey(
                city_id=peer.city_id,
                key_id=key_id,
                public_b64=fkeys.b64encode_unpadded(raw),
                state="current",
                source=source,
                first_seen=now,
            )
            peer.keys.append(row)
            added.append(key_id)
        elif row.state != "revoked":
            row.state = "current"
        row.keydoc_seq = doc.seq
    for key_id, old in doc.old_verify_keys.items():
        row = known.get(key_id)
        if row is None:
            row = PeerKey(
                city_id=peer.city_id,
                key_id=key_id,
                public_b64=fkeys.b64encode_unpadded(old.public_raw),
                state="old",
                source=source,
                first_seen=now,
            )
            peer.keys.append(row)
        if row.state != "revoked":
            row.state, row.expired_ts = "old", old.expired_ts
        row.keydoc_seq = doc.seq
    for key_id, revoked_ts in doc.revoked.items():
        row = known.get(key_id)
        if row is not None:
            row.state, row.revoked_ts = "revoked", revoked_ts
    session.flush()
    return added


def notary_keys(session: Session, city_id: str) -> dict[str, str]:
    """Key id → base64 key the secretariat's directory lists for a member (empty: not listed)."""
    entry = directory_entry(session, city_id)
    if entry is None or entry.state != "active":
        return {}
    return {k["key_id"]: k["key"] for k in entry.keys}


def fingerprints(peer: Peer) -> list[dict[str, str]]:
    """Key ids and human-readable fingerprints, for officials to compare out of band."""
    return [
        {
            "key_id": k.key_id,
            "state": k.state,
            "source": k.source,
            "fingerprint": fkeys.fingerprint_display(fkeys.b64decode_unpadded(k.public_b64)),
        }
        for k in sorted(peer.keys, key=lambda k: (k.state != "current", k.key_id))
    ]


class FetchGate:
    """At most one key-document fetch per origin per minute, process-wide (no fetch storms)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}

    def allow(self, origin: str) -> bool:
        with self._lock:
            now = time.monotonic()
            if now - self._last.get(origin, -KEY_FETCH_MIN_INTERVAL_S) < KEY_FETCH_MIN_INTERVAL_S:
                return False
            self._last[origin] = now
            return True


FETCH_GATE = FetchGate()
