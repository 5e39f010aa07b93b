"""``/federation/v1``: our key document, the inbox, and the outbox for pulls — the transport.

The first layer of the inbound path (docs/architecture.md): size (the app's body limit), rate
(per origin), and the RFC 9421 request signature of the calling node (``federation.httpsig``),
its key given by the key gate (``node.network.keygate``); unsigned or badly signed requests get
401 before anything else. The envelope itself then goes through the inbox pipeline
(``node.network.inbox``) with the app's handler registry.
"""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict, deque

from flask import Blueprint, Response, request
from sqlalchemy import select

from federation import httpsig
from federation.canonical import CanonicalJSONError, loads_strict
from node.errors_http import problem_response
from node.network import inbox, keyring
from node.network.keygate import KeyGate
from node.network.models import OutboxItem, OutEnvelope, Peer
from node.runtime import db_session, now, runtime

bp = Blueprint("federation", __name__, url_prefix="/federation/v1")

RATE_LIMIT_PER_MINUTE = 600
OUTBOX_PAGE = 100


class RateLimiter:
    """Per-origin sliding window (per worker process): a noisy peer cannot starve the node."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._hits: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def allow(self, origin: str) -> bool:
        with self._lock:
            hits, moment = self._hits[origin], time.monotonic()
            while hits and moment - hits[0] > 60:
                hits.popleft()
            if len(hits) >= self.per_minute:
                return False
            hits.append(moment)
            return True


LIMITER = RateLimiter(RATE_LIMIT_PER_MINUTE)


def _problem(
    status: int, code: str, detail: str, headers: dict[str, str] | None = None
) -> Response:
    return problem_response(
        {
            "type": f"https://hrcnet.org/problems/{code.replace('_', '-')}",
            "title": "Request refused",
            "status": status,
            "detail": detail,
            "code": code,
        },
        headers,
    )


def _target_uri() -> str:
    # The URI the sender signed: our public base URL + path (we may sit behind a proxy).
    query = request.query_string.decode("latin-1")
    return runtime().config.base_url + request.path + (f"?{query}" if query else "")


def _verify_request(body: bytes | None, keys: KeyGate) -> tuple[str, str]:
    # A known peer signing with a key we have not seen (it rotated): no fetch here, a request
    # thread never calls out (a hostile key server would hold this worker). The gate notes the
    # key; the caller queues it for the fetch_peer_keys job; the sender's retry verifies.
    return httpsig.verify_request(
        request.method,
        _target_uri(),
        request.headers,
        body,
        keys.request_key,
        int(now().timestamp()),
    )


@bp.get("/keys")
def keys() -> Response:
    document = keyring.own_key_document(db_session(), runtime().config, now())
    return Response(
        json.dumps(document), mimetype="application/json", headers={"Cache-Control": "max-age=300"}
    )


def _embedded_request_key(body: bytes) -> dict[tuple[str, str], bytes] | None:
    """A twinning request's sender is unknown to us: its request is checked against the key
    document inside the envelope (itself verified before anything is stored)."""
    try:
        envelope = loads_strict(body)
    except CanonicalJSONError as exc:
        if exc.code in ("invalid_json", "invalid_utf8"):
            return None
        # Valid JSON that breaks a rule no signature can mend (a lone surrogate, nesting beyond
        # 64, duplicate keys...): refused for good with 422 whoever sent it, so a sender's
        # outbox dead-letters it instead of retrying on a 401 forever.
        raise inbox.refuse(422, exc.code, f"The envelope breaks the JSON rules: {exc}") from exc
    if not isinstance(envelope, dict) or envelope.get("type") != "hrc.twinning.request":
        return None
    try:
        keydoc = inbox.embedded_key_document(envelope, now())
    except inbox.InboxRefusal as refusal:
        if refusal.code == "weak_public_key":
            # No request signature can be checked against such a document, and an "unknown
            # key" answer would make the sender retry forever: say why, once, for good.
            raise
        return None
    return {(keydoc.origin, kid): raw for kid, raw in keydoc.verify_keys.items()}


@bp.post("/inbox")
def post_inbox() -> Response:
    body = request.get_data(cache=False)  # the app's MAX_CONTENT_LENGTH already gave 413
    node = runtime()
    session = db_session()
    keys = KeyGate(session, now())
    try:
        keys.embedded.update(_embedded_request_key(body) or {})
        origin, _key_id = _verify_request(body, keys)
    except httpsig.RequestSignatureError as exc:
        keys.queue_missing(node.sessions)
        return _problem(401, exc.code, f"Request signature refused: {exc}")
    except inbox.InboxRefusal as refusal:
        return problem_response(refusal.to_problem())
    if not LIMITER.allow(origin):
        return _problem(429, "rate_limited", "Too many requests; slow down.", {"Retry-After": "30"})
    try:
        # The request's gate never fetches: an unknown envelope key is refused at once, and
        # queued for the job by after_refusal.
        status = inbox.ingest_envelope(
            session,
            node.config,
            body,
            registry=node.inbound,
            now=now(),
            via="push",
            sender=origin,
            keys=keys,
        )
    except inbox.InboxRefusal as refusal:
        session.rollback()  # first: this unit of work may hold SQLite's write lock
        inbox.after_refusal(node.sessions, refusal, keys)
        return problem_response(refusal.to_problem())
    session.commit()
    result = {"status": "accepted" if status == 202 else "duplicate"}
    return Response(json.dumps(result), status=status, mimetype="application/json")


@bp.get("/outbox")
def get_outbox() -> Response:
    since_text = request.args.get("since", "0")
    if not since_text.isdigit() or len(since_text) > 16:
        return _problem(400, "invalid_since", "since must be a non-negative integer.")
    session = db_session()
    keys = KeyGate(session, now())
    try:
        origin, _key_id = _verify_request(None, keys)
    except httpsig.RequestSignatureError as exc:
        keys.queue_missing(runtime().sessions)
        return _problem(401, exc.code, f"Request signature refused: {exc}")
    peer = session.get(Peer, origin)
    if peer is None or peer.state != "active":
        return _problem(403, "not_twinned", f"{origin} is not an active twin of this node.")
    # Only envelopes that were queued for this peer (audience), in seq order.
    rows = session.scalars(
        select(OutEnvelope)
        .join(OutboxItem, OutboxItem.seq == OutEnvelope.seq)
        .where(
            OutboxItem.destination == origin,
            OutEnvelope.seq > int(since_text),
            OutboxItem.state != "skipped",
        )
        .order_by(OutEnvelope.seq)
        .limit(OUTBOX_PAGE)
    )
    items = [row.raw for row in rows]
    body = '{"items":[' + ",".join(items) + "]}"  # the stored bytes, verbatim
    return Response(body, mimetype="application/json")
