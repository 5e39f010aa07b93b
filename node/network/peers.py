"""Twinning: request, accept, decline and end, on our side and as told by the other side.

Deny by default: nothing is sent to, or accepted from, a city that is not an active twin (a
twinning request aside, which carries its sender's key document).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import requests
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from federation.envelope import KeyDocumentError, SignatureError, verify_key_document
from node.config import NodeConfig
from node.db import session_scope
from node.errors import ConflictError, DomainError, InvalidInputError, NotFoundError
from node.models import Indicator
from node.network import keyring, outbox, trust
from node.network.client import fetch_json
from node.network.models import OutboxItem, Peer, PeerDiscovery
from node.permissions import Actor, require
from node.runtime import NodeRuntime
from schemas.fields import CITY_ID_RE
from schemas.twinning import (
    TWINNING_ACCEPT,
    TWINNING_DECLINE,
    TWINNING_END,
    TWINNING_REQUEST,
    TWINNING_STREAM,
)

TWINNING_SCHEMA_SUFFIX = "/1"
log = logging.getLogger(__name__)


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
    """The rights our catalogue's indicators belong to (the themes a twinning may name)."""
    return set(session.scalars(select(Indicator.right).distinct()))


class TooManyRequestsError(DomainError):
    status = 429
    code = "too_many_requests"
    title = "Too many requests"


# Queued discoveries an official may have waiting at once (each one costs the job two GETs).
MAX_QUEUED_DISCOVERIES = 20
DISCOVERIES_PER_RUN = 10
DISCOVERY_RUN_BUDGET_S = 60.0


def queue_twinning_request(
    session: Session,
    config: NodeConfig,
    url: str,
    themes: list[str] | None,
    *,
    user: Actor | None,
    now: datetime,
) -> PeerDiscovery:
    """Ask the node at ``url`` to twin: queued, answered at once; the ``discover_peers`` job
    discovers it, pins its key and sends the signed request (:func:`complete_twinning_request`).

    No network call here: an official's page or API request must not wait for (or probe) the
    address typed in; the job's result and the partner's fingerprint show on the peers list.
    """
    require(user, "network.manage")
    themes = _check_themes(themes, known_themes(session))
    base = url.strip().rstrip("/")
    if base == config.base_url.rstrip("/"):
        raise InvalidInputError("That is this node's own address.", errors={"url": ["own node"]})
    queued = session.scalar(
        select(PeerDiscovery).where(PeerDiscovery.state == "queued", PeerDiscovery.url == base)
    )
    if queued is not None:
        return queued  # the same request twice before the job ran: one discovery
    waiting = session.scalar(
        select(func.count()).select_from(PeerDiscovery).where(PeerDiscovery.state == "queued")
    )
    if (waiting or 0) >= MAX_QUEUED_DISCOVERIES:
        raise TooManyRequestsError(
            f"{MAX_QUEUED_DISCOVERIES} twinning requests are already waiting to be checked; "
            "try again in a minute."
        )
    discovery = PeerDiscovery(
        url=base,
        themes=themes,
        state="queued",
        created_at=now,
        requested_by=str(getattr(user, "email", None) or "operator")[:200],
    )
    session.add(discovery)
    session.flush()
    return discovery


def complete_twinning_request(
    session: Session,
    config: NodeConfig,
    url: str,
    info: dict[str, Any],
    keydoc: Any,
    themes: list[str] | None,
    *,
    now: datetime,
    requested_by: str | None = None,
) -> Peer:
    """After discovery (in a job): check, pin the partner's key, set its fields, queue the
    signed twinning request through the outbox. ``requested_by``: the official who asked (the
    job acts for them; permission was checked when the request was queued)."""
    city_id = info["city_id"]
    if city_id == config.city_id:
        raise InvalidInputError("That is this node's own address.", errors={"url": ["own node"]})
    peer = session.get(Peer, city_id)
    if peer is not None and peer.state in ("active", "requested", "pending"):
        hint = " accept their request instead" if peer.state == "pending" else ""
        raise ConflictError(
            f"{city_id} is already {peer.state};{hint}".rstrip(";"),
            code=f"peer_{peer.state}",
            params={"city": city_id},
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
        session, config, peer, info.get("role"), by=requested_by or "operator", now=now
    )
    _send(session, config, peer, TWINNING_REQUEST, now, themes, with_keys=True)
    return peer


def _discover_for_official(
    http: Callable[[], requests.Session], url: str, now: datetime
) -> tuple[dict[str, Any], Any]:
    try:
        return discover(http(), url, now)
    except ValueError as exc:
        weak = isinstance(exc, KeyDocumentError) and exc.code == "weak_public_key"
        raise InvalidInputError(
            str(exc),
            code="weak_public_key" if weak else "peer_unreachable",
            errors={"url": [str(exc)]},
        ) from exc


def run_discoveries(node: NodeRuntime) -> str:
    """The ``discover_peers`` job: discover queued partners, pin their keys, send the requests.

    The network part runs outside any transaction; each outcome is stored on its queued row.
    """
    started = time.monotonic()
    with session_scope(node.sessions) as session:
        due = [
            (d.id, d.url, d.themes, d.requested_by)
            for d in session.scalars(
                select(PeerDiscovery)
                .where(PeerDiscovery.state == "queued")
                .order_by(PeerDiscovery.id)
                .limit(DISCOVERIES_PER_RUN)
            )
        ]
    done = failed = 0
    for discovery_id, url, themes, requested_by in due:
        if time.monotonic() - started > DISCOVERY_RUN_BUDGET_S:
            break
        if not _claim_discovery(node, discovery_id):
            continue  # another process (serve's scheduler beside ``hrcnet sync``) took it
        now = node.now()
        city_id: str | None = None
        problem: DomainError | None = None
        try:
            info, keydoc = _discover_for_official(node.http_session, url, now)
            # session_scope rolls back on a refusal: no half-made peer is left behind.
            with session_scope(node.sessions) as session:
                city_id = complete_twinning_request(
                    session,
                    node.config,
                    url,
                    info,
                    keydoc,
                    themes,
                    now=now,
                    requested_by=requested_by,
                ).city_id
        except DomainError as exc:
            problem = exc
        except Exception:  # noqa: BLE001 - one broken discovery must not stay "checking"
            log.exception("discovery of %s failed", url)
            problem = DomainError("The check failed unexpectedly; ask again later.")
        with session_scope(node.sessions) as session:
            discovery = session.get(PeerDiscovery, discovery_id)
            if discovery is None:
                continue
            discovery.checked_at = node.now()
            if problem is None:
                discovery.state, discovery.city_id = "requested", city_id
                discovery.reason = discovery.code = None
                done += 1
            else:
                discovery.state = "failed"
                discovery.reason, discovery.code = problem.detail[:2000], problem.code[:40]
                failed += 1
    return f"{done} twinning requests sent, {failed} failed"


def _claim_discovery(node: NodeRuntime, discovery_id: int) -> bool:
    # queued → checking in one UPDATE: exactly one process discovers a given request.
    with session_scope(node.sessions) as session:
        result = session.execute(
            update(PeerDiscovery)
            .where(PeerDiscovery.id == discovery_id, PeerDiscovery.state == "queued")
            .values(state="checking", checked_at=node.now())
        )
        return bool(getattr(result, "rowcount", 0))


def discovery_to_wire(session: Session, discovery: PeerDiscovery) -> dict[str, Any]:
    """A queued/checked twinning request as the API and the page show it."""
    peer = session.get(Peer, discovery.city_id) if discovery.city_id else None
    return {
        "id": discovery.id,
        "url": discovery.url,
        "themes": discovery.themes,
        "state": discovery.state,
        "reason": discovery.reason,
        "code": discovery.code,
        "city_id": discovery.city_id,
        "created_at": discovery.created_at,
        "checked_at": discovery.checked_at,
        "keys": keyring.fingerprints(peer) if peer is not None else [],
    }


def list_discoveries(session: Session, limit: int = 100) -> list[PeerDiscovery]:
    """Newest first: what the discovery job did with the twinning requests typed in."""
    return list(
        session.scalars(select(PeerDiscovery).order_by(PeerDiscovery.id.desc()).limit(limit))
    )


MAX_ROW_ID = 2**31 - 1  # an INTEGER column: larger ids cannot exist (PostgreSQL would refuse)


def get_discovery(session: Session, discovery_id: int) -> PeerDiscovery:
    """One queued twinning request, or 404 (also for ids no INTEGER column can hold)."""
    discovery = session.get(PeerDiscovery, discovery_id) if 0 < discovery_id <= MAX_ROW_ID else None
    if discovery is None:
        raise NotFoundError(f"No twinning request {discovery_id}.", code="not_found")
    return discovery


def get_peer(session: Session, city_id: str) -> Peer:
    peer = session.get(Peer, city_id)
    if peer is None:
        raise NotFoundError(
            f"No peer '{city_id}'.", code="peer_not_found", params={"city": city_id}
        )
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
