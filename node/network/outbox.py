"""Outgoing envelopes: sign and queue, deliver with per-destination backoff.

Delivery rules (see docs/protocol.md): one request in flight per destination, in ``seq`` order;
quick retries, then backoff kept in the database; 2xx or "duplicate" = done; 400/409/413/415/422
= dead letter shown to admins; 401/403 = back off (keys are refreshed by the pull); 429 honours
``Retry-After``; 5xx, timeouts, refused connections = back off. After a long outage (the peer
marked unavailable), only the newest revision per (stream, period) is sent. Catching up the
other way (pulling what twins addressed to us) is :mod:`node.network.pull`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from random import Random
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from federation import backoff
from federation.canonical import canonical_bytes
from federation.envelope import envelope_sha256, make_envelope, sign_envelope
from node.config import NodeConfig
from node.db import session_scope
from node.network import keyring
from node.network.client import Outcome, PeerClient
from node.network.models import OutboxItem, OutEnvelope, Peer
from node.runtime import NodeRuntime

log = logging.getLogger(__name__)

DELIVERY_LOCK_S = 120
# Per run and destination: stop starting new requests after this (each request has its own
# deadline, client.CALL_DEADLINE_S, and quick retries), well inside the delivery lock.
DESTINATION_BUDGET_S = 45.0
DELIVERY_THREADS = 4
MAX_ITEMS_PER_RUN = 200
_rng = Random()


def sign_and_store(
    session: Session,
    config: NodeConfig,
    *,
    type_: str,
    schema: str,
    stream: str,
    payload: dict[str, Any],
    audience: list[str],
    now: datetime,
    period: str | None = None,
    revision: int | None = None,
) -> OutEnvelope:
    """Build, sign (co-signing during a key rotation) and store one of our envelopes.

    The stored text is what every recipient gets, byte for byte, by push or by pull.
    """
    for _attempt in range(5):
        seq = (session.scalar(select(func.max(OutEnvelope.seq))) or 0) + 1
        signing = keyring.signers(session, config, now)
        envelope = make_envelope(
            type_,
            schema,
            config.city_id,
            stream,
            seq,
            keyring.ms(now),
            signing.primary.key_id,
            audience,
            payload,
        )
        envelope = sign_envelope(envelope, config.city_id, signing.primary)
        for extra in signing.co_signers:
            envelope = sign_envelope(envelope, config.city_id, extra)
        row = OutEnvelope(
            seq=seq,
            stream=stream,
            type=type_,
            created_ts=envelope["created_ts"],
            audience=audience,
            raw=canonical_bytes(envelope).decode("utf-8"),
            sha256=envelope_sha256(envelope),
            period=period,
            revision=revision,
        )
        try:
            with session.begin_nested():  # another process may have taken this seq
                session.add(row)
                session.flush()
        except IntegrityError:
            continue
        return row
    raise RuntimeError("could not allocate an envelope sequence number")


def queue(session: Session, envelope: OutEnvelope, destinations: list[str], now: datetime) -> None:
    """One outbox row per destination (persisted in the same transaction as the envelope)."""
    for city_id in destinations:
        session.add(
            OutboxItem(destination=city_id, seq=envelope.seq, state="pending", created_at=now)
        )
    session.flush()


# --- delivery -------------------------------------------------------------------------------------


@dataclass
class DeliveryReport:
    delivered: int = 0
    dead: int = 0
    skipped: int = 0
    failed_destinations: dict[str, str] = field(default_factory=dict)
    busy: list[str] = field(default_factory=list)  # another process is delivering there now

    def lines(self) -> list[str]:
        out = [f"delivered {self.delivered}, dead letters {self.dead}, superseded {self.skipped}"]
        out += [f"  {dest}: {err}" for dest, err in sorted(self.failed_destinations.items())]
        out += [
            f"  {dest}: skipped, another delivery run holds it (up to {DELIVERY_LOCK_S} s)"
            for dest in self.busy
        ]
        return out


def _claim(node: NodeRuntime, city_id: str, now: datetime, ignore_backoff: bool) -> bool:
    """Take the delivery lock for one destination: safe beside another process (serve + sync)."""
    with session_scope(node.sessions) as session:
        conditions = [
            Peer.city_id == city_id,
            (Peer.delivery_lock_until.is_(None)) | (Peer.delivery_lock_until < now),
        ]
        if not ignore_backoff:
            conditions.append((Peer.next_attempt_at.is_(None)) | (Peer.next_attempt_at <= now))
        result = session.execute(
            update(Peer)
            .where(*conditions)
            .values(delivery_lock_until=now + timedelta(seconds=DELIVERY_LOCK_S))
        )
        return bool(result.rowcount)


def _release(session: Session, peer: Peer) -> None:
    peer.delivery_lock_until = None


def _mark_success(peer: Peer, now: datetime) -> None:
    peer.failures = 0
    peer.first_failure_at = None
    peer.next_attempt_at = None
    peer.last_success_at = now
    peer.last_error = None
    peer.unavailable = False


def _mark_failure(peer: Peer, outcome: Outcome, now: datetime) -> None:
    peer.failures += 1
    peer.first_failure_at = peer.first_failure_at or now
    delay = backoff.backoff_delay(peer.failures, _rng)
    if outcome.status == 429 and outcome.retry_after_s is not None:
        delay = max(delay, min(outcome.retry_after_s, backoff.MAX_BACKOFF_S))
    peer.next_attempt_at = now + timedelta(seconds=delay)
    peer.last_error = f"HTTP {outcome.status} {outcome.code or ''} {outcome.detail or ''}".strip()
    failing_for = (now - peer.first_failure_at).total_seconds()
    peer.unavailable = backoff.is_unavailable(failing_for)


def _skip_superseded(session: Session, items: list[OutboxItem]) -> list[OutboxItem]:
    """After a long outage send only the newest revision per (stream, period)."""
    newest: dict[tuple[str, str], int] = {}
    for item in items:
        env = item.envelope
        if env.period is not None:
            key = (env.stream, env.period)
            newest[key] = max(newest.get(key, 0), env.seq)
    kept = []
    for item in items:
        env = item.envelope
        if env.period is not None and newest[(env.stream, env.period)] != env.seq:
            item.state = "skipped"
            continue
        kept.append(item)
    session.flush()
    return kept


def _post_with_quick_retries(
    client: PeerClient, base_url: str, raw: bytes, sleep: Any = time.sleep
) -> Outcome:
    outcome = client.post_envelope(base_url, raw)
    for delay in backoff.QUICK_RETRY_DELAYS_S:
        if outcome.delivered or outcome.permanent or outcome.status in (401, 403, 429):
            break
        sleep(backoff.jittered(delay, _rng))
        outcome = client.post_envelope(base_url, raw)
    return outcome


def deliver_to(
    node: NodeRuntime,
    city_id: str,
    *,
    ignore_backoff: bool = False,
    report: DeliveryReport | None = None,
    quick_retries: bool = True,
) -> DeliveryReport:
    """Drain the outbox of one destination, in ``seq`` order, one request at a time."""
    report = report or DeliveryReport()
    now = node.now()
    if not _claim(node, city_id, now, ignore_backoff):
        if ignore_backoff:
            report.busy.append(city_id)
        return report
    try:
        with session_scope(node.sessions) as session:
            peer = session.get(Peer, city_id)
            if peer is None:
                return report
            items = list(
                session.scalars(
                    select(OutboxItem)
                    .where(OutboxItem.destination == city_id, OutboxItem.state == "pending")
                    .order_by(OutboxItem.seq)
                    .limit(MAX_ITEMS_PER_RUN)
                )
            )
            if peer.unavailable:
                before = len(items)
                items = _skip_superseded(session, items)
                report.skipped += before - len(items)
            signing = keyring.signers(session, node.config, now)
            client = PeerClient(
                node.config.city_id,
                signing.primary,
                node.http_session(),
                lambda: node.now().timestamp(),
            )
            base_url = peer.base_url
        started = time.monotonic()
        for item_id, raw in [(i.id, i.envelope.raw.encode("utf-8")) for i in items]:
            if time.monotonic() - started > DESTINATION_BUDGET_S:
                # This destination had its share of the run; the rest stays queued, in order.
                break
            outcome = (
                _post_with_quick_retries(client, base_url, raw)
                if quick_retries
                else client.post_envelope(base_url, raw)
            )
            with session_scope(node.sessions) as session:
                item = session.get(OutboxItem, item_id)
                peer = session.get(Peer, city_id)
                assert item is not None and peer is not None
                item.attempts += 1
                item.last_status = outcome.status
                if outcome.delivered:
                    item.state, item.done_at = "delivered", node.now()
                    _mark_success(peer, node.now())
                    report.delivered += 1
                    continue
                item.last_error = f"{outcome.code or ''} {outcome.detail or ''}".strip()[:2000]
                if outcome.permanent:
                    # The peer refused these exact bytes; resending cannot help. Shown to admins.
                    item.state, item.done_at = "dead", node.now()
                    report.dead += 1
                    peer.last_error = (
                        f"dead letter seq {item.seq}: HTTP {outcome.status} {outcome.code or ''}"
                    )
                    continue
                _mark_failure(peer, outcome, node.now())
                report.failed_destinations[city_id] = peer.last_error or ""
                break  # keep seq order: nothing after a failed item goes before it
    finally:
        with session_scope(node.sessions) as session:
            peer = session.get(Peer, city_id)
            if peer is not None:
                _release(session, peer)
    return report


def destinations_with_pending(node: NodeRuntime) -> list[str]:
    with session_scope(node.sessions) as session:
        return list(
            session.scalars(
                select(OutboxItem.destination)
                .where(OutboxItem.state == "pending")
                .distinct()
                .order_by(OutboxItem.destination)
            )
        )


def deliver_outbox(node: NodeRuntime, *, ignore_backoff: bool = False) -> DeliveryReport:
    """One delivery run over every destination with pending envelopes.

    Destinations are served side by side by a small pool of threads, each destination by one
    thread (its claim keeps one request in flight, in seq order): a slow or dead twin holds
    only its own thread, for at most its time budget, never the deliveries to the others.
    """
    destinations = destinations_with_pending(node)
    reports = {city_id: DeliveryReport() for city_id in destinations}
    if len(destinations) <= 1:
        for city_id in destinations:
            deliver_to(node, city_id, ignore_backoff=ignore_backoff, report=reports[city_id])
    else:
        with ThreadPoolExecutor(
            max_workers=min(DELIVERY_THREADS, len(destinations)), thread_name_prefix="deliver"
        ) as pool:
            futures = [
                pool.submit(
                    deliver_to,
                    node,
                    city_id,
                    ignore_backoff=ignore_backoff,
                    report=reports[city_id],
                )
                for city_id in destinations
            ]
            for future in futures:
                future.result()  # re-raise a crash of one destination after all have run
    return _merge(reports[city_id] for city_id in destinations)


def _merge(parts: Iterable[DeliveryReport]) -> DeliveryReport:
    report = DeliveryReport()
    for part in parts:
        report.delivered += part.delivered
        report.dead += part.dead
        report.skipped += part.skipped
        report.failed_destinations.update(part.failed_destinations)
        report.busy.extend(part.busy)
    return report
