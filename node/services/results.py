"""Results: record (one or many, all-or-nothing), list, validate and publish figures."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, and_, bindparam, delete, func, insert, literal, or_, select
from sqlalchemy.orm import Session

from node import disaggregation as disagg
from node.catalogue_view import CatalogueView, IndicatorInfo
from node.errors import InvalidInputError, NotFoundError, PermissionDeniedError
from node.models import LatestResult, Result, User
from node.permissions import Actor, allowed, require
from node.services import catalogue
from schemas.fields import format_decimal, parse_decimal
from schemas.periods import PeriodError, parse_period

_ORDINAL_SCALE_RE = re.compile(r"^SCORE_(\d+)_(\d+)$")
STATUS_ORDER = {"draft": 0, "validated": 1, "published": 2}
# Who sees which figures: the public the published ones, officials validated ones too; drafts
# never count in progress. The keys are the ``scope`` of ``results_latest``.
LATEST_SCOPES: dict[str, tuple[str, ...]] = {
    "published": ("published",),
    "official": ("validated", "published"),
}
# Above this many breakdowns of one indicator touched by a write, its latest rows are rebuilt in
# one window query over the indicator instead of one index seek per breakdown and audience. A
# seek costs the same whatever the table's size, a rebuild grows with the indicator's history:
# at a million results (40,000 per indicator, 334 breakdowns) the seeks win even when every
# breakdown is touched, so the rebuild is kept for indicators with very many breakdowns.
_SEEK_LIMIT = 1_000


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


def _existing(
    session: Session, items: Sequence[PreparedResult], *, full_rows: bool = False
) -> dict[tuple[str, str, str], Any]:
    """Stored figures with the identities of ``items``: (indicator, period, key) → row.

    Only the (indicator, period) pairs the items touch are read, through the unique index
    (indicator, period, breakdown): a write of one figure into a table of a million reads a few
    rows, not the indicator's whole history. ``full_rows`` gives ORM objects, else Core rows
    ``(id, status)``.
    """
    periods: dict[str, set[str]] = defaultdict(set)
    for item in items:
        periods[item.indicator].add(item.period)
    wanted = {(item.indicator, item.period, item.key) for item in items}
    found: dict[tuple[str, str, str], Any] = {}
    pairs = sorted((code, sorted(values)) for code, values in periods.items())
    for start in range(0, len(pairs), 100):
        condition = or_(
            *(
                and_(Result.indicator_code == code, Result.period.in_(values))
                for code, values in pairs[start : start + 100]
            )
        )
        if full_rows:
            for row in session.scalars(select(Result).where(condition)):
                ident = (row.indicator_code, row.period, row.disaggregation_key)
                if ident in wanted:
                    found[ident] = row
            continue
        query = select(
            Result.id,
            Result.status,
            Result.indicator_code,
            Result.period,
            Result.disaggregation_key,
        ).where(condition)
        for row in session.connection().execute(query).all():
            ident = (row.indicator_code, row.period, row.disaggregation_key)
            if ident in wanted:
                found[ident] = row
    return found


def _refuse_locked(item: PreparedResult, status: str) -> PermissionDeniedError:
    # A collector must not silently change a figure an official already vouched for.
    return PermissionDeniedError(
        f"{item.indicator} {item.period} is already {status}; ask an official to change it.",
        code="result_locked",
    )


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
    Returns ORM rows (the API answers with them); files go through :func:`import_results`.
    """
    entered_by = user if isinstance(user, User) else None
    existing: dict[tuple[str, str, str], Result] = _existing(session, prepared, full_rows=True)
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
            raise _refuse_locked(item, row.status)
        row.value = item.value
        row.status = item.status
        row.cases = item.cases
        row.source, row.method, row.note = item.source, item.method, item.note
        row.updated_at = now
        if entered_by is not None:
            row.entered_by = entered_by
        stored.append(row)
    session.flush()
    refresh_latest(session, {(item.indicator, item.key) for item in prepared})
    return stored


IMPORT_BATCH = 5_000


def import_results(
    session: Session,
    prepared: Iterable[PreparedResult],
    *,
    user: Actor | None,
    now: datetime,
    may_validate: bool,
) -> int:
    """Insert or update checked figures in batches with Core executemany; returns the count.

    Writes the same rows as :func:`store_results` (a property test holds them equal) without
    an ORM object per figure: per batch of ``IMPORT_BATCH`` it reads only the stored identities
    the batch touches, then one executemany INSERT and one executemany UPDATE. Raises
    ``result_locked`` like :func:`store_results`; the caller's transaction then writes nothing.
    """
    entered_by_id = user.id if isinstance(user, User) else None
    session.flush()
    table = Result.__table__
    connection = session.connection()
    update_values: dict[str, Any] = {
        "value_text": bindparam("v_value_text"),
        "status": bindparam("v_status"),
        "cases": bindparam("v_cases"),
        "source": bindparam("v_source"),
        "method": bindparam("v_method"),
        "note": bindparam("v_note"),
        "updated_at": bindparam("v_updated_at"),
    }
    if entered_by_id is not None:
        update_values["entered_by_id"] = bindparam("v_entered_by_id")
    update = table.update().where(table.c.id == bindparam("v_id")).values(update_values)
    periods: dict[str, Any] = {}
    touched: set[tuple[str, str]] = set()
    count = 0
    batch: list[PreparedResult] = []

    def write(items: list[PreparedResult]) -> None:
        existing = _existing(session, items)
        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        for item in items:
            text = _value_text(item.value)
            row = existing.get((item.indicator, item.period, item.key))
            if row is None:
                period = periods.get(item.period)
                if period is None:
                    period = periods[item.period] = parse_period(item.period)
                inserts.append(
                    {
                        "indicator_code": item.indicator,
                        "period": item.period,
                        "period_start": period.start,
                        "period_end": period.end,
                        "disaggregation_key": item.key,
                        "disaggregation": item.disaggregation,
                        "value_text": text,
                        "cases": item.cases,
                        "status": item.status,
                        "source": item.source,
                        "method": item.method,
                        "note": item.note,
                        "entered_by_id": entered_by_id,
                        "entered_at": now,
                        "updated_at": now,
                    }
                )
                continue
            if row.status != "draft" and not may_validate:
                raise _refuse_locked(item, row.status)
            updates.append(
                {
                    "v_id": row.id,
                    "v_value_text": text,
                    "v_status": item.status,
                    "v_cases": item.cases,
                    "v_source": item.source,
                    "v_method": item.method,
                    "v_note": item.note,
                    "v_updated_at": now,
                    "v_entered_by_id": entered_by_id,
                }
            )
        if inserts:
            connection.execute(table.insert(), inserts)
        if updates:
            connection.execute(update, updates)

    for item in prepared:
        batch.append(item)
        touched.add((item.indicator, item.key))
        if len(batch) >= IMPORT_BATCH:
            write(batch)
            count += len(batch)
            batch = []
    if batch:
        write(batch)
        count += len(batch)
    # ORM objects of results loaded before (none on the import path) would now be stale.
    session.expire_all()
    refresh_latest(session, touched)
    return count


def _value_text(value: Decimal | bool) -> str:
    """As :attr:`node.models.Result.value`'s setter writes it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return format_decimal(value)


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
    touched: set[tuple[str, str]] = set()
    for row in rows:
        if row.status != status:
            row.status = status
            row.updated_at = now
            changed += 1
            touched.add((row.indicator_code, row.disaggregation_key))
    session.flush()
    refresh_latest(session, touched)
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


def ranked_latest(statuses: Sequence[str], indicators: Sequence[str] | None = None) -> Select[Any]:
    """Each breakdown's figures among ``statuses`` ranked newest first (``rank`` 1 = latest).

    Newest = the period that ends last, then starts last (a breakdown has one figure per
    period, so no two tie). ``ix_results_latest`` holds every column read, in this order.
    """
    query = select(
        Result.indicator_code,
        Result.disaggregation_key,
        Result.period,
        Result.value_text,
        func.row_number()
        .over(
            partition_by=(Result.indicator_code, Result.disaggregation_key),
            order_by=(Result.period_end.desc(), Result.period_start.desc()),
        )
        .label("rank"),
    ).where(Result.status.in_(list(statuses)))
    if indicators is not None:
        query = query.where(Result.indicator_code.in_(list(indicators)))
    return query


def refresh_latest(session: Session, pairs: Iterable[tuple[str, str]]) -> None:
    """Bring ``results_latest`` up to date for these (indicator, breakdown key) pairs. Flushes.

    Called in the same transaction as every write to ``results``, so a reader never sees the
    latest table disagree with the figures. Few breakdowns of an indicator: one index seek per
    breakdown and scope; many: the indicator's rows are rebuilt with one window query per scope.
    """
    by_indicator: dict[str, set[str]] = defaultdict(set)
    for code, key in pairs:
        by_indicator[code].add(key)
    if not by_indicator:
        return
    session.flush()
    latest = LatestResult.__table__
    connection = session.connection()  # Core statements: no ORM object per row
    whole = sorted(code for code, keys in by_indicator.items() if len(keys) > _SEEK_LIMIT)
    for start in range(0, len(whole), 200):
        codes = whole[start : start + 200]
        connection.execute(delete(latest).where(latest.c.indicator_code.in_(codes)))
        for scope, statuses in LATEST_SCOPES.items():
            ranked = ranked_latest(statuses, codes).subquery()
            connection.execute(
                insert(latest).from_select(
                    ["indicator_code", "scope", "disaggregation_key", "period", "value_text"],
                    select(
                        ranked.c.indicator_code,
                        literal(scope),
                        ranked.c.disaggregation_key,
                        ranked.c.period,
                        ranked.c.value_text,
                    ).where(ranked.c.rank == 1),
                )
            )
    few = sorted(
        (code, key)
        for code, keys in by_indicator.items()
        if len(keys) <= _SEEK_LIMIT
        for key in keys
    )
    if not few:
        return
    connection.execute(
        delete(latest).where(
            latest.c.indicator_code == bindparam("code"),
            latest.c.disaggregation_key == bindparam("key"),
        ),
        [{"code": code, "key": key} for code, key in few],
    )
    fresh: list[dict[str, Any]] = []
    for scope, statuses in LATEST_SCOPES.items():
        seek = (
            select(Result.period, Result.value_text)
            .where(
                Result.indicator_code == bindparam("code"),
                Result.disaggregation_key == bindparam("key"),
                Result.status.in_(list(statuses)),
            )
            .order_by(Result.period_end.desc(), Result.period_start.desc())
            .limit(1)
        )
        for code, key in few:
            found = connection.execute(seek, {"code": code, "key": key}).first()
            if found is not None:
                fresh.append(
                    {
                        "indicator_code": code,
                        "scope": scope,
                        "disaggregation_key": key,
                        "period": found.period,
                        "value_text": found.value_text,
                    }
                )
    if fresh:
        connection.execute(insert(latest), fresh)
