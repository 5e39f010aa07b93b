"""Membership, run by the secretariat: applications (twinning requests sent to a secretariat),
admission, suspension, removal, lost-key recovery, and the signed directory of members.

A member is a peer of the secretariat node. Admission answers the application like an accepted
twinning; every change of the roster publishes a new signed directory to all active members,
who use it as the notary for each other's keys.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from federation import keys as fkeys
from node.config import NodeConfig
from node.errors import ConflictError, InvalidInputError
from node.network import port
from node.network.port import OutEnvelope, Peer, PeerKey
from node.permissions import Actor, require
from node.secretariat import benchmarks
from schemas.secretariat import DIRECTORY_STREAM, DIRECTORY_TYPE

DIRECTORY_VALIDITY = timedelta(days=7)
ACTIONS = {
    "admit": ("pending",),
    "decline": ("pending",),
    "suspend": ("active",),
    "reinstate": ("suspended",),
    "remove": ("active", "suspended", "pending"),
}


def _require_secretariat(config: NodeConfig) -> None:
    if config.role != "secretariat":
        raise ConflictError("Only a secretariat node manages members.", code="not_secretariat")


def members(session: Session) -> list[Peer]:
    return list(session.scalars(select(Peer).where(Peer.role == "city").order_by(Peer.city_id)))


def change_membership(
    session: Session,
    config: NodeConfig,
    city_id: str,
    action: str,
    *,
    user: Actor | None,
    now: datetime,
    region: str | None = None,
    reason: str | None = None,
) -> Peer:
    """Admit, decline (an application), suspend, reinstate or remove a member; publishes the
    new directory when the roster changed.

    ``reason`` (the pages ask for one to decline or suspend) is kept as the peer's ``note``,
    the secretariat's own record of its latest decision (a decision without one clears it);
    it is not sent to the city (the twinning answer's wire format carries no reason)."""
    _require_secretariat(config)
    require(user, "members.manage")
    if action not in ACTIONS:
        raise InvalidInputError(f"Unknown action {action}.", errors={"action": list(ACTIONS)})
    peer = port.get_peer(session, city_id)
    if peer.state not in ACTIONS[action]:
        raise ConflictError(
            f"{city_id} is {peer.state}; cannot {action}.", code="invalid_transition"
        )
    if action == "admit":
        if region:
            peer.region = region
        # Admission is the answer to the application: the city learns it is a member.
        port.answer_twinning(session, config, city_id, "accept", user=user, now=now)
    elif action == "decline":
        # The applicant learns the answer like a declined twinning; it was never a member, so
        # the roster (the directory, the benchmarks) does not change.
        port.answer_twinning(session, config, city_id, "decline", user=user, now=now)
        peer.note = reason or None
        peer.answered_at = now
        session.flush()
        return peer
    elif action == "suspend":
        peer.state = "suspended"  # its envelopes are refused from now on (not an active peer)
    elif action == "reinstate":
        peer.state = "active"
    else:
        if peer.state == "active":
            port.answer_twinning(session, config, city_id, "end", user=user, now=now)
        peer.state = "removed"
    peer.answered_at = now
    peer.note = reason or None  # the reason of the latest decision only (reinstating clears it)
    session.flush()
    publish_directory(session, config, now)
    # Who counts in the benchmarks (and in which region) may have changed: recompute now, in
    # the secretariat's own request, rather than in the next member's summary delivery.
    benchmarks.ensure_current(session, config, now)
    return peer


def rekey(
    session: Session,
    config: NodeConfig,
    city_id: str,
    key_b64: str,
    *,
    user: Actor | None,
    now: datetime,
) -> Peer:
    """Lost-key recovery: the secretariat vouches for a member's new key (checked out of band)
    and publishes it in a new directory; members accept it on the secretariat's signature."""
    _require_secretariat(config)
    require(user, "members.manage")
    peer = port.get_peer(session, city_id)
    if peer.state not in ("active", "suspended"):
        raise ConflictError(
            f"{city_id} is not a member.", code="not_a_member", params={"city": city_id}
        )
    try:
        raw = fkeys.b64decode_unpadded(key_b64)
        # Refuses small-order keys too: every member would trust this key on our word, and
        # under such a key anyone can forge the member's signatures.
        fkeys.public_key_from_raw(raw)
    except fkeys.WeakPublicKeyError as exc:
        raise InvalidInputError(
            f"Refused the new key for {city_id}: {exc}.",
            code="weak_public_key",
            errors={"key": [str(exc)]},
        ) from exc
    except ValueError as exc:
        raise InvalidInputError("Not an Ed25519 public key.", errors={"key": [str(exc)]}) from exc
    key_id = fkeys.key_id_for(raw)
    for key in peer.keys:
        if key.key_id != key_id and key.state != "revoked":
            # The lost key may be in someone else's hands: it must verify nothing any more.
            key.state, key.revoked_ts = "revoked", port.ms(now)
    if key_id not in {k.key_id for k in peer.keys}:
        peer.keys.append(
            PeerKey(
                city_id=city_id,
                key_id=key_id,
                public_b64=key_b64,
                state="current",
                source="notary",
                first_seen=now,
            )
        )
    session.flush()
    publish_directory(session, config, now)
    return peer


def directory_payload(session: Session, now: datetime) -> dict[str, Any]:
    listed = []
    for peer in members(session):
        if peer.state not in ("active", "suspended"):
            continue
        keys = [
            {"key_id": k.key_id, "key": k.public_b64, "state": k.state, "expired_ts": k.expired_ts}
            for k in sorted(peer.keys, key=lambda k: k.key_id)
            if k.state in ("current", "old")
        ]
        if not keys:
            continue
        listed.append(
            {
                "city_id": peer.city_id,
                "name": peer.name,
                "region": peer.region,
                "country": peer.country,
                "base_url": peer.base_url,
                "state": peer.state,
                "keys": keys,
            }
        )
    return {"members": listed, "valid_until_ts": port.ms(now + DIRECTORY_VALIDITY)}


def publish_directory(session: Session, config: NodeConfig, now: datetime) -> OutEnvelope:
    """Sign the current roster and queue it for every active member."""
    # Suspended members get it too: that is how a city learns it was suspended.
    audience = [p.city_id for p in members(session) if p.state in ("active", "suspended")]
    envelope = port.sign_and_store(
        session,
        config,
        type_=DIRECTORY_TYPE,
        schema=DIRECTORY_TYPE + "/1",
        stream=DIRECTORY_STREAM,
        payload=directory_payload(session, now),
        audience=audience,
        now=now,
    )
    port.queue(session, envelope, audience, now)
    return envelope
