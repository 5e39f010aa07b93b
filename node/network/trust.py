"""The node's trust anchor (the pinned secretariat) and directory key changes.

Who may say what, in one place:

- **The secretariat is the one this city joined**, never one that says so. A peer's ``role``
  (in its twinning request, or in its ``/.well-known/hrcnet``) is a claim anyone can make; it
  decides nothing. The anchor is written when an official *applies* to a secretariat (a twinning
  request to a node that presents itself as one, after seeing its fingerprint) and becomes
  ``pinned`` only when that node's signed ``hrc.twinning.accept`` (the admission) arrives. An
  operator may pin or unpin explicitly (CLI ``hrcnet secretariat`` or the admin page); both need
  the node to already hold the secretariat's key and the operator to type its fingerprint.
- **Only the pinned secretariat** may send directories, catalogue releases and benchmarks
  (``SECRETARIAT_TYPES``); the inbox refuses them from anyone else with ``403 not_secretariat``
  before it even looks at their keys.
- **A directory never changes a twin's keys silently.** Keys it lists that we hold: nothing
  happens. Keys it lists for a twin while one of that twin's current keys is no longer listed
  (the secretariat's lost-key recovery): a :class:`KeyChange` is recorded as ``pending`` and
  shown to officials; until one of them confirms it (after comparing the new fingerprint with the
  twin out of band) the twin's pinned keys stay exactly as they are, and envelopes signed with
  the new key get ``401 unknown_key`` (the sender's outbox retries them).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from federation import keys as fkeys
from node.config import NodeConfig
from node.errors import ConflictError, InvalidInputError, NotFoundError
from node.network.models import DirectoryEntry, KeyChange, Peer, PeerKey, SecretariatAnchor
from node.permissions import Actor, require
from schemas.secretariat import BENCHMARK_TYPE, CATALOGUE_TYPE, DIRECTORY_TYPE

log = logging.getLogger(__name__)

# Documents only the pinned secretariat may send (the directory also carries the rekey of a
# member: lost-key recovery).
SECRETARIAT_TYPES = frozenset({DIRECTORY_TYPE, CATALOGUE_TYPE, BENCHMARK_TYPE})

CHANGE_HINT = (
    "An operator changes the pinned secretariat with `hrcnet secretariat unpin DATA_DIR "
    "--city-id <pinned>` (or the Secretariat page) before joining another one."
)


# --- the anchor ---------------------------------------------------------------------------------


def anchor(session: Session) -> SecretariatAnchor | None:
    """The anchor row, applied or pinned (None when this node trusts no secretariat)."""
    return session.get(SecretariatAnchor, 1)


def pinned_secretariat(session: Session) -> SecretariatAnchor | None:
    """The pinned secretariat, or None (an application not yet accepted is not trusted)."""
    row = anchor(session)
    return row if row is not None and row.state == "pinned" else None


def is_pinned_secretariat(session: Session, city_id: str) -> bool:
    """Whether ``city_id`` is the secretariat this node pinned (the only one it listens to)."""
    row = pinned_secretariat(session)
    return row is not None and row.city_id == city_id


def secretariat_peer(session: Session) -> Peer | None:
    """The pinned secretariat as an active peer (None when not pinned or not twinned now)."""
    row = pinned_secretariat(session)
    if row is None:
        return None
    peer = session.get(Peer, row.city_id)
    return peer if peer is not None and peer.state == "active" else None


def _set_role(session: Session, city_id: str, role: str) -> None:
    # Peer.role mirrors the anchor (kept for display and for queries that list members): it is
    # "secretariat" for the pinned one only, never because a peer said so.
    peer = session.get(Peer, city_id)
    if peer is not None:
        peer.role = role


def note_application(
    session: Session,
    config: NodeConfig,
    peer: Peer,
    declared_role: object,
    *,
    by: str,
    now: datetime,
) -> None:
    """Our official asks ``peer`` to twin: if it presents itself as a secretariat, this is a
    membership application; the anchor is written as ``applied`` with the key pinned now.

    Refused (409 ``secretariat_already_pinned``) when another secretariat is pinned: changing
    the anchor is an operator's explicit act, never a side effect of a twinning form.
    """
    if declared_role != "secretariat" or config.role == "secretariat":
        return
    current = anchor(session)
    if current is not None and current.state == "pinned":
        if current.city_id == peer.city_id:
            return  # re-joining the same secretariat: the anchor stays as pinned
        raise ConflictError(
            f"This node already trusts {current.city_id} as its secretariat. {CHANGE_HINT}",
            code="secretariat_already_pinned",
        )
    key = _current_key(peer)
    if key is None:
        return
    if current is None:
        current = SecretariatAnchor(slot=1)
        session.add(current)
    current.city_id, current.base_url = peer.city_id, peer.base_url
    current.key_id, current.public_b64 = key.key_id, key.public_b64
    current.state, current.how, current.by = "applied", "membership", by[:200]
    current.applied_at, current.pinned_at = now, None
    session.flush()


def on_admission(session: Session, peer: Peer, now: datetime) -> None:
    """The node we applied to accepted us (a signed ``hrc.twinning.accept``): pin it.

    Only an application our own official made counts: an accept from anyone else pins nothing.
    """
    row = anchor(session)
    if row is None or row.state != "applied" or row.city_id != peer.city_id:
        return
    if row.key_id not in {k.key_id for k in peer.keys if k.state == "current"}:
        return  # the key pinned at the application is gone: an operator must pin by hand
    row.state, row.pinned_at = "pinned", now
    _set_role(session, peer.city_id, "secretariat")
    session.flush()


def on_repin(session: Session, peer: Peer, now: datetime) -> None:
    """``peer``'s keys were pinned again from scratch (a new twinning request after an ended or
    declined twinning). If it is our secretariat and the key we pinned for it is gone, the
    anchor is dropped: whoever sent that request (perhaps not the secretariat at all) must not
    inherit its trust; an operator pins it again after checking the fingerprint."""
    row = anchor(session)
    if row is None or row.city_id != peer.city_id:
        return
    if any(k.key_id == row.key_id and k.public_b64 == row.public_b64 for k in peer.keys):
        return
    log.warning("%s re-pinned with another key: no secretariat is trusted now", peer.city_id)
    _forget_statements_of(session, peer.city_id, now)
    _set_role(session, peer.city_id, "city")
    session.delete(row)
    session.flush()


def normalise_fingerprint(text: str) -> str:
    """Hex digits only, lower case ("ABCD 12ef:..." → "abcd12ef...")."""
    return re.sub(r"[^0-9a-f]", "", text.lower())


def pin(
    session: Session,
    config: NodeConfig,
    city_id: str,
    fingerprint: str,
    *,
    user: Actor | None,
    now: datetime,
) -> SecretariatAnchor:
    """Operator: make ``city_id`` (an active twin) the pinned secretariat.

    No network call: the node must already hold that twin's current key, and the fingerprint the
    operator typed (read out by the secretariat out of band) must be exactly that key's.
    """
    require(user, "trust.manage")
    if config.role == "secretariat":
        raise ConflictError(
            "This node is a secretariat: it joins no other one.", code="not_a_city_node"
        )
    peer = session.get(Peer, city_id)
    if peer is None or peer.state != "active":
        raise ConflictError(
            f"{city_id} is not an active twin of this node: twin with it first.",
            code="not_an_active_twin",
            params={"city": city_id},
        )
    typed = normalise_fingerprint(fingerprint)
    matching = [
        k
        for k in peer.keys
        if k.state == "current"
        and fkeys.fingerprint(fkeys.b64decode_unpadded(k.public_b64)) == typed
    ]
    if not matching:
        raise InvalidInputError(
            f"That fingerprint is not the one of {city_id}'s current key; nothing was changed.",
            code="fingerprint_mismatch",
            params={"city": city_id},
            errors={"fingerprint": ["does not match the key this node holds"]},
        )
    current = anchor(session)
    if current is not None and current.state == "pinned" and current.city_id != city_id:
        raise ConflictError(
            f"{current.city_id} is pinned; unpin it first. {CHANGE_HINT}",
            code="secretariat_already_pinned",
        )
    if current is None:
        current = SecretariatAnchor(slot=1)
        session.add(current)
    elif current.city_id != city_id:
        _forget_statements_of(session, current.city_id, now)
        _set_role(session, current.city_id, "city")
    key = matching[0]
    current.city_id, current.base_url = peer.city_id, peer.base_url
    current.key_id, current.public_b64 = key.key_id, key.public_b64
    current.state, current.how, current.by = "pinned", "operator", user_label(user)
    current.applied_at, current.pinned_at = current.applied_at or now, now
    _set_role(session, peer.city_id, "secretariat")
    session.flush()
    return current


def unpin(session: Session, city_id: str, *, user: Actor | None, now: datetime) -> None:
    """Operator: trust no secretariat any more (``city_id`` must name the pinned one, as a
    confirmation). Its documents are refused from now on, its directory is dropped and the key
    changes it announced are superseded; it stays a twin like any city."""
    require(user, "trust.manage")
    current = anchor(session)
    if current is None or current.city_id != city_id:
        raise NotFoundError(
            f"{city_id} is not this node's secretariat; nothing was changed.",
            code="not_pinned",
        )
    _forget_statements_of(session, current.city_id, now)
    _set_role(session, current.city_id, "city")
    session.delete(current)
    session.flush()


def _forget_statements_of(session: Session, city_id: str, now: datetime) -> None:
    # What the former secretariat said stops counting with it: its directory (which vetoes keys
    # it does not list, keyring.apply_key_document) and the key changes it announced.
    session.execute(delete(DirectoryEntry))
    for change in session.scalars(
        select(KeyChange).where(KeyChange.directory_origin == city_id, KeyChange.state == "pending")
    ):
        change.state, change.decided_at, change.decided_by = "superseded", now, "unpinned"


def user_label(user: Actor | None) -> str:
    """Who acted, for the record."""
    return str(getattr(user, "email", None) or "operator")[:200]


def _current_key(peer: Peer) -> PeerKey | None:
    current = sorted((k for k in peer.keys if k.state == "current"), key=lambda k: k.key_id)
    return current[0] if current else None


def describe(session: Session) -> dict[str, Any] | None:
    """The anchor for the CLI, the page and the API (fingerprint included)."""
    row = anchor(session)
    if row is None:
        return None
    return {
        "city_id": row.city_id,
        "base_url": row.base_url,
        "key_id": row.key_id,
        "fingerprint": fkeys.fingerprint_display(fkeys.b64decode_unpadded(row.public_b64)),
        "state": row.state,
        "how": row.how,
        "by": row.by,
        "applied_at": row.applied_at,
        "pinned_at": row.pinned_at,
    }


# --- key changes announced by the directory -------------------------------------------------------


def _key_entry(key_id: str, public_b64: str) -> dict[str, str]:
    return {
        "key_id": key_id,
        "key": public_b64,
        "fingerprint": fkeys.fingerprint_display(fkeys.b64decode_unpadded(public_b64)),
    }


def record_directory_keys(
    session: Session,
    twin: Peer,
    listed: list[dict[str, Any]],
    *,
    directory_origin: str,
    directory_seq: int,
    now: datetime,
    on_new_change: Callable[[Session, KeyChange, datetime], None] | None = None,
) -> KeyChange | None:
    """Compare the keys the directory lists for ``twin`` with those we hold; never change them.

    - every listed key we already hold (same id and bytes): nothing to do;
    - new keys listed but all our current keys still listed (a rotation in progress): nothing
      either; the twin's own key document, co-signed by its old key, brings the new one;
    - new keys listed and one of our current keys dropped (lost-key recovery): a pending
      :class:`KeyChange` (once per set of new keys), shown to officials.

    ``on_new_change`` is called with each newly recorded change (the caller tells officials:
    notifications are a feature's, the core imports none).
    """
    held = {k.key_id: k.public_b64 for k in twin.keys if k.state != "revoked"}
    listed_keys = {k["key_id"]: k["key"] for k in listed if k.get("state", "current") != "revoked"}
    new = {kid: key for kid, key in listed_keys.items() if held.get(kid) != key}
    dropped = [
        k for k in twin.keys if k.state == "current" and listed_keys.get(k.key_id) != k.public_b64
    ]
    if not new or not dropped:
        return None
    new_ids = ",".join(sorted(new))[:400]
    existing = session.scalars(
        select(KeyChange).where(KeyChange.city_id == twin.city_id, KeyChange.state == "pending")
    ).all()
    for change in existing:
        if change.new_key_ids == new_ids:
            return change  # every roster change re-sends the directory: one record is enough
        change.state, change.decided_at, change.decided_by = "superseded", now, "directory"
    already_decided = session.scalar(
        select(KeyChange).where(
            KeyChange.city_id == twin.city_id,
            KeyChange.new_key_ids == new_ids,
            KeyChange.state.in_(("rejected", "confirmed")),
        )
    )
    if already_decided is not None:
        return None  # an official already decided about these very keys
    change = KeyChange(
        city_id=twin.city_id,
        old_keys=[_key_entry(k.key_id, k.public_b64) for k in dropped],
        new_keys=[_key_entry(kid, key) for kid, key in sorted(new.items())],
        new_key_ids=new_ids,
        directory_origin=directory_origin,
        directory_seq=directory_seq,
        state="pending",
        recorded_at=now,
    )
    session.add(change)
    session.flush()
    if on_new_change is not None:
        on_new_change(session, change, now)
    return change


def key_changes(
    session: Session, city_id: str | None = None, *, pending_only: bool = False
) -> list[KeyChange]:
    """Recorded key changes, newest first (one twin's, or all)."""
    query = select(KeyChange).order_by(KeyChange.id.desc())
    if city_id is not None:
        query = query.where(KeyChange.city_id == city_id)
    if pending_only:
        query = query.where(KeyChange.state == "pending")
    return list(session.scalars(query))


def _pending(session: Session, city_id: str, change_id: int) -> KeyChange:
    change = session.get(KeyChange, change_id)
    if change is None or change.city_id != city_id:
        raise NotFoundError(
            f"No key change {change_id} for {city_id}.", code="key_change_not_found"
        )
    if change.state != "pending":
        raise ConflictError(
            f"Key change {change_id} is already {change.state}.", code="key_change_decided"
        )
    return change


def confirm_key_change(
    session: Session, city_id: str, change_id: int, *, user: Actor | None, now: datetime
) -> KeyChange:
    """An official compared the new fingerprint with the twin out of band: the new keys become
    current (``source: notary``), the dropped ones are revoked."""
    require(user, "network.manage")
    change = _pending(session, city_id, change_id)
    twin = session.get(Peer, city_id)
    assert twin is not None  # the foreign key cascades: a change has its peer
    held = {k.key_id: k for k in twin.keys}
    for entry in change.new_keys:
        row = held.get(entry["key_id"])
        if row is None:
            twin.keys.append(
                PeerKey(
                    city_id=city_id,
                    key_id=entry["key_id"],
                    public_b64=entry["key"],
                    state="current",
                    source="notary",
                    first_seen=now,
                )
            )
        elif row.public_b64 == entry["key"]:
            row.state, row.revoked_ts = "current", None
    revoked_ts = int(now.timestamp() * 1000)
    for entry in change.old_keys:
        row = held.get(entry["key_id"])
        if row is not None and row.state != "revoked":
            row.state, row.revoked_ts = "revoked", revoked_ts
    change.state, change.decided_at, change.decided_by = "confirmed", now, user_label(user)
    session.flush()
    return change


def reject_key_change(
    session: Session, city_id: str, change_id: int, *, user: Actor | None, now: datetime
) -> KeyChange:
    """An official refused the change (the fingerprint did not match): nothing changes."""
    require(user, "network.manage")
    change = _pending(session, city_id, change_id)
    change.state, change.decided_at, change.decided_by = "rejected", now, user_label(user)
    session.flush()
    return change


def key_change_to_wire(change: KeyChange) -> dict[str, Any]:
    """A key change for the API and pages."""
    return {
        "id": change.id,
        "city_id": change.city_id,
        "old_keys": change.old_keys,
        "new_keys": change.new_keys,
        "directory_origin": change.directory_origin,
        "directory_seq": change.directory_seq,
        "state": change.state,
        "recorded_at": change.recorded_at,
        "decided_at": change.decided_at,
        "decided_by": change.decided_by,
    }
