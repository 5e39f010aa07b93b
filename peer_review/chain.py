"""The review event chain and the signatures inside it (pure functions + key lookup).

An event header is ``{review_id, index, prev, action, actor, body_sha256, readers, ts}``; its
hash is sha256 over its RFC 8785 bytes, and ``prev`` is the previous header's hash (``None`` for
the first). The body is the author's signed ``hrc.review.action`` envelope, so whoever relays an
event cannot change what a city said: the body's hash is in the chain and its signature is the
author's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from federation.canonical import canonical_bytes
from federation.envelope import EnvelopeError, envelope_sha256, verify_envelope
from federation.keys import b64decode_unpadded
from node.config import NodeConfig
from node.errors import DomainError
from node.network import keyring
from node.network.models import OutEnvelope


class ChainError(DomainError):
    """An event or a signed object inside it that does not check out."""

    title = "Review event refused"
    status = 409
    code = "bad_event"


def header_hash(header: Mapping[str, Any]) -> str:
    """The hash linking the next event to this one."""
    return hashlib.sha256(canonical_bytes(dict(header))).hexdigest()


def content_hash(content: Mapping[str, Any]) -> str:
    """Hash of a co-signed object (a recommendation's content) as it travels."""
    return hashlib.sha256(canonical_bytes(dict(content))).hexdigest()


def make_header(
    *,
    review_id: str,
    index: int,
    prev: str | None,
    action: str,
    actor_city: str,
    actor_role: str,
    body_sha256: str,
    readers: list[str],
    ts: int,
) -> dict[str, Any]:
    """A new event header (the home node builds it; participants only check it)."""
    return {
        "review_id": review_id,
        "index": index,
        "prev": prev,
        "action": action,
        "actor": {"city": actor_city, "role": actor_role},
        "body_sha256": body_sha256,
        "readers": sorted(readers),
        "ts": ts,
    }


def check_link(header: Mapping[str, Any], head_index: int, head_hash: str | None) -> None:
    """The header must extend our head exactly: no gap, no fork."""
    if header["index"] != head_index + 1:
        raise ChainError(
            f"Event {header['index']} does not follow our last event {head_index}.",
            code="event_gap",
        )
    if header["prev"] != head_hash:
        # A different previous hash is a fork: the home node told us two different histories.
        raise ChainError("The event does not link to our last event's hash.", code="event_fork")


def verify_signed_by(
    session: Session, config: NodeConfig, envelope: Mapping[str, Any], city: str
) -> str:
    """Check that ``envelope`` was signed by ``city`` with a key we trust; return its sha256.

    Keys come from the pinned keys of our twins and the secretariat, else from the
    secretariat's signed directory (the notary): a reviewing city is usually not twinned with
    the city under review, and must still be able to tell its summaries are authentic. Our own
    envelopes are recognised by their hash in our outbox, never by trusting a claim.
    """
    if envelope.get("origin") != city:
        raise ChainError(f"The signed object does not come from {city}.", code="wrong_author")
    try:
        digest = envelope_sha256(dict(envelope))
    except (EnvelopeError, ValueError, TypeError) as exc:
        raise ChainError(f"The signed object is malformed: {exc}", code="bad_signature") from exc
    if city == config.city_id:
        if session.scalar(select(OutEnvelope.seq).where(OutEnvelope.sha256 == digest)) is None:
            raise ChainError(
                "That object claims to be ours but we never signed it.", code="bad_signature"
            )
        return digest

    def lookup(signer: str, key_id: str, created_ts: int) -> bytes | None:
        if signer != city:
            return None
        pinned = keyring.peer_public_key(session, city, key_id, created_ts)
        if pinned is not None:
            return pinned
        notarised = keyring.notary_keys(session, city).get(key_id)
        return b64decode_unpadded(notarised) if notarised else None

    try:
        verify_envelope(dict(envelope), lookup)
    except (EnvelopeError, ValueError, TypeError) as exc:
        raise ChainError(
            f"{city}'s signature on a relayed object does not verify ({exc}).",
            code="bad_signature",
        ) from exc
    return digest
