"""Baselines and targets, qualitative evidence, budget lines, and progress per indicator."""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Collection
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from node import data_version
from node import disaggregation as disagg
from node.errors import InvalidInputError, NotFoundError
from node.models import BudgetLine, Evidence, LatestResult, Result, Target, User
from node.permissions import Actor, require
from node.progress import Assessment, Point, assess
from node.refusals import Problem
from node.services import catalogue
from node.services.results import check_value
from schemas.fields import format_decimal, parse_decimal
from schemas.periods import Period, parse_period


def _text(value: Decimal | bool | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return format_decimal(value)


def _value(text: str | None) -> Decimal | bool | None:
    if text is None:
        return None
    if text in ("true", "false"):
        return text == "true"
    return parse_decimal(text)


def set_target(
    session: Session, data: dict[str, Any], *, user: Actor | None, now: datetime
) -> Target:
    """Set (or replace) the baseline and target of an indicator or one of its breakdowns."""
    require(user, "targets.write")
    indicator = catalogue.get_indicator(session, data["indicator"])
    info = catalogue.view(session).indicators[indicator.code]
    breakdown = data.get("disaggregation") or {}
    errors = disagg.check_against(
        breakdown, indicator.dimension_codes, catalogue.view(session).known_codes()
    )
    points: dict[str, tuple[str, str] | None] = {}
    for name in ("baseline", "target"):
        point = data.get(name)
        if point is None:
            points[name] = None
            continue
        value, problem = check_value(info, point["value"])
        if problem:
            errors[f"{name}.value"] = [problem]
        else:
            points[name] = (point["period"], _text(value) or "")
    baseline, target = points.get("baseline"), points.get("target")
    if baseline and target and parse_period(baseline[0]) >= parse_period(target[0]):
        errors["target.period"] = [
            Problem(
                "the target period must come after the baseline period",
                variant="target_before_baseline",
            )
        ]
    if errors:
        raise InvalidInputError("The baseline or target is not valid.", errors=errors)
    key = disagg.disaggregation_key(breakdown)
    # The target written is this indicator's alone (node.data_version: the other indicators'
    # kept dashboard parts stay valid).
    with data_version.indicator_writes(session, {indicator.code}):
        row = session.scalar(
            select(Target).where(
                Target.indicator_code == indicator.code, Target.disaggregation_key == key
            )
        )
        if row is None:
            row = Target(
                indicator_code=indicator.code,
                disaggregation_key=key,
                disaggregation=disagg.normalize(breakdown),
            )
            session.add(row)
        row.baseline_period, row.baseline_value = baseline or (None, None)
        row.target_period, row.target_value = target or (None, None)
        row.note = data.get("note")
        row.updated_at = now
    return row


def target_to_wire(row: Target) -> dict[str, Any]:
    def point(period: str | None, value: str | None) -> dict[str, Any] | None:
        return None if period is None else {"period": period, "value": _value(value)}

    return {
        "indicator": row.indicator_code,
        "disaggregation": dict(row.disaggregation or {}),
        "baseline": point(row.baseline_period, row.baseline_value),
        "target": point(row.target_period, row.target_value),
        "note": row.note,
    }


def list_targets(session: Session, indicator: str | None = None) -> list[Target]:
    query = select(Target).order_by(Target.indicator_code, Target.disaggregation_key)
    if indicator:
        query = query.where(Target.indicator_code == indicator)
    return list(session.scalars(query))


def add_evidence(
    session: Session, data: dict[str, Any], *, user: User | None, now: datetime
) -> Evidence:
    """Record a civil-society or community report; officials publish it after review."""
    require(user, "evidence.write")
    catalogue.get_indicator(session, data["indicator"])
    row = Evidence(
        indicator_code=data["indicator"],
        period=data["period"],
        kind=data["kind"],
        title=data["title"],
        body=data["body"],
        organisation=data.get("organisation"),
        url=data.get("url"),
        status="submitted",
        submitted_by_id=user.id if user else None,
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row


def publish_evidence(session: Session, evidence_id: int, *, user: User | None) -> Evidence:
    require(user, "evidence.publish")
    # Ids beyond 32 bits cannot exist (INTEGER keys); asking the database would overflow.
    row = session.get(Evidence, evidence_id) if 0 < evidence_id < 2**31 else None
    if row is None:
        raise NotFoundError(f"No evidence with id {evidence_id}.", code="evidence_not_found")
    row.status = "published"
    session.flush()
    return row


def list_evidence(
    session: Session, *, indicator: str | None = None, published_only: bool = True
) -> list[Evidence]:
    query = select(Evidence).order_by(Evidence.created_at.desc(), Evidence.id.desc())
    if indicator:
        query = query.where(Evidence.indicator_code == indicator)
    if published_only:
        query = query.where(Evidence.status == "published")
    return list(session.scalars(query))


def evidence_to_wire(row: Evidence, session: Session) -> dict[str, Any]:
    submitter = session.get(User, row.submitted_by_id) if row.submitted_by_id else None
    return {
        "id": row.id,
        "indicator": row.indicator_code,
        "period": row.period,
        "kind": row.kind,
        "title": row.title,
        "body": row.body,
        "organisation": row.organisation,
        "url": row.url,
        "status": row.status,
        "created_at": row.created_at,
        "submitted_by": submitter.email if submitter else None,
    }


def add_budget_line(
    session: Session, data: dict[str, Any], *, user: User | None, now: datetime
) -> BudgetLine:
    """Link a budget line (allocated, executed) to an indicator and period."""
    require(user, "budget.write")
    catalogue.get_indicator(session, data["indicator"])
    errors = {}
    if data["allocated"] < 0:
        errors["allocated"] = [Problem("must not be negative", variant="amount_negative")]
    if data.get("executed") is not None and data["executed"] < 0:
        errors["executed"] = [Problem("must not be negative", variant="amount_negative")]
    if errors:
        raise InvalidInputError("The budget line is not valid.", errors=errors)
    row = BudgetLine(
        indicator_code=data["indicator"],
        period=data["period"],
        programme=data["programme"],
        allocated=format_decimal(data["allocated"]),
        executed=_text(data.get("executed")),
        currency=data["currency"],
        note=data.get("note"),
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row


def list_budget_lines(session: Session, indicator: str | None = None) -> list[BudgetLine]:
    query = select(BudgetLine).order_by(BudgetLine.indicator_code, BudgetLine.period, BudgetLine.id)
    if indicator:
        query = query.where(BudgetLine.indicator_code == indicator)
    return list(session.scalars(query))


def budget_to_wire(row: BudgetLine) -> dict[str, Any]:
    allocated = Decimal(row.allocated)
    executed = Decimal(row.executed) if row.executed is not None else None
    rate = None
    if executed is not None and allocated:
        rate = (executed * 100 / allocated).quantize(Decimal("0.1"))
    return {
        "id": row.id,
        "indicator": row.indicator_code,
        "period": row.period,
        "programme": row.programme,
        "allocated": allocated,
        "executed": executed,
        "currency": row.currency,
        "note": row.note,
        "execution_rate": rate,
    }


def _point(period: str | None, value: Decimal | bool | None) -> Point | None:
    if period is None or value is None:
        return None
    return Point(_parsed_period(period), value)


@functools.lru_cache(maxsize=16_384)
def _period_text(period: Period) -> str:
    return str(period)


@functools.lru_cache(maxsize=16_384)
def _parsed_period(text: str) -> Period:
    """:func:`parse_period`, cached: progress meets the same few hundred periods thousands of
    times. Only stored or validated period texts reach it (results, targets)."""
    return parse_period(text)


def _assessment_to_wire(a: Assessment) -> dict[str, Any]:
    def point(p: Point | None) -> dict[str, Any] | None:
        return None if p is None else {"period": _period_text(p.period), "value": p.value}

    return {
        "status": a.status,
        "latest": point(a.latest),
        "baseline": point(a.baseline),
        "target": point(a.target),
        "expected": a.expected,
    }


def _stored_value(text: str) -> Decimal | bool:
    """A stored ``value_text`` as :attr:`node.models.Result.value` reads it."""
    if text in ("true", "false"):
        return text == "true"
    return Decimal(text)


def latest_values(
    session: Session,
    *,
    published_only: bool = True,
    indicator: str | None = None,
    indicators: Collection[str] | None = None,
) -> dict[tuple[str, str], tuple[str, str]]:
    """(indicator, breakdown key) → (period, value text) of its latest figure.

    Read from ``results_latest`` (one row per breakdown, maintained with every write by
    :func:`node.services.results.refresh_latest`): no result row is read at all. ``indicator``
    or ``indicators`` (codes) read those indicators' rows only.
    """
    scope = "published" if published_only else "official"
    query = select(
        LatestResult.indicator_code,
        LatestResult.disaggregation_key,
        LatestResult.period,
        LatestResult.value_text,
    ).where(LatestResult.scope == scope)
    if indicator:
        query = query.where(LatestResult.indicator_code == indicator)
    elif indicators is not None:
        query = query.where(LatestResult.indicator_code.in_(sorted(indicators)))
    return {(code, key): (period, text) for code, key, period, text in session.execute(query)}


def progress(
    session: Session,
    *,
    published_only: bool = True,
    indicator: str | None = None,
    indicators: Collection[str] | None = None,
) -> list[dict[str, Any]]:
    """Latest figure vs baseline vs target for every indicator, by breakdown where present.

    Drafts never count; the public sees progress computed from published figures only.
    ``indicator`` reads that indicator's figures and targets only (404 when it does not
    exist); ``indicators`` (codes) the rows of those of them that exist, in catalogue order:
    each indicator's row depends on its own figures and targets alone, so these rows equal the
    full answer's rows of the same indicators.
    """
    statuses = ("published",) if published_only else ("validated", "published")
    if indicator:
        shown = [catalogue.get_indicator(session, indicator)]
    elif indicators is not None:
        wanted = set(indicators)
        shown = [i for i in catalogue.list_indicators(session) if i.code in wanted]
    else:
        shown = catalogue.list_indicators(session)
    latest = latest_values(
        session, published_only=published_only, indicator=indicator, indicators=indicators
    )
    # Core rows, not ORM objects: a large city sets thousands of breakdown targets.
    target_query = select(
        Target.indicator_code,
        Target.disaggregation_key,
        Target.baseline_period,
        Target.baseline_value,
        Target.target_period,
        Target.target_value,
    )
    if indicator:
        target_query = target_query.where(Target.indicator_code == indicator)
    elif indicators is not None:
        target_query = target_query.where(Target.indicator_code.in_(sorted(indicators)))
    targets = {
        (t.indicator_code, t.disaggregation_key): t for t in session.execute(target_query).all()
    }
    keys_by_indicator: dict[str, set[str]] = defaultdict(set)
    for code, key in [*latest, *targets]:
        keys_by_indicator[code].add(key)
    # A breakdown without its own baseline is compared with its figure in the total's baseline
    # period, so an official sees whether every group moved, not only the average. Only the
    # figures of those (indicator, period) pairs are read (the unique index serves it).
    baseline_rows: dict[tuple[str, str], tuple[str, str]] = {}
    baseline_periods = sorted(
        {
            (code, t.baseline_period)
            for (code, key), t in targets.items()
            if key == "" and t.baseline_period
        }
    )
    for chunk_start in range(0, len(baseline_periods), 200):
        chunk = baseline_periods[chunk_start : chunk_start + 200]
        query = select(
            Result.indicator_code, Result.disaggregation_key, Result.period, Result.value_text
        ).where(
            Result.status.in_(statuses),
            or_(*(and_(Result.indicator_code == c, Result.period == p) for c, p in chunk)),
        )
        for code, key, period, text in session.execute(query):
            baseline_rows[(code, key)] = (period, text)
    # The loop below runs once per breakdown (8,311 at a million results, issue 14): what can
    # be computed once is (a key's breakdown, a period text's wire form), and each entry's wire
    # points are built from the texts already at hand instead of from the Points again.
    # ``assess`` returns the very Points it was given (or None), so the wire point of
    # ``a.latest`` is the one of the latest given; tests/api/test_fast_paths.py holds the
    # answers equal to the plain definition (``_assessment_to_wire`` of ``assess``).
    breakdowns_of: dict[str, dict[str, str]] = {}
    wire_periods: dict[str, str] = {}

    def wire_point(period: str | None, value: Decimal | bool | None) -> Any:
        """(Point, its wire form) of a stored period text and value; (None, None) without."""
        if period is None or value is None:
            return None, None
        parsed = _parsed_period(period)
        text = wire_periods.get(period)
        if text is None:
            text = wire_periods[period] = _period_text(parsed)
        return Point(parsed, value), {"period": text, "value": value}

    out = []
    for ind in shown:
        code, direction = ind.code, ind.direction
        entries = []
        for key in sorted(keys_by_indicator.get(code, {""}) | {""}):
            ident = (code, key)
            row = latest.get(ident)
            tgt = targets.get(ident)
            if tgt is not None:
                baseline, baseline_wire = wire_point(
                    tgt.baseline_period, _value(tgt.baseline_value)
                )
                target, target_wire = wire_point(tgt.target_period, _value(tgt.target_value))
            else:
                baseline = baseline_wire = target = target_wire = None
            if baseline is None and key:
                implied = baseline_rows.get(ident)
                if implied is not None:
                    baseline, baseline_wire = wire_point(implied[0], _stored_value(implied[1]))
            if row is not None:
                latest_point, latest_wire = wire_point(row[0], _stored_value(row[1]))
            else:
                latest_point = latest_wire = None
            a = assess(direction, latest_point, baseline, target)
            breakdown = breakdowns_of.get(key)
            if breakdown is None:
                breakdown = breakdowns_of[key] = disagg.parse_key(key)
            entries.append(
                {
                    "disaggregation": dict(breakdown),  # each entry its own, as before
                    "status": a.status,
                    "latest": None if a.latest is None else latest_wire,
                    "baseline": None if a.baseline is None else baseline_wire,
                    "target": None if a.target is None else target_wire,
                    "expected": a.expected,
                }
            )
        total, breakdowns = entries[0], entries[1:]
        out.append(
            {
                "indicator": code,
                "name": ind.name,
                "type": ind.type,
                "direction": direction,
                "unit": ind.unit_label,
                **total,
                "breakdowns": breakdowns,
            }
        )
    return out
