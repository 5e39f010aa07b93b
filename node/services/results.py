"""Results: record (one or many, all-or-nothing), list, validate and publish figures."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from node import disaggregation as disagg
from node.catalogue_view import CatalogueView, IndicatorInfo
from node.errors import InvalidInputError, NotFoundError, PermissionDeniedError
from node.models import Result, User
from node.permissions import Actor, allowed, require
from node.services import catalogue
from schemas.fields import parse_decimal
from schemas.periods import PeriodError, parse_period

_ORDINAL_SCALE_RE = re.compile(r"^SCORE_(\d+)_(\d+)$")
STATUS_ORDER = {"draft": 0, "validated": 1, "published": 2}


@dataclass(frozen=True)
class PreparedResult:
    indicator: str
    period: str
    key: str
    disaggregation: dict[str, str]
    value: Decimal | bool
    status: str
    cases: int | None
    source: str | None
    method: str | None
    note: str | None


def check_value(indicator: IndicatorInfo, value: Any) -> tuple[Decimal | bool | None, str | None]:
    """Coerce ``value`` to the indicator's value type; return (value, None) or (None, message)."""
    if indicator.value_type == "boolean":
        if isinstance(value, bool):
            return value, None
        text = str(value).strip().lower()
        if text in ("true", "yes", "1"):
            return True, None
        if text in ("false", "no", "0"):
            return False, None
        return None, "this indicator is yes/no: give true or false"
    if isinstance(value, bool):
        return None, "this indicator takes a number, not true/false"
    try:
        number = value if isinstance(value, Decimal) else parse_decimal(value)
    except ValueError as exc:
        return None, str(exc)
    if indicator.value_type == "ordinal":
        if number != number.to_integral_value():
            return None, "an ordinal score is a whole number"
        scale = _ORDINAL_SCALE_RE.match(indicator.unit_code)
        if scale and not int(scale[1]) <= number <= int(scale[2]):
            return None, f"the score must be between {scale[1]} and {scale[2]}"
    return number, None


def prepare_results(
    items: Sequence[dict[str, Any]], cat: CatalogueView, *, may_validate: bool
) -> tuple[list[PreparedResult], dict[int, dict[str, list[str]]]]:
    """Check every item against the catalogue; return the good ones and errors by item index.

    ``may_validate``: whether the caller may enter figures as validated or published.
    """
    prepared: list[PreparedResult] = []
    errors: dict[int, dict[str, list[str]]] = {}
    seen: dict[tuple[str, str, str], int] = {}
    known = cat.known_codes()
    for index, item in enumerate(items):
        item_errors: dict[str, list[str]] = {}
        info = cat.indicators.get(item.get("indicator", ""))
        if info is None:
            item_errors["indicator"] = [f"unknown indicator '{str(item.get('indicator'))[:64]}'"]
        try:
            period = str(parse_period(item.get("period")))
        except PeriodError as exc:
            item_errors["period"] = [str(exc)]
            period = ""
        breakdown = item.get("disaggregation") or {}
        if not isinstance(breakdown, dict):
            item_errors["disaggregation"] = ["must be an object of dimension → code"]
            breakdown = {}
        value: Decimal | bool | None = None
        if info is not None:
            item_errors.update(disagg.check_against(breakdown, list(info.dimensions), known))
            value, problem = check_value(info, item.get("value"))
            if problem:
                item_errors["value"] = [problem]
        status = item.get("status") or "draft"
        if status not in STATUS_ORDER:
            item_errors["status"] = ["one of draft, validated, published"]
        elif status != "draft" and not may_validate:
            item_errors["status"] = ["only officials may validate or publish; enter it as draft"]
        cases = item.get("cases")
        if cases is not None and (
            isinstance(cases, bool) or not isinstance(cases, int) or not 0 <= cases < 2**53
        ):
            item_errors["cases"] = ["a whole number of people or cases, 0 or more"]
        key = disagg.disaggregation_key(breakdown) if not item_errors.get("disaggregation") else ""
        identity = (str(item.get("indicator")), period, key)
        if not item_errors and identity in seen:
            item_errors["period"] = [f"the same figure is given twice (also item {seen[identity]})"]
        if item_errors:
            errors[index] = item_errors
            continue
        seen[identity] = index
        assert info is not None and value is not None
        prepared.append(
            PreparedResult(
                indicator=info.code,
                period=period,
                key=key,
                disaggregation=disagg.normalize(breakdown),
                value=value,
                status=status,
                cases=cases,
                source=item.get("source"),
                method=item.get("method"),
                note=item.get("note"),
            )
        )
    return prepared, errors


def store_results(
    session: Session,
    prepared: Sequence[PreparedResult],
    *,
    user: Actor | None,
    now: datetime,
    may_validate: bool,
) -> list[Result]:
    """Insert or update prepared figures (caller has checked them). Flushes once.

    A database ``user`` is recorded as who entered the figures (the operator is not a user).
    """
    entered_by = user if isinstance(user, User) else None
    existing: dict[tuple[str, str, str], Result] = {}
    indicator_codes = {p.indicator for p in prepared}
    for chunk_start in range(0, len(indicator_codes), 500):
        codes = sorted(indicator_codes)[chunk_start : chunk_start + 500]
        for row in session.scalars(select(Result).where(Result.indicator_code.in_(codes))):
            existing[(row.indicator_code, row.period, row.disaggregation_key)] = row
    stored: list[Result] = []
    for item in prepared:
        row = existing.get((item.indicator, item.period, item.key))
        if row is None:
            period = parse_period(item.period)
            row = Result(
                indicator_code=item.indicator,
                period=item.period,
                period_start=period.start,
                period_end=period.end,
                disaggregation_key=item.key,
                disaggregation=item.disaggregation,
                entered_by=entered_by,
                entered_at=now,
            )
            session.add(row)
        elif row.status != "draft" and not may_validate:
            # A collector must not silently change a figure an official already vouched for.
            raise PermissionDeniedError(
                f"{item.indicator} {item.period} is already {row.status}; ask an official to "
                "change it.",
                code="result_locked",
            )
        row.value = item.value
        row.status = item.status
        row.cases = item.cases
        row.source, row.method, row.note = item.source, item.method, item.note
        row.updated_at = now
        if entered_by is not None:
            row.entered_by = entered_by
        stored.append(row)
    session.flush()
    return stored


def record_results(
    session: Session, items: Sequence[dict[str, Any]], *, user: Actor | None, now: datetime
) -> list[Result]:
    """Record one or many figures, all-or-nothing: any bad item writes nothing (422)."""
    require(user, "results.write")
    may_validate = allowed(user, "results.validate")
    prepared, errors = prepare_results(items, catalogue.view(session), may_validate=may_validate)
    if errors:
        raise InvalidInputError(
            f"{len(errors)} of {len(items)} results are not valid; nothing was saved.",
            errors={str(i): e for i, e in errors.items()},
        )
    return store_results(session, prepared, user=user, now=now, may_validate=may_validate)


def list_results(
    session: Session,
    *,
    indicator: str | None = None,
    period: str | None = None,
    status: str | None = None,
    published_only: bool = True,
    limit: int = 1000,
    offset: int = 0,
) -> tuple[list[Result], int]:
    """Results in catalogue order, newest period last; ``published_only`` for the public."""
    query = select(Result)
    if indicator:
        query = query.where(Result.indicator_code == indicator)
    if period:
        query = query.where(Result.period == str(parse_period(period)))
    if published_only:
        query = query.where(Result.status == "published")
    elif status:
        query = query.where(Result.status == status)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    query = (
        query.order_by(
            Result.indicator_code, Result.period_end, Result.period_start, Result.disaggregation_key
        )
        .limit(limit)
        .offset(offset)
    )
    return list(session.scalars(query)), total


def change_status(
    session: Session,
    *,
    status: str,
    user: Actor | None,
    now: datetime,
    indicator: str | None = None,
    period: str | None = None,
    ids: Sequence[int] | None = None,
) -> int:
    """Validate or publish (or send back to draft) a selection of results; returns the count."""
    require(user, "results.validate")
    if not (indicator or period or ids):
        raise InvalidInputError(
            "Say which results: give indicator, period or ids.",
            errors={"ids": ["give at least one selector"]},
        )
    query = select(Result)
    if indicator:
        catalogue.get_indicator(session, indicator)
        query = query.where(Result.indicator_code == indicator)
    if period:
        query = query.where(Result.period == str(parse_period(period)))
    if ids:
        query = query.where(Result.id.in_(list(ids)))
    rows = list(session.scalars(query))
    if ids and len(rows) != len(set(ids)):
        found = {r.id for r in rows}
        raise NotFoundError(
            f"No results with ids {sorted(set(ids) - found)[:20]}.", code="result_not_found"
        )
    changed = 0
    for row in rows:
        if row.status != status:
            row.status = status
            row.updated_at = now
            changed += 1
    session.flush()
    return changed


def result_to_wire(row: Result) -> dict[str, Any]:
    return {
        "id": row.id,
        "indicator": row.indicator_code,
        "period": row.period,
        "value": row.value,
        "disaggregation": dict(row.disaggregation or {}),
        "status": row.status,
        "cases": row.cases,
        "source": row.source,
        "method": row.method,
        "note": row.note,
        "entered_by": row.entered_by.email if row.entered_by else None,
        "entered_at": row.entered_at,
        "updated_at": row.updated_at,
    }
