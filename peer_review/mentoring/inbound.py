"""Mentoring messages in the inbox: the partner city's actions, and metadata for the secretariat.

Each handler runs inside the inbox pipeline after the envelope's signature, ``seq`` and date
checks (``node.network.inbox``), so ``peer`` is an active twin and the origin's signature
verified. The relationship's own rules are :mod:`peer_review.mentoring`'s: the same table as
for local actions. Refusals are 403 / 409 / 422 (never 404, which a sender would retry).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from node.config import NodeConfig
from node.errors import DomainError
from node.network import inbox
from node.network.models import InEnvelope, Peer
from peer_review import mentoring
from peer_review.mentoring_models import MentoringMetadata
from schemas.mentoring import (
    MENTORING_STREAM,
    METADATA_TYPE,
    PAYLOAD_SCHEMAS,
    RELATIONSHIP_TYPES,
    schema_name,
)


def _load(envelope: dict[str, Any]) -> dict[str, Any]:
    type_ = envelope["type"]
    if envelope["schema"] != schema_name(type_):
        raise inbox.refuse(422, "unsupported_schema", f"Expected {schema_name(type_)}.")
    return inbox.load_payload(PAYLOAD_SCHEMAS[type_](), envelope["payload"], type_)


def handle_relationship(
    session: Session,
    config: NodeConfig,
    envelope: dict[str, Any],
    peer: Peer,
    stored: InEnvelope,
    now: datetime,
) -> None:
    """The partner city proposed, changed, signed, planned or noted something."""
    payload = _load(envelope)
    inbox.store(session, stored)
    carrier = mentoring.Carrier(
        envelope["origin"], envelope["seq"], stored.sha256, in_envelope_id=stored.id
    )
    try:
        mentoring.receive(
            session, config, envelope["type"], payload, peer, carrier, envelope["created_ts"], now
        )
    except inbox.InboxRefusal:
        raise
    except DomainError as exc:
        # One kind of refusal for the transport (push answers it, pull logs it); the status
        # stays 403/409/422, which the sender classifies as permanent or auth, never transient.
        raise inbox.InboxRefusal(
            exc.detail, code=exc.code, status=exc.status, extra=exc.extra
        ) from exc


def handle_metadata(
    session: Session,
    config: NodeConfig,
    envelope: dict[str, Any],
    peer: Peer,
    stored: InEnvelope,
    now: datetime,
) -> None:
    """On the secretariat: a member reports the state of one of its relationships."""
    if config.role != "secretariat":
        raise inbox.refuse(422, "not_a_secretariat", "Only a secretariat keeps mentoring metadata.")
    payload = _load(envelope)
    if envelope["origin"] not in (payload["mentor"], payload["mentee"]):
        # Security: a member reports its own relationships only.
        raise inbox.refuse(
            403, "not_a_party", f"{envelope['origin']} is not a party to that relationship."
        )
    inbox.store(session, stored)
    key = (payload["relationship_id"], envelope["origin"])
    row = session.get(MentoringMetadata, key)
    if row is not None and row.envelope_seq > envelope["seq"]:
        return  # an older report arriving late (pull after push): the newer one stays
    if row is None:
        row = MentoringMetadata(relationship_id=key[0], reporter=key[1])
        session.add(row)
    row.mentor, row.mentee = payload["mentor"], payload["mentee"]
    row.state, row.outcome = payload["state"], payload["outcome"]
    row.state_version = payload["state_version"]
    row.proposed_at = mentoring.from_ms(payload["proposed_at"])
    row.changed_at = mentoring.from_ms(payload["changed_at"])
    row.envelope_seq, row.received_at = envelope["seq"], now
    session.flush()


HANDLERS = {
    **{type_: handle_relationship for type_ in RELATIONSHIP_TYPES},
    METADATA_TYPE: handle_metadata,
}
STREAMS = dict.fromkeys(HANDLERS, MENTORING_STREAM)
