"""The network's own inbound handlers: twins' summaries and the twinning conversation.

Registered like any feature's (:func:`register_inbound`, called by ``node.features``); the inbox
pipeline (``node.network.inbox``) runs them after the envelope verified, passed the replay
checks and had its payload loaded with the schema given here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any, cast

from sqlalchemy import Table, bindparam, case, func, insert, select, text, update

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


# The summary path's statements, built once (issue 14: building a statement per envelope cost
# as much as running it).
_SUMMARIES = cast(Table, ReceivedSummary.__table__)
_OF_PERIOD = (
    # Not the columns' own names: an UPDATE reserves those for its SET values.
    _SUMMARIES.c.origin == bindparam("of_origin"),
    _SUMMARIES.c.period == bindparam("of_period"),
)
_REVISIONS = select(
    func.max(_SUMMARIES.c.revision),
    func.max(case((_SUMMARIES.c.revision == bindparam("revision"), 1), else_=0)),
).where(*_OF_PERIOD)
_NOT_CURRENT = update(_SUMMARIES).where(*_OF_PERIOD).values(current=False)
_INSERT_SUMMARY = insert(_SUMMARIES)
# The table, not the mapped class: an ORM bulk insert would build insert commands per row.
_INSERT_FIGURES = insert(cast(Table, ReceivedFigure.__table__))
_FIGURE_COLUMNS = ("summary_id", "indicator", "maps_to", "disaggregation_key", "value_text")
# The same INSERT for SQLite's driver (qmark parameters), in _FIGURE_COLUMNS' order.
_INSERT_FIGURES_QMARK = (
    "INSERT INTO received_figures (summary_id, indicator, maps_to, disaggregation_key, "
    "value_text) VALUES (?, ?, ?, ?, ?)"
)
# PostgreSQL (issue 14, sixth round): the summary row and its figures in ONE statement, the
# figures as one JSON text of [indicator, maps_to, breakdown key, value] arrays. Before, the
# figures went as five arrays: psycopg dumps a list element by element in Python (a third of
# a PostgreSQL ingest's CPU), and the summary's INSERT was a round trip of its own. ``->>``
# gives each element back as the text it was (a JSON null as SQL NULL); the INSERT assigns it
# to the columns' types as the arrays' texts were; ``WITH ORDINALITY … ORDER BY n`` keeps
# document order (ids follow it). The check that each figure names a summary (the foreign key;
# on PostgreSQL the statement-level trigger of migration 0021) sees the summary row: it runs at
# the statement's end, after its WITH part inserted the row.
_INSERT_SUMMARY_AND_FIGURES_PG = text(
    "WITH summary AS ("
    "INSERT INTO received_summaries (envelope_id, origin, period, revision, current, "
    "catalogue_version, received_at) VALUES (:envelope_id, :origin, :period, :revision, "
    ":current, :catalogue_version, :received_at) RETURNING id) "
    "INSERT INTO received_figures (summary_id, indicator, maps_to, disaggregation_key, "
    "value_text) SELECT summary.id, figure ->> 0, figure ->> 1, figure ->> 2, figure ->> 3 "
    "FROM summary, json_array_elements(CAST(:figures AS json)) WITH ORDINALITY "
    "AS element(figure, n) ORDER BY n"
).bindparams(
    # The summary's values get the bind processing the table's own INSERT gives them.
    *(
        bindparam(name, type_=_SUMMARIES.c[name].type)
        for name in (
            "envelope_id",
            "origin",
            "period",
            "revision",
            "current",
            "catalogue_version",
            "received_at",
        )
    ),  # fmt: skip
)


def handle_summary(inbound: Inbound) -> None:
    """A twin's summary: scope, then the envelope and its figures in one go."""
    # Only the origin and its themes: the Peer object is not loaded (issue 14).
    session, origin, payload, stored = (
        inbound.session,
        inbound.origin,
        inbound.payload,
        inbound.stored,
    )
    if payload["city"]["city_id"] != origin:
        raise inbox.refuse(422, "invalid_payload", "The summary is about another city.")
    themes = inbound.themes
    if themes is not None:
        outside = sorted({i["right"] for i in payload["indicators"]} - set(themes))
        if outside:
            raise inbox.refuse(
                403, "out_of_scope", f"Themes outside the twinning agreement: {', '.join(outside)}."
            )
    period, revision = payload["period"], payload["revision"]
    connection = session.connection()
    # One query for both questions (issue 14: they were two ORM queries): is this revision
    # already here, and which is the newest revision held for the period? Few rows match (one
    # per revision), found through the unique index on (origin, period, revision).
    newest, duplicate = connection.execute(
        _REVISIONS, {"of_origin": origin, "of_period": period, "revision": revision}
    ).one()
    if duplicate:
        raise inbox.refuse(
            409, "revision_exists", f"{origin} already sent revision {revision} for {period}."
        )
    inbox.store(session, stored)
    is_current = revision > (newest or 0)
    if is_current and newest is not None:
        # One UPDATE: loading older revisions (and their figures) made ingest slower with
        # every correction. Skipped when the period has no summary yet (it would match none).
        connection.execute(_NOT_CURRENT, {"of_origin": origin, "of_period": period})
    summary_values: dict[str, Any] = {
        "envelope_id": stored.id,
        "origin": origin,
        "period": period,
        "revision": revision,
        "current": is_current,
        "catalogue_version": payload.get("catalogue_version"),
        "received_at": inbound.now,
    }
    if connection.dialect.name == "postgresql":
        # One statement for the summary and its figures (see _INSERT_SUMMARY_AND_FIGURES_PG).
        summary_values["figures"] = json.dumps(list(_figure_rows(payload)), ensure_ascii=False)
        connection.execute(_INSERT_SUMMARY_AND_FIGURES_PG, summary_values)
        return
    # Core, not an ORM object (issue 14): nothing in this unit of work reads the summary back.
    inserted = connection.execute(_INSERT_SUMMARY, summary_values).inserted_primary_key
    assert inserted is not None  # a single-row INSERT always reports its key
    summary_id = inserted[0]
    # The figures with one Core executemany (issue 14): 350 ORM objects built, tracked and
    # flushed one by one were half of an ingest. Nothing reads ``summary.figures`` in this
    # unit of work before the insert; a later read loads them from the table.
    rows = [(summary_id, *figure) for figure in _figure_rows(payload)]
    if not rows:
        return
    if connection.dialect.paramstyle == "qmark":
        # SQLite: the driver's own executemany (issue 14): SQLAlchemy's per-row parameter
        # processing was a third of this insert, and these columns (an integer and texts)
        # have no bind processing to skip, so the stored values are the same.
        connection.exec_driver_sql(_INSERT_FIGURES_QMARK, rows)
    else:
        # Elsewhere Core's executemany.
        connection.execute(
            _INSERT_FIGURES, [dict(zip(_FIGURE_COLUMNS, row, strict=True)) for row in rows]
        )


def _figure_rows(payload: Mapping[str, Any]) -> Iterator[tuple[str, str | None, str, str]]:
    """(indicator, maps_to, breakdown key, value text) of each figure of a loaded summary, in
    the document's order: the columns of ``received_figures`` after its summary id."""
    breakdown_key = _breakdown_keys()
    for indicator in payload["indicators"]:
        code, maps_to = indicator["code"], indicator.get("maps_to")
        for figure in indicator["results"]:
            value = figure["value"]
            yield (
                code,
                maps_to,
                breakdown_key(figure["disaggregation"]),
                value if isinstance(value, str) else _boolean_text(value),
            )


def _boolean_text(value: bool) -> str:
    """A yes/no figure's stored text."""
    return "true" if value else "false"


def _breakdown_keys() -> Callable[[Mapping[str, str]], str]:
    """``disaggregation.disaggregation_key``, remembered per breakdown for one summary.

    A summary repeats a handful of breakdowns (total, sex, age group...) over hundreds of
    figures. The memo is keyed by the breakdown's items in their order: the same items give
    the same key, whatever their order (the key sorts them), so a hit is always right.
    """
    known: dict[tuple[tuple[str, str], ...], str] = {}

    def key(breakdown: Mapping[str, str]) -> str:
        items = tuple(breakdown.items())
        found = known.get(items)
        if found is None:
            found = known[items] = disagg.disaggregation_key(breakdown)
        return found

    return key


def handle_twinning(inbound: Inbound) -> None:
    """Requests, answers and endings of a twinning, from the other side."""
    inbox.store(inbound.session, inbound.stored)
    peers.apply_remote(
        inbound.session, inbound.peer, inbound.envelope["type"], inbound.payload, inbound.now
    )
