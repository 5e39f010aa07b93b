"""Our summaries: built from validated results, small cells suppressed, signed, queued.

A summary is built per *scope*: twins that share the same themes get the same envelope; a
twin sees only the themes of its agreement, since nothing else may leave the node. A correction
is simply a new publication for the same period: its ``revision`` is one higher, and twins keep
the history while showing the newest as current.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from node.config import NodeConfig
from node.errors import InvalidInputError
from node.models import Indicator, Result
from node.network import keyring, outbox, peers, trust
from node.network.models import OutEnvelope, ReceivedSummary
from node.permissions import Actor, require
from node.refusals import period_problem
from node.services import catalogue, monitoring
from schemas.periods import PeriodError, parse_period
from schemas.secretariat import NETWORK_AUDIENCE
from schemas.summary import SUMMARY_SCHEMA, SUMMARY_STREAM, SUMMARY_TYPE

COUNT_UNIT_HINTS = ("COUNT", "PERSONS", "PEOPLE", "CASES", "VICTIMS", "HOUSEHOLDS", "N")


def _is_count_unit(unit_code: str) -> bool:
    code = unit_code.upper()
    return code in COUNT_UNIT_HINTS or code.startswith(("N_", "COUNT_", "NUM_"))


def suppress(row: Result, unit_code: str, threshold: int) -> bool:
    """Whether a figure is a small cell that must not leave the node.

    Totals always travel (they describe the whole city). A breakdown is suppressed when it
    rests on fewer than ``threshold`` people or cases: known from ``cases``, or from the value
    itself when the indicator counts people.
    """
    if threshold <= 0 or not row.disaggregation_key:
        return False
    if row.cases is not None:
        return row.cases < threshold
    if _is_count_unit(unit_code) and row.value_text not in ("true", "false"):
        return abs(Decimal(row.value_text)) < threshold
    return False


# The ``source`` of a summary whose figures are generated sample data (``sample_data = true``).
SAMPLE_SOURCE = "sample"


def build_payload(
    session: Session,
    config: NodeConfig,
    period: str,
    themes: list[str] | None,
    revision: int,
    supersedes: str | None,
    *,
    comparable_only: bool = False,
    suppressed_out: list[Result] | None = None,
) -> dict[str, Any]:
    """The ``hrc.summary/1`` payload for ``period`` restricted to ``themes`` (None = all);
    ``comparable_only`` keeps core indicators and local ones mapped to a core code.
    ``suppressed_out``, when given, receives the figures small-cell suppression held back (the
    publish preview shows them)."""
    rows = list(
        session.scalars(
            select(Result)
            .where(Result.period == period, Result.status.in_(("validated", "published")))
            .order_by(Result.indicator_code, Result.disaggregation_key)
        )
    )
    by_indicator: dict[str, list[Result]] = defaultdict(list)
    for row in rows:
        by_indicator[row.indicator_code].append(row)
    targets = {
        (t.indicator_code, t.disaggregation_key): t for t in monitoring.list_targets(session)
    }
    suppressed = 0
    indicators = []
    for code in sorted(by_indicator):
        indicator = session.get(Indicator, code)
        assert indicator is not None
        if themes is not None and indicator.right not in themes:
            continue
        if comparable_only and not (indicator.core or _maps_to_core(session, indicator)):
            continue
        figures = []
        for row in by_indicator[code]:
            if suppress(row, indicator.unit_code, config.small_cell_threshold):
                suppressed += 1
                if suppressed_out is not None:
                    suppressed_out.append(row)
                continue
            figures.append(
                {
                    "disaggregation": dict(row.disaggregation or {}),
                    "value": row.value if isinstance(row.value, bool) else row.value_text,
                    "status": row.status,
                }
            )
        target = targets.get((code, ""))
        indicators.append(
            {
                "code": code,
                "name": indicator.name,
                "right": indicator.right,
                "type": indicator.type,
                "value_type": indicator.value_type,
                "unit": {"code": indicator.unit_code, "label": indicator.unit_label},
                "direction": indicator.direction,
                "core": indicator.core,
                "maps_to": indicator.maps_to,
                "results": figures,
                "baseline": _point(target.baseline_period, target.baseline_value)
                if target
                else None,
                "target": _point(target.target_period, target.target_value) if target else None,
            }
        )
    payload: dict[str, Any] = {
        "city": {
            "city_id": config.city_id,
            "name": config.name,
            "country": config.country,
            "region": config.region,
        },
        "period": period,
        "revision": revision,
        "supersedes": supersedes,
        "catalogue_version": catalogue.view(session).version,
        "themes": themes,
        "suppressed_cells": suppressed,
        "small_cell_threshold": config.small_cell_threshold,
        "indicators": indicators,
    }
    if config.values.get("sample_data"):
        # Generated figures (the demo's cities) say so inside what is signed: a twin, a
        # benchmark or a reader of the public copy can never take them for real ones.
        payload["source"] = SAMPLE_SOURCE
    return payload


def _maps_to_core(session: Session, indicator: Indicator) -> bool:
    """A local indicator compares across the network only through a *current* core code (a
    retired one is compared by no one any more)."""
    if not indicator.maps_to:
        return False
    target = session.get(Indicator, indicator.maps_to)
    return target is not None and target.core


def _point(period: str | None, value: str | None) -> dict[str, Any] | None:
    if period is None or value is None:
        return None
    return {"period": period, "value": value == "true" if value in ("true", "false") else value}


def _suspended(session: Session, city_id: str) -> bool:
    """Whether the secretariat's latest directory lists this city as suspended: its summaries
    would only be refused, so none are queued for the network until it is reinstated."""
    entry = keyring.directory_entry(session, city_id)
    return entry is not None and entry.state == "suspended"


def _previous_for(session: Session, period: str, audience: list[str]) -> OutEnvelope | None:
    """Our last summary of ``period`` for exactly this audience (what this one supersedes)."""
    for envelope in session.scalars(
        select(OutEnvelope)
        .where(OutEnvelope.stream == SUMMARY_STREAM, OutEnvelope.period == period)
        .order_by(OutEnvelope.seq.desc())
    ):
        if sorted(envelope.audience) == audience:
            return envelope
    return None


def _checked_period(period: str) -> str:
    try:
        return str(parse_period(period))
    except PeriodError as exc:
        # Every caller (page, API, CLI) gets the same readable refusal: "2025-13" was a 500
        # on the page, which does not go through the API's schema.
        raise InvalidInputError(
            str(exc),
            code="invalid_period",
            errors={"period": [period_problem(exc)]},
            params=exc.params,
            variant=exc.variant,
        ) from exc


@dataclass(frozen=True)
class PlannedSummary:
    """One envelope a publication would sign: who receives it and exactly what it carries."""

    audience: list[str]  # the twins' city ids ([] = no twin yet: kept as our own record)
    recipients: list[str]  # the city ids it is queued for (the secretariats for "network")
    payload: dict[str, Any]
    suppressed: list[Result]  # figures small-cell suppression keeps at home


def plan_publication(
    session: Session, config: NodeConfig, period: str, *, revision: int | None = None
) -> list[PlannedSummary]:
    """What publishing ``period`` would sign and send, built exactly as :func:`publish_summary`
    builds it, without signing or storing anything (the page's preview runs this)."""
    period = _checked_period(period)
    has_figures = session.scalar(
        select(func.count())
        .select_from(Result)
        .where(Result.period == period, Result.status.in_(("validated", "published")))
    )
    if not has_figures:
        raise InvalidInputError(
            f"There are no validated results for {period} to publish.",
            code="nothing_to_publish",
            params={"period": period},
            errors={"period": ["no validated results"]},
        )
    if revision is None:
        revision = (
            session.scalar(
                select(func.max(OutEnvelope.revision)).where(
                    OutEnvelope.stream == SUMMARY_STREAM, OutEnvelope.period == period
                )
            )
            or 0
        ) + 1
    scopes: dict[tuple[str, ...] | None, list[str]] = defaultdict(list)
    secretariats: list[str] = []
    for twin in peers.active_twins(session):
        if trust.is_pinned_secretariat(session, twin.city_id):
            # The network's copy goes to the secretariat we joined (pinned), whatever a twin
            # says it is.
            if not _suspended(session, config.city_id):
                secretariats.append(twin.city_id)
            continue
        scopes[tuple(twin.themes) if twin.themes is not None else None].append(twin.city_id)
    if not scopes and not secretariats:
        scopes[None] = []  # no twin yet: the summary is still signed and kept as our record
    planned = []
    for scope, audience in sorted(scopes.items(), key=lambda kv: str(kv[0])):
        previous = _previous_for(session, period, sorted(audience))
        themes = list(scope) if scope is not None else None
        held_back: list[Result] = []
        payload = build_payload(
            session,
            config,
            period,
            themes,
            revision,
            previous.sha256 if previous else None,
            suppressed_out=held_back,
        )
        planned.append(PlannedSummary(sorted(audience), sorted(audience), payload, held_back))
    if secretariats:
        # The network's copy (for benchmarks): only indicators comparable across cities, i.e.
        # core ones and local ones mapped to a core code; addressed to "network".
        previous = _previous_for(session, period, [NETWORK_AUDIENCE])
        held_back = []
        payload = build_payload(
            session,
            config,
            period,
            None,
            revision,
            previous.sha256 if previous else None,
            comparable_only=True,
            suppressed_out=held_back,
        )
        planned.append(PlannedSummary([NETWORK_AUDIENCE], sorted(secretariats), payload, held_back))
    return planned


def publish_summary(
    session: Session, config: NodeConfig, period: str, *, user: Actor | None, now: datetime
) -> list[OutEnvelope]:
    """Build, sign and queue our summary of ``period`` for every twin (one envelope per scope)."""
    require(user, "summaries.publish")
    planned = plan_publication(session, config, period)
    period = planned[0].payload["period"]
    revision = planned[0].payload["revision"]
    published = []
    for item in planned:
        envelope = outbox.sign_and_store(
            session,
            config,
            type_=SUMMARY_TYPE,
            schema=SUMMARY_SCHEMA,
            stream=SUMMARY_STREAM,
            payload=item.payload,
            audience=item.audience,
            now=now,
            period=period,
            revision=revision,
        )
        outbox.queue(session, envelope, item.recipients, now)
        published.append(envelope)
    for older in session.scalars(
        select(OutEnvelope).where(
            OutEnvelope.stream == SUMMARY_STREAM,
            OutEnvelope.period == period,
            OutEnvelope.revision < revision,
        )
    ):
        older.superseded = True
    session.flush()
    return published


def own_summaries(session: Session) -> list[OutEnvelope]:
    return list(
        session.scalars(
            select(OutEnvelope)
            .where(OutEnvelope.stream == SUMMARY_STREAM)
            .order_by(OutEnvelope.seq)
        )
    )


def received(session: Session, city_id: str) -> list[ReceivedSummary]:
    return list(
        session.scalars(
            select(ReceivedSummary)
            .where(ReceivedSummary.origin == city_id)
            .order_by(ReceivedSummary.period, ReceivedSummary.revision)
        )
    )
