"""Pull: catch up on what a twin addressed to us (after an outage, or a missed push).

A job (``pull_peers``, or ``hrcnet sync``) reads the twin's outbox with a signed request and
hands each envelope to the same inbox pipeline a push goes through (``node.network.inbox``),
with the app's handler registry (``NodeRuntime.inbound``). Unlike a request thread, the pull may
fetch a missing key at once (the key gate's third layer). Refusals leave their incidents
behind exactly as on push (``inbox.after_refusal``).
"""

from __future__ import annotations

import json
import logging

from sqlalchemy import select

from node.db import session_scope
from node.errors import DomainError
from node.network import inbox, keyfetch, keyring
from node.network.client import PeerClient
from node.network.models import Peer
from node.runtime import NodeRuntime

log = logging.getLogger(__name__)

PULL_PAGE = 100


def pull_from(node: NodeRuntime, city_id: str) -> tuple[int, str | None]:
    """Fetch what ``city_id`` addressed to us since the last pull and ingest it.

    Returns (envelopes accepted, error or None). Push and pull converge: the inbox treats an
    envelope it already has as a harmless duplicate.
    """
    accepted = 0
    with session_scope(node.sessions) as session:
        peer = session.get(Peer, city_id)
        if peer is not None and peer.state == "active":
            # Rotations and revocations first: the same fetch the key gate's third layer does.
            problem = keyfetch.fetch_and_apply(session, peer, node.now(), node.http_session)
            if problem:
                log.warning("keys of %s not refreshed: %s", city_id, problem)
    for _page in range(50):  # bounded: at most 50 pages per run
        with session_scope(node.sessions) as session:
            peer = session.get(Peer, city_id)
            if peer is None or peer.state != "active":
                return accepted, None
            since, base_url = peer.pulled_seq, peer.base_url
            signing = keyring.signers(session, node.config, node.now())
        client = PeerClient(
            node.config.city_id,
            signing.primary,
            node.http_session(),
            lambda: node.now().timestamp(),
        )
        outcome = client.get_outbox(base_url, since)
        if not outcome.delivered or not isinstance(outcome.body, dict):
            return accepted, f"HTTP {outcome.status} {outcome.code or ''}".strip()
        items = outcome.body.get("items")
        if not isinstance(items, list):
            return accepted, "malformed outbox page"
        highest = since
        stalled = False
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get("seq"), int):
                return accepted, "malformed outbox item"
            raw = json.dumps(item, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
            try:
                with session_scope(node.sessions) as session:
                    status = inbox.ingest_envelope(
                        session,
                        node.config,
                        raw,
                        registry=node.inbound,
                        now=node.now(),
                        via="pull",
                        sender=city_id,
                        http=node.http_session,
                    )
                accepted += status == 202
            except DomainError as refusal:
                if isinstance(refusal, inbox.InboxRefusal):
                    # The unit of work was rolled back: its incident is written now, as on push.
                    inbox.after_refusal(node.sessions, refusal)
                log.warning(
                    "pull from %s: seq %s refused: %s", city_id, item.get("seq"), refusal.code
                )
                if refusal.status in (401, 429) or refusal.status >= 500:
                    # Maybe temporary (a key we could not fetch yet): keep the cursor before
                    # this item so the next pull tries it again.
                    stalled = True
                    break
            highest = max(highest, item["seq"])
        with session_scope(node.sessions) as session:
            peer = session.get(Peer, city_id)
            if peer is not None:
                peer.pulled_seq = max(peer.pulled_seq, highest)
        if stalled or len(items) < PULL_PAGE:
            break
    return accepted, None


def pull_all(node: NodeRuntime) -> dict[str, tuple[int, str | None]]:
    """Pull from every active twin; city id → (envelopes accepted, error or None)."""
    with session_scope(node.sessions) as session:
        twins = list(session.scalars(select(Peer.city_id).where(Peer.state == "active")))
    return {city_id: pull_from(node, city_id) for city_id in twins}
