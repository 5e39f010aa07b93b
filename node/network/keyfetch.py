"""Unknown key ids: queued by the request thread, fetched by a job.

A request signed with a key id we do not know is answered 401 ``unknown_key`` at once; the
origin is remembered here so that the ``fetch_peer_keys`` job reads its key document (through
the bounded outbound client) and applies it with the normal trust rules. The sender's retry
then verifies. The request thread never makes a network call: a stranger's slow or huge key
server can only slow the job, never a worker that serves pages or the inbox.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta

import requests
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from federation.envelope import KeyDocumentError, SignatureError, verify_key_document
from node.db import session_scope
from node.network import keyring
from node.network.client import fetch_json
from node.network.models import KeyFetch, Peer
from node.runtime import NodeRuntime

log = logging.getLogger(__name__)

# Only peers we already talk to may have their key documents fetched: the inbox's allow check
# (active twins; twinning messages from requested/pending peers) runs before the key lookup.
FETCHABLE_STATES = ("active", "requested", "pending")
MAX_QUEUED = 500  # more than any real network's twins; bounds the table if the cap is raised
MAX_ATTEMPTS = 5
RETRY_AFTER_S = 60
FETCHES_PER_RUN = 20
RUN_BUDGET_S = 60.0  # the job stops starting new fetches after this (each one has a deadline)
CLAIM_S = 120  # longer than one fetch's deadline: a crashed run's claim simply expires


def queue_key_fetch(
    sessions: sessionmaker[Session], origin: str, key_id: str, now: datetime
) -> bool:
    """Remember that ``origin`` signed with ``key_id`` we do not have. True when queued.

    Runs in its own short transaction: the request that triggered it is refused (and its own
    unit of work rolled back), but the fetch must still happen.
    """
    try:
        with session_scope(sessions) as session:
            peer = session.get(Peer, origin)
            if peer is None or peer.state not in FETCHABLE_STATES:
                return False
            existing = session.get(KeyFetch, origin)
            if existing is not None:
                existing.key_id = key_id[:64]
                return True
            queued = session.scalar(select(func.count()).select_from(KeyFetch)) or 0
            if queued >= MAX_QUEUED:
                log.warning("key fetch queue full; %s not queued", origin)
                return False
            session.add(KeyFetch(origin=origin, key_id=key_id[:64], queued_at=now, attempts=0))
    except IntegrityError:
        return True  # another worker queued the same origin at the same moment: deduplicated
    return True


def fetch_and_apply(
    session: Session, peer: Peer, now: datetime, http: Callable[[], requests.Session]
) -> str | None:
    """Read ``peer``'s key document and apply it (trust rules of keyring); None on success."""
    try:
        document = fetch_json(http(), f"{peer.base_url}/federation/v1/keys")
        keydoc = verify_key_document(document, peer.city_id, keyring.ms(now))
        with session.begin_nested():  # a document the trust rules refuse changes nothing
            keyring.apply_key_document(session, peer, keydoc, now=now, source="key_document")
    except (ValueError, KeyDocumentError, SignatureError, keyring.KeyTrustError) as exc:
        return str(exc)
    return None


def run_key_fetches(node: NodeRuntime) -> str:
    """The ``fetch_peer_keys`` job: fetch the queued key documents, oldest first, bounded."""
    started = time.monotonic()
    now = node.now()
    with session_scope(node.sessions) as session:
        due = list(
            session.scalars(
                select(KeyFetch.origin)
                .where((KeyFetch.next_attempt_at.is_(None)) | (KeyFetch.next_attempt_at <= now))
                .order_by(KeyFetch.queued_at, KeyFetch.origin)
                .limit(FETCHES_PER_RUN)
            )
        )
    fetched, failed = 0, 0
    for origin in due:
        if time.monotonic() - started > RUN_BUDGET_S:
            break
        if not _claim(node, origin):
            continue  # another process (serve's scheduler beside ``hrcnet sync``) has it
        with session_scope(node.sessions) as session:
            peer = session.get(Peer, origin)
            if peer is None or peer.state not in FETCHABLE_STATES:
                session.execute(delete(KeyFetch).where(KeyFetch.origin == origin))
                continue
            problem = fetch_and_apply(session, peer, node.now(), node.http_session)
            if problem is None:
                session.execute(delete(KeyFetch).where(KeyFetch.origin == origin))
                fetched += 1
                continue
            failed += 1
            log.warning("key document of %s not usable: %s", origin, problem)
        with session_scope(node.sessions) as session:
            row = session.get(KeyFetch, origin)
            if row is None:
                continue
            row.attempts += 1
            row.last_error = problem[:2000]
            if row.attempts >= MAX_ATTEMPTS:
                # Given up; the sender's next retry (another unknown-key refusal) queues it again.
                session.execute(delete(KeyFetch).where(KeyFetch.origin == origin))
            else:
                row.next_attempt_at = node.now() + timedelta(seconds=RETRY_AFTER_S * row.attempts)
    return f"{fetched} key documents applied, {failed} failed, {len(due)} due"


def _claim(node: NodeRuntime, origin: str) -> bool:
    """Take one queued fetch for this run (one process fetches a given origin at a time)."""
    now = node.now()
    with session_scope(node.sessions) as session:
        result = session.execute(
            update(KeyFetch)
            .where(
                KeyFetch.origin == origin,
                (KeyFetch.next_attempt_at.is_(None)) | (KeyFetch.next_attempt_at <= now),
            )
            .values(next_attempt_at=now + timedelta(seconds=CLAIM_S))
        )
        return bool(getattr(result, "rowcount", 0))
