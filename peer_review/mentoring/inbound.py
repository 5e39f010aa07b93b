"""Mentoring messages in the inbox: the partner city's actions, and metadata for the secretariat.

Each handler runs inside the inbox pipeline after the envelope's signature, ``seq`` and date
checks, so ``inbound.peer`` is an active twin, the origin's signature verified and
``inbound.payload`` loaded with the schema :func:`register_inbound` declared for its type. The
relationship's own rules are the same table as for local actions
(:mod:`peer_review.mentoring.receiving`). Refusals are 403 / 409 / 422 (never 404, which a sender
would retry).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from node.config import NodeConfig
from node.errors import DomainError
from node.network import port
from peer_review.mentoring.acting import Carrier, from_ms
from peer_review.mentoring.models import MentoringMetadata
from peer_review.mentoring.receiving import receive
from schemas.mentoring import (
    MENTORING_STREAM,
    METADATA_TYPE,
    PAYLOAD_SCHEMAS,
    RELATIONSHIP_TYPES,
    schema_name,
)

if TYPE_CHECKING:
    from node.network.port import Inbound, InboundRegistry


def admit(config: NodeConfig, envelope: dict[str, Any]) -> None:
    """The checks that come before the payload is read: this node keeps metadata only if it is a
    secretariat (422 ``not_a_secretariat``), and the envelope names this type's schema
    (422 ``unsupported_schema``)."""
    type_ = envelope["type"]
    if type_ == METADATA_TYPE and config.role != "secretariat":
        raise port.refuse(422, "not_a_secretariat", "Only a secretariat keeps mentoring metadata.")
    if envelope["schema"] != schema_name(type_):
        raise port.refuse(422, "unsupported_schema", f"Expected {schema_name(type_)}.")


def handle_relationship(inbound: Inbound) -> None:
    """The partner city proposed, changed, signed, planned or noted something."""
    envelope, stored = inbound.envelope, inbound.stored
    admit(inbound.config, envelope)
    port.store(inbound.session, stored)
    carrier = Carrier(envelope["origin"], envelope["seq"], stored.sha256, in_envelope_id=stored.id)
    try:
        receive(
            inbound.session,
            inbound.config,
            envelope["type"],
            inbound.payload,
            inbound.peer,
            carrier,
            envelope["created_ts"],
            inbound.now,
        )
    except port.InboxRefusal:
        raise
    except DomainError as exc:
        # One kind of refusal for the transport (push answers it, pull logs it); the status
        # stays 403/409/422, which the sender classifies as permanent or auth, never transient.
        raise port.InboxRefusal(
            exc.detail, code=exc.code, status=exc.status, extra=exc.extra
        ) from exc


def handle_metadata(inbound: Inbound) -> None:
    """On the secretariat: a member reports the state of one of its relationships."""
    envelope, payload, session = inbound.envelope, inbound.payload, inbound.session
    admit(inbound.config, envelope)
    if envelope["origin"] not in (payload["mentor"], payload["mentee"]):
        # Security: a member reports its own relationships only.
        raise port.refuse(
            403, "not_a_party", f"{envelope['origin']} is not a party to that relationship."
        )
    port.store(session, inbound.stored)
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
    row.proposed_at = from_ms(payload["proposed_at"])
    row.changed_at = from_ms(payload["changed_at"])
    row.envelope_seq, row.received_at = envelope["seq"], inbound.now
    session.flush()


def register_inbound(registry: InboundRegistry) -> None:
    """Declare mentoring's envelope types: all in the ``mentoring`` stream, each with its wire
    schema (the pipeline loads the payload with it: 422 ``invalid_payload``)."""
    for type_ in RELATIONSHIP_TYPES:
        registry.register(
            type_,
            stream=MENTORING_STREAM,
            schema=PAYLOAD_SCHEMAS[type_](),
            handler=handle_relationship,
        )
    registry.register(
        METADATA_TYPE,
        stream=MENTORING_STREAM,
        schema=PAYLOAD_SCHEMAS[METADATA_TYPE](),
        handler=handle_metadata,
    )
