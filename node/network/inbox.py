"""The inbox: every envelope from another node is verified and stored here, or refused.

Order of checks (each refusal is problem+json with a specific ``code``; nothing is half-stored,
because storing happens last, in the caller's single transaction):

1. size (the app's body limit, 413) → 2. strict parse (duplicate keys, NaN, floats, unsafe
integers: 400/422) → 3. envelope shape (422) → 4. the sender may post to us at all (deny by
default: active twins; twinning requests from anyone, carrying their key document) (403) →
4b. documents only the pinned secretariat may send (403 ``not_secretariat``) →
5. key lookup (pinned, or one deduplicated fetch of the origin's key document) (401) →
6. signature (401) → 7. not dated in the future (422) → 8. replay / equivocation / rollback
(200 duplicate / 409) → 9. payload schema and twinning scope (422 / 403) → 10. store the
envelope verbatim and its parsed rows; 202.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

import requests
from marshmallow import ValidationError
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from federation.canonical import CanonicalJSONError, check_payload_rules, loads_strict
from federation.envelope import (
    EnvelopeError,
    KeyDocumentError,
    SignatureError,
    check_created_ts,
    envelope_sha256,
    validate_envelope,
    verify_envelope,
    verify_key_document,
)
from node import disaggregation as disagg
from node.config import NodeConfig
from node.errors import DomainError
from node.network import keyring, trust
from node.network.models import (
    FederationIncident,
    InEnvelope,
    Peer,
    ReceivedFigure,
    ReceivedSummary,
)
from schemas.keys import mentions_weak_key
from schemas.peer_review import REVIEW_STREAM_PREFIX
from schemas.secretariat import (
    BENCHMARK_STREAM,
    BENCHMARK_TYPE,
    CATALOGUE_STREAM,
    CATALOGUE_TYPE,
    DIRECTORY_STREAM,
    DIRECTORY_TYPE,
    NETWORK_AUDIENCE,
)
from schemas.summary import SUMMARY_SCHEMA, SUMMARY_STREAM, SUMMARY_TYPE, SummaryPayloadSchema
from schemas.twinning import TWINNING_STREAM, TWINNING_TYPES, TwinningPayloadSchema

log = logging.getLogger(__name__)


MAX_STREAM_LENGTH = 40  # the width of the stored column


class InboxRefusal(DomainError):
    """An envelope we do not accept; ``code`` says exactly why."""

    title = "Envelope refused"


def refuse(status: int, code: str, detail: str) -> InboxRefusal:
    return InboxRefusal(detail, code=code, status=status)


def parse(raw: bytes) -> dict[str, Any]:
    """Strict parse + envelope shape + payload rules; refusals carry the parser's code."""
    try:
        envelope = loads_strict(raw)
    except CanonicalJSONError as exc:
        status = 400 if exc.code in ("invalid_json", "invalid_utf8") else 422
        raise refuse(status, exc.code, f"The envelope is not acceptable JSON: {exc}") from exc
    try:
        validate_envelope(envelope)
        check_payload_rules(envelope)
    except CanonicalJSONError as exc:
        raise refuse(422, exc.code, f"The envelope breaks the payload rules: {exc}") from exc
    except EnvelopeError as exc:
        raise refuse(422, exc.code, f"The envelope is malformed: {exc}") from exc
    assert isinstance(envelope, dict)
    return envelope


def embedded_key_document(envelope: dict[str, Any], now: datetime):  # type: ignore[no-untyped-def]
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


def fetch_keys_once(
    session: Session, peer: Peer, now: datetime, http: Callable[[], requests.Session]
) -> None:
    """Unknown key id met by a job (a pull): fetch the origin's key document once per minute.

    Jobs only: a request thread queues the fetch instead (``keyfetch.queue_key_fetch``).
    """
    if not keyring.FETCH_GATE.allow(peer.city_id):
        return
    from node.network.keyfetch import fetch_and_apply

    problem = fetch_and_apply(session, peer, now, http)
    if problem is not None:
        log.warning("key document of %s not usable: %s", peer.city_id, problem)


def _verify(
    session: Session,
    envelope: dict[str, Any],
    peer: Peer,
    now: datetime,
    http: Callable[[], requests.Session] | None,
) -> None:
    origin, key_id = envelope["origin"], envelope["key_id"]

    def lookup(signer: str, kid: str, created_ts: int) -> bytes | None:
        if signer != origin:
            return None  # other signers (co-signing cities) are checked by their own handlers
        return keyring.peer_public_key(session, origin, kid, created_ts)

    if lookup(origin, key_id, envelope["created_ts"]) is None and http is not None:
        # Only jobs pass ``http`` (the pull); the inbox's request thread never fetches: its
        # caller queues the origin for the fetch_peer_keys job on this refusal.
        fetch_keys_once(session, peer, now, http)
    if lookup(origin, key_id, envelope["created_ts"]) is None:
        raise refuse(
            401,
            "unknown_key",
            f"{origin}'s key {key_id} is unknown, revoked or expired for this document.",
        )
    try:
        verify_envelope(envelope, lookup)
    except SignatureError as exc:
        raise refuse(
            401, exc.code or "bad_signature", f"The signature of {origin} does not verify."
        ) from exc


def ingest_envelope(
    session: Session,
    config: NodeConfig,
    raw: bytes,
    *,
    now: datetime,
    via: str,
    sender: str | None,
    http: Callable[[], requests.Session] | None = None,
) -> int:
    """Verify and store one envelope. Returns 202 (accepted) or 200 (exact duplicate).

    ``sender`` is who the transport says sent it (the request signature's origin on push, the
    node we pulled from on pull); it must be the envelope's origin.
    """
    envelope = parse(raw)
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

    peer = session.get(Peer, origin)
    twinning_request = envelope["type"] == "hrc.twinning.request"
    if twinning_request and (peer is None or peer.state in ("declined", "ended")):
        _check_pending_cap(session, config)
        peer = _prepare_requesting_peer(session, envelope, peer, now)
    elif peer is None:
        raise refuse(403, "not_twinned", f"{origin} is not twinned with this node.")
    elif peer.state != "active" and not envelope["type"].startswith("hrc.twinning."):
        raise refuse(403, "not_twinned", f"{origin} is not an active twin ({peer.state}).")
    if envelope["type"] in trust.SECRETARIAT_TYPES and not trust.is_pinned_secretariat(
        session, origin
    ):
        # Directories (keys of every member), catalogue releases and benchmarks come from the
        # secretariat this node joined and nobody else, whatever role the sender claims; refused
        # before any key lookup or fetch, so such a sender cannot even make us work for it.
        raise refuse(403, "not_secretariat", f"{origin} is not this node's secretariat.")

    _verify(session, envelope, peer, now, http)
    try:
        check_created_ts(envelope["created_ts"], keyring.ms(now))
    except EnvelopeError as exc:
        raise refuse(422, exc.code or "future_document", str(exc)) from exc

    digest = envelope_sha256(envelope)
    existing = session.scalar(
        select(InEnvelope).where(
            InEnvelope.origin == origin, InEnvelope.stream == stream, InEnvelope.seq == seq
        )
    )
    if existing is not None:
        if existing.sha256 == digest:
            return 200  # the same document again (retry, or push after pull): harmless
        _incident(
            session,
            origin,
            "equivocation",
            now,
            seq=seq,
            stream=stream,
            stored=existing.sha256,
            received=digest,
        )
        raise refuse(
            409,
            "equivocation",
            f"{origin} sent two different documents with seq {seq} in {stream}.",
        )
    last = session.scalar(
        select(func.max(InEnvelope.seq)).where(
            InEnvelope.origin == origin, InEnvelope.stream == stream
        )
    )
    if last is not None and seq < last:
        _incident(session, origin, "rollback", now, seq=seq, stream=stream, last=last)
        raise refuse(409, "rollback", f"seq {seq} is lower than {last}, already accepted.")

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
    handler = HANDLERS.get(envelope["type"])
    expected_stream = STREAMS.get(envelope["type"])
    if expected_stream is not None and not _in_stream(stream, expected_stream):
        # Replay and rollback are checked per (origin, stream): a document in the wrong stream
        # would escape them.
        raise refuse(
            422,
            "wrong_stream",
            f"{envelope['type']} travels in stream '{expected_stream}', not '{stream[:40]}'.",
        )
    if handler is None:
        raise refuse(422, "unknown_type", f"This node does not handle {envelope['type']}.")
    handler(session, config, envelope, peer, stored, now)
    return 202


def _in_stream(stream: str, expected: str) -> bool:
    # A stream ending in "/" is a family (one stream per review): the handler checks the rest.
    return stream.startswith(expected) if expected.endswith("/") else stream == expected


def still_verifies(session: Session, raw: str) -> bool:
    """Whether a stored envelope verifies with the keys we trust *now* (revocation applies)."""
    try:
        envelope = loads_strict(raw)
        origin = envelope["origin"]
        verify_envelope(
            envelope,
            lambda signer, kid, ts: (
                keyring.peer_public_key(session, origin, kid, ts) if signer == origin else None
            ),
        )
    except (CanonicalJSONError, EnvelopeError, KeyError, TypeError):
        return False
    return True


def refresh_keys(
    session: Session, peer: Peer, now: datetime, http: Callable[[], requests.Session]
) -> str | None:
    """Re-read a twin's key document (rotations, revocations); None when it went well. Jobs only."""
    from node.network.keyfetch import fetch_and_apply

    return fetch_and_apply(session, peer, now, http)


def _incident(session: Session, origin: str, kind: str, now: datetime, **detail: Any) -> None:
    # Recorded in its own savepoint-free insert: the caller's transaction is rolled back on the
    # refusal, so the incident is written by the blueprint after the rollback (see record_incident).
    session.info.setdefault("incidents", []).append(
        {"origin": origin, "kind": kind, "detail": detail, "at": now}
    )


def record_incidents(session: Session, incidents: list[dict[str, Any]]) -> None:
    for incident in incidents:
        session.add(FederationIncident(**incident))
    session.flush()


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


# --- handlers by envelope type ----------------------------------------------------------------


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
    session.add(stored)
    session.flush()
    return stored


def handle_summary(
    session: Session,
    config: NodeConfig,
    envelope: dict[str, Any],
    peer: Peer,
    stored: InEnvelope,
    now: datetime,
) -> None:
    """A twin's summary: schema, scope, then the envelope and its figures in one go."""
    if envelope["schema"] != SUMMARY_SCHEMA:
        raise refuse(422, "unsupported_schema", f"Expected {SUMMARY_SCHEMA}.")
    try:
        payload = SummaryPayloadSchema().load(envelope["payload"])
    except ValidationError as exc:
        raise refuse(422, "invalid_payload", "The summary does not match hrc.summary/1.") from exc
    if payload["city"]["city_id"] != peer.city_id:
        raise refuse(422, "invalid_payload", "The summary is about another city.")
    if peer.themes is not None:
        outside = sorted({i["right"] for i in payload["indicators"]} - set(peer.themes))
        if outside:
            raise refuse(
                403, "out_of_scope", f"Themes outside the twinning agreement: {', '.join(outside)}."
            )
    period, revision = payload["period"], payload["revision"]
    duplicate = session.scalar(
        select(ReceivedSummary).where(
            ReceivedSummary.origin == peer.city_id,
            ReceivedSummary.period == period,
            ReceivedSummary.revision == revision,
        )
    )
    if duplicate is not None:
        raise refuse(
            409, "revision_exists", f"{peer.city_id} already sent revision {revision} for {period}."
        )
    store(session, stored)
    newest = (
        session.scalar(
            select(func.max(ReceivedSummary.revision)).where(
                ReceivedSummary.origin == peer.city_id, ReceivedSummary.period == period
            )
        )
        or 0
    )
    is_current = revision > newest
    if is_current:
        # One UPDATE: loading older revisions (and their figures) made ingest slower with
        # every correction.
        session.execute(
            update(ReceivedSummary)
            .where(ReceivedSummary.origin == peer.city_id, ReceivedSummary.period == period)
            .values(current=False)
        )
    summary = ReceivedSummary(
        envelope_id=stored.id,
        origin=peer.city_id,
        period=period,
        revision=revision,
        current=is_current,
        catalogue_version=payload.get("catalogue_version"),
        received_at=now,
    )
    for indicator in payload["indicators"]:
        for figure in indicator["results"]:
            summary.figures.append(
                ReceivedFigure(
                    indicator=indicator["code"],
                    maps_to=indicator.get("maps_to"),
                    disaggregation_key=disagg.disaggregation_key(figure["disaggregation"]),
                    value_text=figure["value"]
                    if isinstance(figure["value"], str)
                    else ("true" if figure["value"] else "false"),
                )
            )
    session.add(summary)
    session.flush()
    if config.role == "secretariat":
        from node.secretariat import benchmarks

        benchmarks.ingest_summary(session, config, peer, payload, digest=stored.sha256, now=now)


def handle_twinning(
    session: Session,
    config: NodeConfig,
    envelope: dict[str, Any],
    peer: Peer,
    stored: InEnvelope,
    now: datetime,
) -> None:
    """Requests, answers and endings of a twinning, from the other side."""
    from node.network import peers as twinning

    try:
        payload = TwinningPayloadSchema().load(envelope["payload"])
    except ValidationError as exc:
        raise refuse(422, "invalid_payload", "The twinning message is malformed.") from exc
    store(session, stored)
    twinning.apply_remote(session, peer, envelope["type"], payload, now)


HANDLERS: dict[str, Callable[..., None]] = {SUMMARY_TYPE: handle_summary}
HANDLERS.update({type_: handle_twinning for type_ in TWINNING_TYPES})

# The secretariat's documents (directory, catalogue releases, benchmarks) have their handlers
# beside the rest of the secretariat code.
from node.secretariat import inbound as _secretariat_inbound  # noqa: E402

HANDLERS.update(_secretariat_inbound.HANDLERS)

# Peer reviews: actions go to the home node, events come back from it (peer_review.inbound).
from peer_review import inbound as _review_inbound  # noqa: E402

HANDLERS.update(_review_inbound.HANDLERS)

STREAMS = {
    SUMMARY_TYPE: SUMMARY_STREAM,
    **{t: TWINNING_STREAM for t in TWINNING_TYPES},
    DIRECTORY_TYPE: DIRECTORY_STREAM,
    CATALOGUE_TYPE: CATALOGUE_STREAM,
    BENCHMARK_TYPE: BENCHMARK_STREAM,
    **{t: REVIEW_STREAM_PREFIX for t in _review_inbound.HANDLERS},
}

# Mentoring between twinned cities (and its metadata for the secretariat): peer_review.
from peer_review import mentoring_inbound as _mentoring_inbound  # noqa: E402

HANDLERS.update(_mentoring_inbound.HANDLERS)
STREAMS.update(_mentoring_inbound.STREAMS)
