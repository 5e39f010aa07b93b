"""The inbox pipeline: every envelope from another node is verified and stored here, or refused.

Layers (docs/architecture.md): the transport (``blueprint.py`` for a push: size, rate, request
signature; ``pull.py`` for a pull) hands the raw bytes to :func:`ingest_envelope`, which runs the
checks below once each, then hands the verified envelope to the handler the feature registered
for its type (``node.network.registry``), which stores it.

Order of checks (each refusal is problem+json with a specific ``code``; nothing is half-stored,
because storing happens last, in the caller's single transaction):

1. size (the app's body limit, 413) → 2. strict parse (duplicate keys, NaN, floats, unsafe
integers: 400/422), once → 3. envelope shape (422) → 4. the sender may post to us at all (deny by
default: active twins; twinning requests from anyone, carrying their key document) (403) →
4b. documents only the pinned secretariat may send (403 ``not_secretariat``) →
5. key, through the one key gate (``node.network.keygate``: pinned, or the origin's key document
fetched by a job) (401) → 6. signature, over the signing bytes canonicalised once (401) →
7. not dated in the future (422) → 8. replay / equivocation / rollback, on the sha256 of those
same bytes (200 duplicate / 409, an incident is recorded) → 9. the route: stream (422
``wrong_stream``), type (422 ``unknown_type``), envelope schema (422 ``unsupported_schema``),
payload loaded with the route's schema (422 ``invalid_payload``) → 10. the handler (scope, then
store the envelope verbatim and its parsed rows) and its listeners; 202.

A refusal is raised as :class:`InboxRefusal`; what it must leave behind (an equivocation or
rollback incident, a key fetch for the job) survives the rollback of the refused unit of work
through :func:`after_refusal`, which push and pull both call.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any, cast

import requests
from marshmallow import ValidationError
from sqlalchemy import Table, bindparam, func, insert, inspect, select
from sqlalchemy.orm import Session, make_transient_to_detached, sessionmaker

from federation.canonical import (
    FAST_JCS,
    INVALID,
    CanonicalJSONError,
    canonical_bytes,
    check_payload_rules,
    fast_canonical_bytes,
    loads_federated,
    loads_strict,
)
from federation.envelope import (
    UNSIGNED_FIELDS,
    EnvelopeError,
    KeyDocument,
    KeyDocumentError,
    SignatureError,
    check_created_ts,
    validate_envelope,
    verify_envelope,
    verify_key_document,
)
from node.config import NodeConfig
from node.db import session_scope
from node.errors import DomainError
from node.network import keyring, trust
from node.network.keygate import KeyGate, KeyLookup
from node.network.models import FederationIncident, InEnvelope, Peer
from node.network.registry import Inbound, InboundRegistry
from schemas.keys import mentions_weak_key
from schemas.secretariat import NETWORK_AUDIENCE
from schemas.twinning import TwinningPayloadSchema

log = logging.getLogger(__name__)


MAX_STREAM_LENGTH = 40  # the width of the stored column


class InboxRefusal(DomainError):
    """An envelope we do not accept; ``code`` says exactly why.

    ``incident`` is what the refusal must leave on record (equivocation, rollback): it travels
    with the exception because the refused unit of work is rolled back (see after_refusal).
    """

    title = "Envelope refused"
    incident: dict[str, Any] | None = None


def refuse(status: int, code: str, detail: str) -> InboxRefusal:
    """The refusal of an envelope, with its HTTP status and machine ``code``."""
    return InboxRefusal(detail, code=code, status=status)


def parse(raw: bytes) -> dict[str, Any]:
    """Strict parse + envelope shape + payload rules; refusals carry the parser's code."""
    return _parse(raw)[0]


def _parse(raw: bytes) -> tuple[dict[str, Any], int]:
    """:func:`parse`, and the verdict of its one tree walk (``FAST_JCS``: the signing bytes
    may be written by the fast encoder without walking the document again)."""
    try:
        envelope, verdict = loads_federated(raw)
    except CanonicalJSONError as exc:
        status = 400 if exc.code in ("invalid_json", "invalid_utf8") else 422
        raise refuse(status, exc.code, f"The envelope is not acceptable JSON: {exc}") from exc
    try:
        # One walk instead of four (issue 14): when the parse's strict walk found the whole
        # envelope within the payload rules, its signed part is too. Otherwise the checks
        # run in their usual order, so a refusal keeps its code and wording.
        validate_envelope(envelope, payload_rules_checked=verdict != INVALID)
        if verdict == INVALID:
            check_payload_rules(envelope)
    except CanonicalJSONError as exc:
        raise refuse(422, exc.code, f"The envelope breaks the payload rules: {exc}") from exc
    except EnvelopeError as exc:
        raise refuse(422, exc.code, f"The envelope is malformed: {exc}") from exc
    assert isinstance(envelope, dict)
    return envelope, verdict


def embedded_key_document(envelope: dict[str, Any], now: datetime) -> KeyDocument:
    """The key document a twinning request carries (its sender is not known to us yet)."""
    payload = envelope.get("payload") or {}
    try:
        return verify_key_document(payload.get("key_document"), envelope["origin"], keyring.ms(now))
    except (KeyDocumentError, SignatureError) as exc:
        if exc.code == "weak_public_key":
            # Permanent (422, so the sender's outbox dead-letters it instead of retrying): a
            # small-order key could sign anything, the request itself proves nothing.
            raise refuse(
                422, "weak_public_key", f"The twinning request's key document: {exc}"
            ) from exc
        raise refuse(
            401,
            "invalid_key_document",
            f"The twinning request's key document does not verify: {exc}",
        ) from exc


def _signing_bytes(envelope: dict[str, Any], verdict: int = INVALID) -> bytes:
    """The envelope's signed bytes (RFC 8785), computed once: verified and hashed alike.

    The same bytes as ``federation.envelope.envelope_signing_bytes``, whose payload-rule walk
    ``parse`` already did on the whole envelope. ``verdict`` is that walk's: ``FAST_JCS`` holds
    for any part of the envelope (no float, no key beyond U+FFFF anywhere), so the signed part
    goes straight to the fast encoder that ``canonical_bytes`` would have chosen.
    """
    signed = {k: v for k, v in envelope.items() if k not in UNSIGNED_FIELDS}
    if verdict == FAST_JCS:
        return fast_canonical_bytes(signed)
    try:
        return canonical_bytes(signed)
    except CanonicalJSONError as exc:  # parse() checked the payload rules: not expected
        raise refuse(422, exc.code, f"The envelope breaks the payload rules: {exc}") from exc


def _verify(
    envelope: dict[str, Any],
    keys: KeyGate,
    signing_bytes: bytes,
    facts: keyring.PeerFacts | None = None,
) -> None:
    origin, key_id = envelope["origin"], envelope["key_id"]
    # The origin's keys as read with its peer row (the same rule as the gate's local pins,
    # keyring.usable_key, on the same rows in the same unit of work); a key not found there
    # goes through the gate, which may fetch it (a job) or note it for the job (a request).
    lookup: KeyLookup
    if facts is not None and facts.document_key(key_id, envelope["created_ts"]) is not None:
        lookup = facts.lookup
    else:
        # The gate fetches the origin's key document when it belongs to a job (the pull); on a
        # request thread it only notes the key, and the blueprint queues it after the refusal.
        if keys.document_key(origin, key_id, envelope["created_ts"]) is None:
            raise refuse(
                401,
                "unknown_key",
                f"{origin}'s key {key_id} is unknown, revoked or expired for this document.",
            )
        lookup = keys.lookup_for(origin)
    try:
        # parse() validated this dict's shape and nothing changed it since.
        verify_envelope(envelope, lookup, signing_bytes=signing_bytes, shape_checked=True)
    except SignatureError as exc:
        raise refuse(
            401, exc.code or "bad_signature", f"The signature of {origin} does not verify."
        ) from exc


def ingest_envelope(
    session: Session,
    config: NodeConfig,
    raw: bytes,
    *,
    registry: InboundRegistry,
    now: datetime,
    via: str,
    sender: str | None,
    http: Callable[[], requests.Session] | None = None,
    keys: KeyGate | None = None,
) -> int:
    """Verify and store one envelope. Returns 202 (accepted) or 200 (exact duplicate).

    ``sender`` is who the transport says sent it (the request signature's origin on push, the
    node we pulled from on pull); it must be the envelope's origin. ``keys`` is the transport's
    key gate (a request's, which never fetches); without it a gate is made here, fetching a
    missing key at once when ``http`` is given (jobs only). Flushes, never commits; on a refusal
    the caller rolls back and then calls :func:`after_refusal`.
    """
    envelope, verdict = _parse(raw)
    origin, stream, seq = envelope["origin"], envelope["stream"], envelope["seq"]
    if not 0 < len(stream) <= MAX_STREAM_LENGTH or len(envelope["type"]) > MAX_STREAM_LENGTH:
        raise refuse(422, "invalid_field", "stream and type are 1-40 characters.")
    if sender is not None and sender != origin:
        raise refuse(403, "origin_mismatch", f"{sender} cannot deliver {origin}'s envelopes.")
    if origin == config.city_id:
        raise refuse(403, "own_envelope", "That envelope claims to come from this node.")
    network_copy = config.role == "secretariat" and NETWORK_AUDIENCE in envelope["audience"]
    if config.city_id not in envelope["audience"] and not network_copy:
        raise refuse(403, "not_addressed", "The envelope is not addressed to this node.")

    # The peer's state, themes and keys as plain values in one Core query (issue 14: the ORM
    # load of the peer and its keys was a tenth of an ingest). The ORM peer is loaded only for
    # a twinning request that (re)creates it here, or when a handler asks for it.
    facts = keyring.peer_facts(session, origin)
    peer: Peer | None = None
    twinning_request = envelope["type"] == "hrc.twinning.request"
    if twinning_request and (facts is None or facts.state in ("declined", "ended")):
        _check_pending_cap(session, config)
        peer = _prepare_requesting_peer(session, envelope, session.get(Peer, origin), now)
        facts = None  # its keys were just re-pinned: the key gate reads them as they are now
    elif facts is None:
        raise refuse(403, "not_twinned", f"{origin} is not twinned with this node.")
    elif facts.state != "active" and not envelope["type"].startswith("hrc.twinning."):
        raise refuse(403, "not_twinned", f"{origin} is not an active twin ({facts.state}).")
    if envelope["type"] in trust.SECRETARIAT_TYPES and not trust.is_pinned_secretariat(
        session, origin
    ):
        # Directories (keys of every member), catalogue releases and benchmarks come from the
        # secretariat this node joined and nobody else, whatever role the sender claims; refused
        # before any key lookup or fetch, so such a sender cannot even make us work for it.
        raise refuse(403, "not_secretariat", f"{origin} is not this node's secretariat.")

    signing_bytes = _signing_bytes(envelope, verdict)
    _verify(envelope, keys or KeyGate(session, now, http=http), signing_bytes, facts)
    try:
        check_created_ts(envelope["created_ts"], keyring.ms(now))
    except EnvelopeError as exc:
        raise refuse(422, exc.code or "future_document", str(exc)) from exc

    # The contract's envelope_sha256: the sha256 of the signed bytes just verified.
    digest = hashlib.sha256(signing_bytes).hexdigest()
    if _is_replay(session, origin, stream, seq, digest, now):
        return 200

    stored = InEnvelope(
        origin=origin,
        stream=stream,
        seq=seq,
        type=envelope["type"],
        key_id=envelope["key_id"],
        created_ts=envelope["created_ts"],
        sha256=digest,
        raw=raw.decode("utf-8"),
        received_at=now,
        via=via,
    )
    route = registry.route(envelope["type"])
    if route is not None and not route.accepts_stream(stream):
        # Replay and rollback are checked per (origin, stream): a document in the wrong stream
        # would escape them.
        raise refuse(
            422,
            "wrong_stream",
            f"{envelope['type']} travels in stream '{route.stream}', not '{stream[:40]}'.",
        )
    if route is None:
        raise refuse(422, "unknown_type", f"This node does not handle {envelope['type']}.")
    if route.envelope_schema is not None and envelope["schema"] != route.envelope_schema:
        raise refuse(422, "unsupported_schema", f"Expected {route.envelope_schema}.")
    payload = (
        envelope["payload"]
        if route.schema is None
        else load_payload(route.schema, envelope["payload"], route.type)
    )
    inbound = Inbound(session, config, envelope, payload, stored, now, peer, facts)
    route.handler(inbound)
    for listener in route.listeners:
        listener(inbound)
    return 202


def _incident(
    refusal: InboxRefusal, origin: str, kind: str, now: datetime, **detail: Any
) -> InboxRefusal:
    # Kept on the refusal, not written now: the caller's unit of work is rolled back on the
    # refusal; after_refusal writes it afterwards, on push and on pull alike.
    refusal.incident = {"origin": origin, "kind": kind, "detail": detail, "at": now}
    return refusal


_IN_ENVELOPES = cast(Table, InEnvelope.__table__)
_INSERT_ENVELOPE = insert(_IN_ENVELOPES)
_ENVELOPE_COLUMNS = tuple(column.key for column in _IN_ENVELOPES.columns if column.key != "id")
# Built once (issue 14: building a statement per envelope cost as much as running it).
_FIRST_SEQ_FROM = (
    select(_IN_ENVELOPES.c.seq, _IN_ENVELOPES.c.sha256)
    .where(
        _IN_ENVELOPES.c.origin == bindparam("origin"),
        _IN_ENVELOPES.c.stream == bindparam("stream"),
        _IN_ENVELOPES.c.seq >= bindparam("seq"),
    )
    .order_by(_IN_ENVELOPES.c.seq)
    .limit(1)
)


def _is_replay(
    session: Session, origin: str, stream: str, seq: int, digest: str, now: datetime
) -> bool:
    """True for the exact document we already hold; equivocation and rollback are refused
    (409) with an incident: a node that signs two documents with one seq, or goes back in
    its own sequence, is lying to someone."""
    # One index seek on (origin, stream, seq) answers both questions (issue 14: this was two
    # ORM queries per envelope): the first stored seq at or after this one is either this seq
    # (duplicate or equivocation) or a later one (rollback); none means a new, later document.
    row = (
        session.connection()
        .execute(_FIRST_SEQ_FROM, {"origin": origin, "stream": stream, "seq": seq})
        .first()
    )
    if row is None:
        return False
    if row.seq == seq:
        if row.sha256 == digest:
            return True  # the same document again (retry, or push after pull): harmless
        raise _incident(
            refuse(
                409,
                "equivocation",
                f"{origin} sent two different documents with seq {seq} in {stream}.",
            ),
            origin,
            "equivocation",
            now,
            seq=seq,
            stream=stream,
            stored=row.sha256,
            received=digest,
        )
    # A later seq is stored and this one is not: the sender went back in its own sequence.
    # (Rare: only now is the highest stored seq read, for the incident's record.)
    last = session.scalar(
        select(func.max(InEnvelope.seq)).where(
            InEnvelope.origin == origin, InEnvelope.stream == stream
        )
    )
    raise _incident(
        refuse(409, "rollback", f"seq {seq} is lower than {last}, already accepted."),
        origin,
        "rollback",
        now,
        seq=seq,
        stream=stream,
        last=last,
    )


def after_refusal(
    sessions: sessionmaker[Session], refusal: InboxRefusal, keys: KeyGate | None = None
) -> None:
    """What a refused envelope leaves behind, once the refused unit of work was rolled back:
    its incident (equivocation, rollback), on push and on pull alike, and the key fetches a
    request thread noted for the job. Each in its own short transaction."""
    if refusal.incident is not None:
        with session_scope(sessions) as session:
            session.add(FederationIncident(**refusal.incident))
    if keys is not None:
        keys.queue_missing(sessions)


def _check_pending_cap(session: Session, config: NodeConfig) -> None:
    # Anyone may send a twinning request, and each one keeps a Peer row (and may queue a key
    # fetch) until an official answers: past the cap, throw-away city ids are turned away
    # before anything is written. 429: a genuine sender retries later, after officials answer.
    waiting = session.scalar(select(func.count()).select_from(Peer).where(Peer.state == "pending"))
    if (waiting or 0) >= config.max_pending_twinning_requests:
        raise refuse(
            429,
            "too_many_requests",
            "Too many twinning requests are waiting for an answer here; try again later.",
        )


def _prepare_requesting_peer(
    session: Session, envelope: dict[str, Any], peer: Peer | None, now: datetime
) -> Peer:
    keydoc = embedded_key_document(envelope, now)
    try:
        payload = TwinningPayloadSchema().load(envelope["payload"])
    except ValidationError as exc:
        raise refuse(
            422, "invalid_payload", f"Twinning request: {exc.normalized_messages()}"
        ) from exc
    node = payload["node"]
    if node["city_id"] != envelope["origin"]:
        raise refuse(422, "invalid_payload", "The request's node does not match its origin.")
    if peer is None:
        peer = Peer(
            city_id=envelope["origin"],
            state="new",
            requested_at=now,
            failures=0,
            pulled_seq=0,
            unavailable=False,
        )
        session.add(peer)
    peer.name, peer.base_url = node["name"], node["base_url"]
    # The role a requester declares is not trusted: every requester is a city. Only the
    # secretariat this node pinned (node.network.trust) is ever "secretariat".
    role = "secretariat" if trust.is_pinned_secretariat(session, envelope["origin"]) else "city"
    peer.country, peer.region, peer.role = node.get("country"), node.get("region"), role
    for key in list(peer.keys):  # a new request after decline/end re-pins from scratch
        peer.keys.remove(key)
    session.flush()
    try:
        keyring.apply_key_document(
            session, peer, keydoc, now=now, source="pinned", first_contact=True
        )
    except keyring.KeyTrustError as exc:
        raise refuse(401, exc.code, exc.detail) from exc
    trust.on_repin(session, peer, now)
    return peer


def still_verifies(session: Session, raw: str) -> bool:
    """Whether a stored envelope verifies with the keys we trust *now* (revocation applies)."""
    try:
        envelope = loads_strict(raw)
        origin = envelope["origin"]
        # A lookup from local pins only: it never fetches, so the gate needs no real clock.
        verify_envelope(envelope, KeyGate(session, datetime.min).lookup_for(origin))
    except (CanonicalJSONError, EnvelopeError, KeyError, TypeError):
        return False
    return True


# --- for handlers ---------------------------------------------------------------------------------


def load_payload(schema: Any, payload: Any, what: str) -> dict[str, Any]:
    """A payload loaded with its wire schema, or 422 ``invalid_payload`` saying what is wrong."""
    try:
        loaded: dict[str, Any] = schema.load(payload)
    except ValidationError as exc:
        messages = exc.normalized_messages()
        if mentions_weak_key(messages):
            # Its own code: a small-order key is not a typo but a key anyone could sign with.
            raise refuse(
                422, "weak_public_key", f"The {what} lists a weak key: {str(messages)[:300]}"
            ) from exc
        raise refuse(422, "invalid_payload", f"Malformed {what}: {str(messages)[:300]}") from exc
    return loaded


def store(session: Session, stored: InEnvelope) -> InEnvelope:
    """Add the verbatim envelope row (a handler calls this once its own checks passed).

    On return ``stored`` is persistent in ``session`` with its ``id``, as after a flush.
    """
    session.flush()  # whatever the unit of work holds pending goes first, as it always did
    if not inspect(stored).transient:
        # Already written (a cascade from an object the handler added first, or a second
        # call): nothing more to do, as the ORM's add-and-flush would have done nothing.
        session.add(stored)
        return stored
    # One Core INSERT, then the object is attached as the row it now is (issue 14: the ORM's
    # unit of work for this one row cost as much as the 350 figures' executemany).
    values = {name: getattr(stored, name) for name in _ENVELOPE_COLUMNS}
    inserted = session.connection().execute(_INSERT_ENVELOPE, values).inserted_primary_key
    assert inserted is not None  # a single-row INSERT always reports its key
    stored.id = inserted[0]
    make_transient_to_detached(stored)
    session.add(stored)
    return stored
