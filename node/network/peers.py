"""Twinning: request, accept, decline and end, on our side and as told by the other side.

Deny by default: nothing is sent to, or accepted from, a city that is not an active twin (a
twinning request aside, which carries its sender's key document).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import requests
from sqlalchemy import select
from sqlalchemy.orm import Session

from federation.envelope import KeyDocumentError, SignatureError, verify_key_document
from node.config import NodeConfig
from node.errors import ConflictError, InvalidInputError, NotFoundError
from node.network import keyring, outbox, trust
from node.network.client import fetch_json
from node.network.models import OutboxItem, Peer
from node.permissions import Actor, require
from schemas.fields import CITY_ID_RE
from schemas.twinning import (
    TWINNING_ACCEPT,
    TWINNING_DECLINE,
    TWINNING_END,
    TWINNING_REQUEST,
    TWINNING_STREAM,
)

TWINNING_SCHEMA_SUFFIX = "/1"


def node_info(config: NodeConfig) -> dict[str, Any]:
    return {
        "city_id": config.city_id,
        "name": config.name,
        "country": config.country,
        "region": config.region,
        "role": config.role,
        "base_url": config.base_url,
    }


def discover(http: requests.Session, url: str, now: datetime) -> tuple[dict[str, Any], Any]:
    """Read a node's ``/.well-known/hrcnet`` and its key document; verify the latter."""
    base = url.rstrip("/")
    info = fetch_json(http, f"{base}/.well-known/hrcnet")
    if (
        not isinstance(info, dict)
        or not isinstance(info.get("city_id"), str)
        or not CITY_ID_RE.match(info["city_id"])
    ):
        raise ValueError(f"{base} is not an hrcnet node (no valid /.well-known/hrcnet).")
    document = fetch_json(http, info.get("keys") or f"{base}/federation/v1/keys")
    try:
        keydoc = verify_key_document(document, info["city_id"], keyring.ms(now))
    except (KeyDocumentError, SignatureError) as exc:
        # Same class and code, a message naming the node: the caller tells a weak key apart.
        raise type(exc)(f"{base}'s key document does not verify: {exc}", exc.code) from exc
    return info, keydoc


def _send(
    session: Session,
    config: NodeConfig,
    peer: Peer,
    type_: str,
    now: datetime,
    themes: list[str] | None,
    with_keys: bool = False,
) -> None:
    payload: dict[str, Any] = {"node": node_info(config), "themes": themes}
    if with_keys:
        payload["key_document"] = keyring.own_key_document(session, config, now)
    envelope = outbox.sign_and_store(
        session,
        config,
        type_=type_,
        schema=type_ + TWINNING_SCHEMA_SUFFIX,
        stream=TWINNING_STREAM,
        payload=payload,
        audience=[peer.city_id],
        now=now,
    )
    outbox.queue(session, envelope, [peer.city_id], now)


def _check_themes(themes: list[str] | None, known: set[str]) -> list[str] | None:
    if themes is None:
        return None
    unknown = sorted(set(themes) - known)
    if unknown:
        raise InvalidInputError(
            "Unknown themes.",
            errors={"themes": [f"'{t}' is not the right of any indicator" for t in unknown]},
        )
    return sorted(set(themes))


def known_themes(session: Session) -> set[str]:
    from node.services import catalogue

    return {i.right for i in catalogue.list_indicators(session)}


def request_twinning(
    session: Session,
    config: NodeConfig,
    url: str,
    themes: list[str] | None,
    *,
    user: Actor | None,
    now: datetime,
    http: Callable[[], requests.Session],
) -> Peer:
    """Ask the node at ``url`` to twin: discover it, pin its key, send a signed request.

    The discovery is the one network call made during an API request, on purpose: the official
    must see the partner's fingerprint at once to compare it out of band. It is two small GETs
    with short timeouts; the request itself goes through the outbox.
    """
    require(user, "network.manage")
    themes = _check_themes(themes, known_themes(session))
    try:
        info, keydoc = discover(http(), url, now)
    except ValueError as exc:
        weak = isinstance(exc, KeyDocumentError) and exc.code == "weak_public_key"
        raise InvalidInputError(
            str(exc),
            code="weak_public_key" if weak else "peer_unreachable",
            errors={"url": [str(exc)]},
        ) from exc
    city_id = info["city_id"]
    if city_id == config.city_id:
        raise InvalidInputError("That is this node's own address.", errors={"url": ["own node"]})
    peer = session.get(Peer, city_id)
    if peer is not None and peer.state in ("active", "requested", "pending"):
        hint = " accept their request instead" if peer.state == "pending" else ""
        raise ConflictError(
            f"{city_id} is already {peer.state};{hint}".rstrip(";"), code=f"peer_{peer.state}"
        )
    if peer is None:
        peer = Peer(city_id=city_id, requested_at=now, failures=0, pulled_seq=0, unavailable=False)
        session.add(peer)
    else:
        for key in list(peer.keys):
            peer.keys.remove(key)
    peer.name = str(info.get("name") or city_id)[:200]
    peer.base_url = str(info.get("base_url") or url).rstrip("/")
    peer.country, peer.region = info.get("country"), info.get("region")
    # A discovered role decides nothing (anyone can serve a well-known saying "secretariat"):
    # the peer is a city until it becomes the pinned secretariat (node.network.trust).
    if peer.role != "secretariat" or not trust.is_pinned_secretariat(session, city_id):
        peer.role = "city"
    peer.state, peer.themes, peer.requested_at, peer.answered_at = "requested", themes, now, None
    session.flush()
    try:
        keyring.apply_key_document(
            session, peer, keydoc, now=now, source="pinned", first_contact=True
        )
    except keyring.KeyTrustError as exc:
        raise InvalidInputError(exc.detail, code=exc.code, errors={"url": [exc.detail]}) from exc
    # Applying to a node that presents itself as a secretariat is a membership application:
    # remembered with the key pinned now, trusted only once that node admits us.
    trust.on_repin(session, peer, now)
    trust.note_application(
        session, config, peer, info.get("role"), by=trust.user_label(user), now=now
    )
    _send(session, config, peer, TWINNING_REQUEST, now, themes, with_keys=True)
    return peer


def get_peer(session: Session, city_id: str) -> Peer:
    peer = session.get(Peer, city_id)
    if peer is None:
        raise NotFoundError(f"No peer '{city_id}'.", code="peer_not_found")
    return peer


def answer(
    session: Session,
    config: NodeConfig,
    city_id: str,
    decision: str,
    *,
    themes: list[str] | None = None,
    user: Actor | None,
    now: datetime,
) -> Peer:
    """Accept (optionally narrowing the themes) or decline a pending request; or end a twinning."""
    require(user, "network.manage")
    peer = get_peer(session, city_id)
    if decision in ("accept", "decline") and peer.state != "pending":
        raise ConflictError(
            f"There is no pending request from {city_id} ({peer.state}).", code="invalid_transition"
        )
    if decision == "end" and peer.state not in ("active", "requested", "pending"):
        raise ConflictError(
            f"The twinning with {city_id} is {peer.state}.", code="invalid_transition"
        )
    if decision == "accept":
        agreed = _check_themes(themes, known_themes(session)) if themes is not None else peer.themes
        if peer.themes is not None and agreed is not None and not set(agreed) <= set(peer.themes):
            raise InvalidInputError(
                "Accepted themes must be among the requested ones.",
                errors={"themes": [f"requested: {peer.themes}"]},
            )
        if peer.themes is not None and agreed is None:
            agreed = peer.themes
        peer.state, peer.themes = "active", agreed
        _send(session, config, peer, TWINNING_ACCEPT, now, agreed, with_keys=True)
    elif decision == "decline":
        peer.state = "declined"
        _send(session, config, peer, TWINNING_DECLINE, now, peer.themes)
    else:
        peer.state = "ended"
        _send(session, config, peer, TWINNING_END, now, peer.themes)
    peer.answered_at = now
    session.flush()
    return peer


class RemoteTransitionError(ConflictError):
    code = "invalid_transition"


def apply_remote(
    session: Session, peer: Peer, type_: str, payload: dict[str, Any], now: datetime
) -> None:
    """What the other side told us, checked against our state."""
    if type_ == TWINNING_REQUEST:
        if peer.state == "active":
            raise RemoteTransitionError(f"{peer.city_id} is already an active twin.")
        peer.state, peer.themes, peer.requested_at = "pending", payload.get("themes"), now
    elif type_ == TWINNING_ACCEPT:
        # "pending" too: both cities may have asked each other at the same time.
        if peer.state not in ("requested", "pending"):
            raise RemoteTransitionError(f"We have no open request to {peer.city_id}.")
        agreed = payload.get("themes")
        if peer.themes is not None and (agreed is None or not set(agreed) <= set(peer.themes)):
            raise RemoteTransitionError("The accepted themes are not among those we asked for.")
        peer.state, peer.themes, peer.answered_at = "active", agreed, now
        trust.on_admission(session, peer, now)
    elif type_ == TWINNING_DECLINE:
        if peer.state != "requested":
            raise RemoteTransitionError(f"We have no open request to {peer.city_id}.")
        peer.state, peer.answered_at = "declined", now
    elif type_ == TWINNING_END:
        if peer.state not in ("active", "requested", "pending"):
            raise RemoteTransitionError(f"The twinning with {peer.city_id} is {peer.state}.")
        peer.state, peer.answered_at = "ended", now
        # Nothing more goes to a city that ended the twinning.
        for item in session.scalars(
            select(OutboxItem).where(
                OutboxItem.destination == peer.city_id, OutboxItem.state == "pending"
            )
        ):
            item.state = "skipped"
    session.flush()


def active_twins(session: Session) -> list[Peer]:
    return list(session.scalars(select(Peer).where(Peer.state == "active").order_by(Peer.city_id)))


def list_peers(session: Session) -> list[Peer]:
    return list(session.scalars(select(Peer).order_by(Peer.city_id)))


def peer_to_wire(peer: Peer, session: Session | None = None) -> dict[str, Any]:
    """A peer for the API and pages; with ``session``, whether it is our secretariat."""
    anchor = trust.anchor(session) if session is not None else None
    return {
        "city_id": peer.city_id,
        "name": peer.name,
        "base_url": peer.base_url,
        "country": peer.country,
        "region": peer.region,
        "role": peer.role,
        "state": peer.state,
        "themes": peer.themes,
        "requested_at": peer.requested_at,
        "answered_at": peer.answered_at,
        "keys": keyring.fingerprints(peer),
        # "pinned": the secretariat this node trusts; "applied": asked to join, not admitted yet
        "secretariat": anchor.state
        if anchor is not None and anchor.city_id == peer.city_id
        else None,
    }
