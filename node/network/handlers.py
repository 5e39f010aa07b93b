"""The network's own inbound handlers: twins' summaries and the twinning conversation.

Registered like any feature's (:func:`register_inbound`, called by ``node.features``); the inbox
pipeline (``node.network.inbox``) runs them after the envelope verified, passed the replay
checks and had its payload loaded with the schema given here.
"""

from __future__ import annotations

from sqlalchemy import func, insert, select, update

from node import disaggregation as disagg
from node.network import inbox, peers
from node.network.models import ReceivedFigure, ReceivedSummary
from node.network.registry import Inbound, InboundRegistry
from schemas.summary import (
    SUMMARY_SCHEMA,
    SUMMARY_STREAM,
    SUMMARY_TYPE,
    FastSummaryPayloadSchema,
)
from schemas.twinning import TWINNING_STREAM, TWINNING_TYPES, TwinningPayloadSchema


def register_inbound(registry: InboundRegistry) -> None:
    """Declare the network's own envelope types (summaries, twinning)."""
    registry.register(
        SUMMARY_TYPE,
        stream=SUMMARY_STREAM,
        # The schema's decisions without marshmallow's cost (proven equal by a property test,
        # tests/unit/federation/test_summary_fast_load.py); refusals still carry its messages.
        schema=FastSummaryPayloadSchema(),
        envelope_schema=SUMMARY_SCHEMA,
        handler=handle_summary,
    )
    for type_ in TWINNING_TYPES:
        registry.register(
            type_, stream=TWINNING_STREAM, schema=TwinningPayloadSchema(), handler=handle_twinning
        )


def handle_summary(inbound: Inbound) -> None:
    """A twin's summary: scope, then the envelope and its figures in one go."""
    session, peer, payload, stored = inbound.session, inbound.peer, inbound.payload, inbound.stored
    if payload["city"]["city_id"] != peer.city_id:
        raise inbox.refuse(422, "invalid_payload", "The summary is about another city.")
    if peer.themes is not None:
        outside = sorted({i["right"] for i in payload["indicators"]} - set(peer.themes))
        if outside:
            raise inbox.refuse(
                403, "out_of_scope", f"Themes outside the twinning agreement: {', '.join(outside)}."
            )
    period, revision = payload["period"], payload["revision"]
    duplicate = session.scalar(
        select(ReceivedSummary.id).where(
            ReceivedSummary.origin == peer.city_id,
            ReceivedSummary.period == period,
            ReceivedSummary.revision == revision,
        )
    )
    if duplicate is not None:
        raise inbox.refuse(
            409, "revision_exists", f"{peer.city_id} already sent revision {revision} for {period}."
        )
    inbox.store(session, stored)
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
        received_at=inbound.now,
    )
    session.add(summary)
    session.flush()
    # The figures with one Core executemany (issue 14): 350 ORM objects built, tracked and
    # flushed one by one were half of an ingest. Nothing reads ``summary.figures`` in this
    # unit of work before the insert; a later read loads them from the table.
    key = disagg.disaggregation_key
    rows = [
        {
            "summary_id": summary.id,
            "indicator": indicator["code"],
            "maps_to": indicator.get("maps_to"),
            "disaggregation_key": key(figure["disaggregation"]),
            "value_text": value
            if isinstance(value := figure["value"], str)
            else ("true" if value else "false"),
        }
        for indicator in payload["indicators"]
        for figure in indicator["results"]
    ]
    if rows:
        # The table, not the mapped class: an ORM bulk insert would build insert commands
        # per row again.
        session.execute(insert(ReceivedFigure.__table__), rows)


def handle_twinning(inbound: Inbound) -> None:
    """Requests, answers and endings of a twinning, from the other side."""
    inbox.store(inbound.session, inbound.stored)
    peers.apply_remote(
        inbound.session, inbound.peer, inbound.envelope["type"], inbound.payload, inbound.now
    )
