"""Civil-society statements from twins: received, verified, kept apart, withdrawn when told.

A twin's node sends the signed ``hrc.cso_statement`` of one of its CSO partners only when that
organisation agreed (``shared_with_twins`` is signed inside it). The inbox pipeline has already
checked the sender is an active twin, the key, the signature, the date and replays; here the
payload (loaded by :class:`schemas.cso_figures.CsoStatementPayloadSchema`, every field bounded)
is checked against the twinning agreement and stored in its own table: shown beside the twin's
official figures, never merged with them. A signed ``hrc.cso_withdrawal`` marks it withdrawn.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from node import disaggregation as disagg
from node.models import ReceivedCsoStatement
from node.network import port
from node.services import cso_figures
from schemas.cso_figures import (
    STATEMENT_SCHEMA,
    STATEMENT_STREAM,
    STATEMENT_TYPE,
    WITHDRAWAL_SCHEMA,
    WITHDRAWAL_TYPE,
    CsoStatementPayloadSchema,
    CsoWithdrawalPayloadSchema,
)

# Live statements one twin may have here: a twin (or its stolen key) cannot fill our database
# with statements, each of which is bounded by the schema already.
MAX_LIVE_PER_TWIN = 5_000


def register_inbound(registry: port.InboundRegistry) -> None:
    """Declare the civil-society statement types (both in the ``cso-statements`` stream)."""
    registry.register(
        STATEMENT_TYPE,
        stream=STATEMENT_STREAM,
        schema=CsoStatementPayloadSchema(),
        envelope_schema=STATEMENT_SCHEMA,
        handler=handle_statement,
    )
    registry.register(
        WITHDRAWAL_TYPE,
        stream=STATEMENT_STREAM,
        schema=CsoWithdrawalPayloadSchema(),
        envelope_schema=WITHDRAWAL_SCHEMA,
        handler=handle_withdrawal,
    )


def handle_statement(inbound: port.Inbound) -> None:
    """A twin's CSO statement: about the twin itself, within the agreement, then stored."""
    session, peer, payload = inbound.session, inbound.peer, inbound.payload
    if payload["city"] != peer.city_id:
        # A node speaks for its own city's civil society only: a statement "about" another
        # city would put words in that city's CSOs' mouths.
        raise port.refuse(422, "invalid_payload", "The statement is about another city.")
    if peer.themes is not None and payload["right"] not in peer.themes:
        # The twinning agreement names themes: nothing outside them is accepted.
        raise port.refuse(
            403, "out_of_scope", "The statement's right is outside the twinning agreement."
        )
    live = session.scalar(
        select(func.count())
        .select_from(ReceivedCsoStatement)
        .where(
            ReceivedCsoStatement.origin == peer.city_id,
            ReceivedCsoStatement.withdrawn_at.is_(None),
        )
    )
    if (live or 0) >= MAX_LIVE_PER_TWIN:
        raise port.refuse(
            422, "too_many_statements", f"At most {MAX_LIVE_PER_TWIN} statements per twin."
        )
    stored = port.store(session, inbound.stored)
    breakdown = disagg.normalize(payload["disaggregation"])
    session.add(
        ReceivedCsoStatement(
            envelope_id=stored.id,
            origin=peer.city_id,
            envelope_sha256=stored.sha256,
            organisation=payload["organisation"],
            indicator_code=payload["indicator"],
            period=payload["period"],
            disaggregation_key=disagg.disaggregation_key(breakdown),
            disaggregation=breakdown,
            value_text=payload["value"],
            method=payload["method"],
            source=payload["source"],
            note=payload["note"],
            received_at=inbound.now,
        )
    )
    session.flush()


def handle_withdrawal(inbound: port.Inbound) -> None:
    """A twin withdraws a statement (or its CSO's consent): it stops being shown here.

    The row is kept, marked withdrawn with the scope and reason (what we were told, and when);
    a withdrawal of a statement we never received is stored and changes nothing.
    """
    session, peer, payload = inbound.session, inbound.peer, inbound.payload
    if payload["city"] != peer.city_id:
        raise port.refuse(422, "invalid_payload", "The withdrawal is about another city.")
    received = session.scalar(
        select(ReceivedCsoStatement).where(
            ReceivedCsoStatement.origin == peer.city_id,
            ReceivedCsoStatement.envelope_sha256 == payload["statement_sha256"],
        )
    )
    if received is not None and received.organisation != payload["organisation"]:
        raise port.refuse(
            422, "invalid_payload", "The withdrawal names another organisation than the statement."
        )
    port.store(session, inbound.stored)
    if received is not None and received.withdrawn_at is None:
        received.withdrawn_at = inbound.now
        received.withdrawal_scope = payload["scope"]
        received.withdrawal_reason = payload["reason"]
    session.flush()


@dataclass(frozen=True)
class CsoRow:
    """One civil-society figure as the pages show it (ours or a twin's), never an official one."""

    city: str
    indicator: str
    period: str
    disaggregation: dict[str, str]
    value: Decimal | bool
    organisation: str
    method: str
    source: str
    note: str | None
    statement_sha256: str | None
    statement_url: str | None  # where anyone fetches the signed statement


def received(
    session: Session, city_id: str, *, period: str | None = None
) -> list[ReceivedCsoStatement]:
    """A twin's live (not withdrawn) civil-society statements, in a stable order."""
    query = select(ReceivedCsoStatement).where(
        ReceivedCsoStatement.origin == city_id, ReceivedCsoStatement.withdrawn_at.is_(None)
    )
    if period:
        query = query.where(ReceivedCsoStatement.period == period)
    return list(
        session.scalars(
            query.order_by(
                ReceivedCsoStatement.indicator_code,
                ReceivedCsoStatement.period,
                ReceivedCsoStatement.organisation,
                ReceivedCsoStatement.id,
            )
        )
    )


def withdrawn_count(session: Session, city_id: str) -> int:
    """How many of a twin's statements were withdrawn (the pages say so: nothing silent)."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(ReceivedCsoStatement)
            .where(
                ReceivedCsoStatement.origin == city_id,
                ReceivedCsoStatement.withdrawn_at.is_not(None),
            )
        )
        or 0
    )


def figures_of_city(
    session: Session, own_city: str, city_id: str, *, base_url: str | None = None
) -> list[CsoRow]:
    """Civil-society figures about ``city_id``: ours when it is this node's city (published
    ones), else what that twin sent us (live ones). ``base_url``: the twin's address, for the
    link to its public copy of each statement."""
    if city_id == own_city:
        return [
            CsoRow(
                city_id,
                f.indicator_code,
                f.period,
                dict(f.disaggregation or {}),
                f.value,
                f.organisation,
                f.method,
                f.source,
                f.note,
                f.envelope_sha256,
                f"/public/cso-statements/{f.envelope_sha256}" if f.envelope_sha256 else None,
            )
            for f in cso_figures.list_figures(session)
        ]
    return [
        CsoRow(
            city_id,
            r.indicator_code,
            r.period,
            dict(r.disaggregation or {}),
            r.value,
            r.organisation,
            r.method,
            r.source,
            r.note,
            r.envelope_sha256,
            f"{base_url.rstrip('/')}/public/cso-statements/{r.envelope_sha256}"
            if base_url
            else None,
        )
        for r in received(session, city_id)
    ]


def received_all(session: Session, city_id: str) -> list[ReceivedCsoStatement]:
    """Every statement a twin sent us, withdrawn ones included (for the API's record)."""
    return list(
        session.scalars(
            select(ReceivedCsoStatement)
            .where(ReceivedCsoStatement.origin == city_id)
            .order_by(ReceivedCsoStatement.id)
        )
    )


def to_wire(row: ReceivedCsoStatement) -> dict[str, Any]:
    """A received statement in the API: the CSO's figure, and its withdrawal if any."""
    return {
        "origin": row.origin,
        "organisation": row.organisation,
        "indicator": row.indicator_code,
        "period": row.period,
        "disaggregation": dict(row.disaggregation or {}),
        "value": row.value_text,
        "method": row.method,
        "source": row.source,
        "note": row.note,
        "statement_sha256": row.envelope_sha256,
        "received_at": row.received_at.isoformat(),
        "withdrawn_at": row.withdrawn_at.isoformat() if row.withdrawn_at else None,
        "withdrawal_scope": row.withdrawal_scope,
        "withdrawal_reason": row.withdrawal_reason,
    }
