"""Results: record (one or many, all-or-nothing), list, validate and publish figures."""

from __future__ import annotations

import contextlib
import json
import operator
import re
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol, cast

from sqlalchemy import (
    Select,
    Table,
    and_,
    bindparam,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from node import data_version, units
from node import disaggregation as disagg
from node.catalogue_view import CatalogueView, IndicatorInfo
from node.errors import InvalidInputError, NotFoundError, PermissionDeniedError
from node.models import LatestResult, Result, ResultChange, ResultGroupCount, User
from node.network.summary_figures import summaries_carrying
from node.permissions import Actor, allowed, require
from node.refusals import Problem, period_problem
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
# Above this many periods of one indicator to recount, its group counts are rebuilt in one
# aggregate query over the indicator (~30 ms at 40,000 figures) instead of one small query per
# period (~0.3 ms each, served by the unique index on indicator, period, breakdown).
_RECOUNT_LIMIT = 60
_YES_NO = ("true", "false")


MAX_REASON = 2_000
# Statuses an official has vouched for: changing such a figure needs a reason (kept in its
# history), and the figure may already be in a signed summary.
VOUCHED = ("validated", "published")


def refusal_code(
    errors: dict[Any, dict[str, list[str]]], default: str = "validation_failed"
) -> str:
    """The one code shared by every message of ``errors``, else ``default``."""
    codes = {
        getattr(message, "code", default)
        for fields in errors.values()
        for messages in fields.values()
        for message in messages
    }
    return codes.pop() if len(codes) == 1 else default


def error_codes(errors: dict[Any, dict[str, list[str]]]) -> list[str]:
    """Every distinct problem code in ``errors`` (sorted): the ``error_codes`` of a refusal."""
    return sorted(
        {
            getattr(message, "code", "validation_failed")
            for fields in errors.values()
            for messages in fields.values()
            for message in messages
        }
    )


@dataclass(frozen=True, slots=True)
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
    reason: str | None = None
    confirm_outlier: bool = False


def check_value(indicator: IndicatorInfo, value: Any) -> tuple[Decimal | bool | None, str | None]:
    """Coerce ``value`` to the indicator's value type; return (value, None) or (None, message).

    Numbers are also checked against the indicator's unit (:func:`node.units.check_unit`: a
    percentage within 0-100, a count a whole number 0 or more, a rate 0 to its base); the
    message is then a :class:`Problem` with the unit rule's code.
    """
    if indicator.value_type == "boolean":
        if isinstance(value, bool):
            return value, None
        text = str(value).strip().lower()
        if text in ("true", "yes", "1"):
            return True, None
        if text in ("false", "no", "0"):
            return False, None
        return None, Problem("this indicator is yes/no: give true or false", variant="yes_no")
    if isinstance(value, bool):
        return None, Problem(
            "this indicator takes a number, not true/false", variant="number_not_boolean"
        )
    try:
        number = value if isinstance(value, Decimal) else parse_decimal(value)
    except ValueError as exc:
        return None, Problem(str(exc), params={"value": str(value)[:40]}, variant="not_a_number")
    if indicator.value_type == "ordinal":
        if number != number.to_integral_value():
            return None, Problem("an ordinal score is a whole number", variant="ordinal_whole")
        scale = _ORDINAL_SCALE_RE.match(indicator.unit_code)
        if scale and not int(scale[1]) <= number <= int(scale[2]):
            return None, Problem(
                f"the score must be between {scale[1]} and {scale[2]}",
                "value_out_of_range",
                params={"value": str(number), "low": scale[1], "high": scale[2]},
                variant="score_range",
            )
        return number, None
    problem = units.check_unit(indicator.unit_code, number)
    if problem is not None:
        return None, Problem(
            problem.message,
            problem.code,
            params={"value": str(number), **problem.params},
            variant=problem.variant,
        )
    return number, None


# A breakdown checked for an indicator: (errors, key, canonical form).
_Breakdown = tuple[dict[str, list[str]], str, dict[str, str]]


class PrepareCache:
    """What :func:`prepare_results` learns once per distinct input: a period's canonical text
    (or its error), a breakdown's canonical form, key and errors for an indicator.

    Kept across the batches of one import: a file of a million figures holds a few hundred
    distinct periods and breakdowns. Every entry is the answer of the uncached rule for the
    same input (the cache key is the input itself).
    """

    def __init__(self) -> None:
        self.periods: dict[Any, tuple[str, str | None]] = {}
        self.breakdowns: dict[tuple[str, tuple[Any, ...]], _Breakdown] = {}

    def period(self, value: Any) -> tuple[str, str | None]:
        """(canonical period, None) or ("", the error message)."""
        try:
            return self.periods[value]
        except (KeyError, TypeError):
            pass
        try:
            found: tuple[str, str | None] = (str(parse_period(value)), None)
        except PeriodError as exc:
            # A Problem (a str) carrying the rule and its values: pages word it in the
            # reader's language (node.refusals), the API keeps the English text.
            found = ("", period_problem(exc))
        if isinstance(value, str):
            self.periods[value] = found
        return found

    def breakdown(
        self, info: IndicatorInfo, breakdown: dict[Any, Any], known: dict[str, set[str]]
    ) -> tuple[dict[str, list[str]], str, dict[str, str]]:
        """(errors, key, canonical form) of ``breakdown`` for ``info``'s indicator."""
        try:
            memo = (info.code, tuple(breakdown.items()))
            found = self.breakdowns.get(memo)
        except TypeError:  # an unhashable code: checked without the cache (and refused)
            memo, found = None, None
        if found is None:
            errors = disagg.check_against(breakdown, list(info.dimensions), known)
            key = disagg.disaggregation_key(breakdown) if not errors.get("disaggregation") else ""
            found = (errors, key, disagg.normalize(breakdown) if not errors else {})
            if memo is not None:
                self.breakdowns[memo] = found
        return found


def prepare_results(
    items: Sequence[dict[str, Any]],
    cat: CatalogueView,
    *,
    may_validate: bool,
    cache: PrepareCache | None = None,
) -> tuple[list[PreparedResult], dict[int, dict[str, list[str]]]]:
    """Check every item against the catalogue; return the good ones and errors by item index.

    ``may_validate``: whether the caller may enter figures as validated or published.
    ``cache``: kept across calls when one import checks its figures batch by batch.
    """
    cache = cache if cache is not None else PrepareCache()
    prepared: list[PreparedResult] = []
    errors: dict[int, dict[str, list[str]]] = {}
    seen: dict[tuple[str, str, str], int] = {}
    known = cat.known_codes()
    indicators = cat.indicators
    for index, item in enumerate(items):
        item_errors: dict[str, list[str]] = {}
        code = item.get("indicator", "")
        try:
            info = indicators.get(code)
        except TypeError:  # an unhashable "indicator" is no indicator
            info = None
        if info is None:
            item_errors["indicator"] = [
                Problem(
                    f"unknown indicator '{str(item.get('indicator'))[:64]}'",
                    params={"indicator": str(item.get("indicator"))[:64]},
                    variant="unknown_indicator",
                )
            ]
        period, bad_period = cache.period(item.get("period"))
        if bad_period is not None:
            item_errors["period"] = [bad_period]
        breakdown = item.get("disaggregation") or {}
        if not isinstance(breakdown, dict):
            item_errors["disaggregation"] = [
                Problem("must be an object of dimension → code", variant="breakdown_not_object")
            ]
            breakdown = {}
        value: Decimal | bool | None = None
        normalized: dict[str, str] = {}
        if info is not None:
            breakdown_errors, key, normalized = cache.breakdown(info, breakdown, known)
            item_errors.update(breakdown_errors)
            value, problem = check_value(info, item.get("value"))
            if problem:
                item_errors["value"] = [problem]
        else:
            key = disagg.disaggregation_key(breakdown) if breakdown else ""
        status = item.get("status") or "draft"
        if status not in STATUS_ORDER:
            item_errors["status"] = [
                Problem("one of draft, validated, published", variant="unknown_status")
            ]
        elif status != "draft" and not may_validate:
            item_errors["status"] = [
                Problem(
                    "only officials may validate or publish; enter it as draft",
                    variant="status_not_allowed",
                )
            ]
        cases = item.get("cases")
        if cases is not None and (
            isinstance(cases, bool) or not isinstance(cases, int) or not 0 <= cases < 2**53
        ):
            item_errors["cases"] = [
                Problem("a whole number of people or cases, 0 or more", variant="cases_not_whole")
            ]
        identity = (str(item.get("indicator")), period, key)
        if not item_errors and identity in seen:
            item_errors["period"] = [
                Problem(
                    f"the same figure is given twice (also item {seen[identity]})",
                    params={"item": seen[identity]},
                    variant="given_twice",
                )
            ]
        reason = item.get("reason")
        if reason is not None and not isinstance(reason, str):
            item_errors["reason"] = [Problem("a reason is text", variant="reason_not_text")]
            reason = None
        reason = (reason or "").strip() or None
        if reason is not None and len(reason) > MAX_REASON:
            item_errors["reason"] = [
                Problem(
                    f"at most {MAX_REASON} characters",
                    params={"max": MAX_REASON},
                    variant="reason_too_long",
                )
            ]
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
                disaggregation=dict(normalized),
                value=value,
                status=status,
                cases=cases,
                source=item.get("source"),
                method=item.get("method"),
                note=item.get("note"),
                reason=reason,
                confirm_outlier=item.get("confirm_outlier") is True,
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
    ``(id, status, value_text, …)``.
    """
    return _stored_figures(
        session, [(item.indicator, item.period, item.key) for item in items], full_rows=full_rows
    )


def _stored_figures(
    session: Session, identities: Sequence[tuple[str, str, str]], *, full_rows: bool = False
) -> dict[tuple[str, str, str], Any]:
    """As :func:`_existing`, for (indicator, period, key) identities."""
    if not identities:
        return {}
    if not full_rows and session.get_bind().dialect.name == "postgresql":
        return _stored_figures_joined(session, json.dumps(identities, ensure_ascii=False))
    periods: dict[str, set[str]] = defaultdict(set)
    keys: dict[str, set[str]] = defaultdict(set)
    for code, period, key in identities:
        periods[code].add(period)
        keys[code].add(key)
    wanted = set(identities)
    found: dict[tuple[str, str, str], Any] = {}
    # Per indicator: its periods and its breakdowns, both through the unique index (indicator,
    # period, breakdown). Without the breakdowns, a node with 334 breakdowns per indicator read
    # every breakdown of each period touched (a million rows for an import of 100,000).
    pairs = sorted((code, sorted(values), sorted(keys[code])) for code, values in periods.items())
    for start in range(0, len(pairs), 100):
        condition = or_(
            *(
                and_(
                    Result.indicator_code == code,
                    Result.period.in_(values),
                    Result.disaggregation_key.in_(breakdowns),
                )
                for code, values, breakdowns in pairs[start : start + 100]
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
            Result.value_text,
            Result.indicator_code,
            Result.period,
            Result.disaggregation_key,
        ).where(condition)
        for row in session.connection().execute(query).all():
            ident = (row.indicator_code, row.period, row.disaggregation_key)
            if ident in wanted:
                found[ident] = row
    return found


# PostgreSQL (issue 14, sixth round): the stored figures of many identities by ONE join of the
# unique index (indicator, period, breakdown) against the identities sent as one JSON text of
# [indicator, period, key] arrays. The general query (an OR of per-indicator IN lists) made the
# server plan a statement of thousands of terms per batch and returned rows the client then
# filtered; a list parameter would be dumped element by element by psycopg in Python. ``->>``
# gives each text back as it was sent; the join returns exactly the identities that exist.
_STORED_FIGURES_PG = text(
    "SELECT r.id, r.status, r.value_text, r.indicator_code, r.period, r.disaggregation_key "
    "FROM (SELECT k.value ->> 0 AS code, k.value ->> 1 AS period, k.value ->> 2 AS key "
    "FROM json_array_elements(CAST(:identities AS json)) AS k) AS wanted "
    "JOIN results AS r ON r.indicator_code = wanted.code AND r.period = wanted.period "
    "AND r.disaggregation_key = wanted.key"
)


def _stored_figures_joined(session: Session, keys_json: str) -> dict[tuple[str, str, str], Any]:
    """:func:`_stored_figures` on PostgreSQL: ``keys_json`` is the identities as JSON."""
    found: dict[tuple[str, str, str], Any] = {}
    for row in session.connection().execute(_STORED_FIGURES_PG, {"identities": keys_json}):
        found[(row.indicator_code, row.period, row.disaggregation_key)] = row
    return found


def _refuse_locked(item: PreparedResult, status: str) -> PermissionDeniedError:
    # A collector must not silently change a figure an official already vouched for.
    return PermissionDeniedError(
        f"{item.indicator} {item.period} is already {status}; ask an official to change it.",
        code="result_locked",
        params={"indicator": item.indicator, "period": item.period, "status": status},
    )


@dataclass(slots=True)
class FigureChange:
    """What writing one prepared figure does to the stored one (read before anything is written).

    ``kind``: ``new`` (no such figure yet), ``changed`` (its value or status differs) or
    ``unchanged`` (same value and status; source, method, note and cases are still written).
    """

    item: PreparedResult
    kind: str
    result_id: int | None = None
    old_value: str | None = None
    old_status: str | None = None
    reason: str | None = None
    # A validated or published figure changes value, or is taken back to a lower status.
    vouched_change: bool = False
    # The signed summaries holding the old value (a change of a validated or published figure).
    affected_summaries: list[dict[str, Any]] = field(default_factory=list)
    # The value as stored (decimal text, or true/false): _value_text(item.value), set by the
    # planner (slots, no per-figure dict: an import plans a million of these).
    new_value: str = ""


@dataclass
class ChangePlan:
    """Every prepared figure's :class:`FigureChange`, in the order given."""

    changes: list[FigureChange]

    def count(self, kind: str) -> int:
        return sum(1 for change in self.changes if change.kind == kind)

    def affected_summaries(self) -> list[dict[str, Any]]:
        """The signed summaries any change touches, once each, in period and revision order."""
        seen: dict[str, dict[str, Any]] = {}
        for change in self.changes:
            for summary in change.affected_summaries:
                seen.setdefault(summary["sha256"], summary)
        return sorted(seen.values(), key=lambda s: (s["period"], s["revision"] or 0, s["sha256"]))


def _needs_reason(old_status: str, old_value: str, item: PreparedResult, new_value: str) -> bool:
    """Whether writing ``item`` over a stored figure changes something an official vouched for:
    its value, or its status downwards (a published figure taken back)."""
    if old_status not in VOUCHED:
        return False
    demoted = STATUS_ORDER[item.status] < STATUS_ORDER[old_status]
    return old_value != new_value or demoted


def plan_changes(
    session: Session,
    prepared: Sequence[PreparedResult],
    cat: CatalogueView,
    *,
    may_validate: bool,
    reason: str | None = None,
    confirm_outliers: bool = False,
) -> tuple[ChangePlan, dict[int, dict[str, list[str]]]]:
    """Compare ``prepared`` with the stored figures; return the plan and the problems by index.

    Reads only. Raises ``result_locked`` (403) when a collector would change a validated or
    published figure. Problems (the caller refuses the whole write when there is any):
    ``reason_required`` — a validated or published figure changes (value, or status taken back)
    without a reason (the item's own, else ``reason`` for all); ``outlier_unconfirmed`` — a new
    or changed value is far from the previous period's (:func:`node.units.outlier`) and neither
    the item (``confirm_outlier``) nor the caller (``confirm_outliers``) confirmed it.
    """
    # The previous period's value comes from the same write when it holds it (a file of several
    # years is checked year against year), else from the stored figures.
    planner = Planner(
        session,
        cat,
        given={(p.indicator, p.period, p.key): p.value for p in prepared},
        may_validate=may_validate,
        reason=reason,
        confirm_outliers=confirm_outliers,
    )
    changes: list[FigureChange] = []
    errors: dict[int, dict[str, list[str]]] = {}
    for start in range(0, len(prepared), IMPORT_BATCH):
        batch_changes, batch_errors = planner.plan(prepared[start : start + IMPORT_BATCH], start)
        changes += batch_changes
        errors.update(batch_errors)
    plan = ChangePlan(changes)
    if not errors:
        attach_summaries(session, plan.changes)
    return plan, errors


class Given(Protocol):
    """The figures of the write itself, by identity: a dict, or a file's compact index."""

    def __contains__(self, identity: object) -> bool: ...

    def __getitem__(self, identity: tuple[str, str, str]) -> Decimal | bool: ...


class Planner:
    """Plans a write batch by batch (see :func:`plan_changes`, which is its plain use).

    ``given``: every figure of the whole write (not only the batch), for the outlier check
    against the previous period. Each batch reads the stored figures of its own identities and
    of its previous periods only, so batches give the same plan whatever their size.
    """

    def __init__(
        self,
        session: Session,
        cat: CatalogueView,
        *,
        given: Given,
        may_validate: bool,
        reason: str | None,
        confirm_outliers: bool,
    ) -> None:
        self.session = session
        self.cat = cat
        self.given = given
        self.may_validate = may_validate
        self.reason = reason
        self.confirm_outliers = confirm_outliers
        self._previous_period: dict[str, str] = {}  # a file holds few distinct periods

    def _before(self, period: str) -> str:
        found = self._previous_period.get(period)
        if found is None:
            found = self._previous_period[period] = str(parse_period(period).previous())
        return found

    def plan(
        self, batch: Sequence[PreparedResult], start: int
    ) -> tuple[list[FigureChange], dict[int, dict[str, list[str]]]]:
        """The changes of ``batch`` (whose first item is item ``start`` of the write) and their
        problems by item index. Raises ``result_locked`` as :func:`plan_changes` does."""
        session, cat, given = self.session, self.cat, self.given
        changes: list[FigureChange] = []
        problems_of: dict[int, dict[str, list[str]]] = {}
        existing = _existing(session, batch)
        indicators = cat.indicators
        confirm_all = self.confirm_outliers
        # Figures whose value the outlier rule checks (new or changed, not confirmed, of a
        # number indicator): index → (figure, previous period's identity). Only theirs are read.
        outlier_checks: dict[int, tuple[PreparedResult, tuple[str, str, str]]] = {}
        for index, item in enumerate(batch, start):
            row = existing.get((item.indicator, item.period, item.key))
            text = _value_text(item.value)
            if row is None:
                change = FigureChange(item=item, kind="new", new_value=text)
            else:
                if row.status != "draft" and not self.may_validate:
                    raise _refuse_locked(item, row.status)
                same = row.value_text == text and row.status == item.status
                change = FigureChange(
                    item=item,
                    kind="unchanged" if same else "changed",
                    result_id=row.id,
                    old_value=row.value_text,
                    old_status=row.status,
                    vouched_change=_needs_reason(row.status, row.value_text, item, text),
                    new_value=text,
                )
            if change.kind != "unchanged":
                change.reason = item.reason or self.reason
            if change.vouched_change and change.reason is None:
                problems_of[index] = {
                    "reason": [
                        Problem(
                            f"this figure is {change.old_status} ({change.old_value}): "
                            "say why it changes",
                            "reason_required",
                            # The value itself (a yes/no as a bool): a page writes it its way.
                            params={
                                "status": change.old_status,
                                "value": _stored_value(change.old_value)
                                if change.old_value is not None
                                else "",
                            },
                            variant="figure_vouched",
                        )
                    ]
                }
            if (
                not (confirm_all or item.confirm_outlier)
                and indicators[item.indicator].value_type == "number"
                and (change.kind == "new" or change.old_value != change.new_value)
            ):
                outlier_checks[index] = (
                    item,
                    (item.indicator, self._before(item.period), item.key),
                )
            changes.append(change)
        if outlier_checks:
            stored_previous = _stored_figures(
                session,
                [previous for _item, previous in outlier_checks.values() if previous not in given],
            )
            for index, (item, previous) in outlier_checks.items():
                found = _outlier(item, cat, previous, given, stored_previous)
                if found is not None:
                    problems_of.setdefault(index, {})["value"] = [found]
        # By item index, each item's problems reason first then value (as they were found).
        errors = {index: problems_of[index] for index in sorted(problems_of)}
        return changes, errors


def attach_summaries(session: Session, changes: Sequence[FigureChange]) -> None:
    """Set ``affected_summaries`` of the changes to validated or published figures."""
    vouched = [change for change in changes if change.vouched_change]
    if not vouched:
        return
    carried = summaries_carrying(
        session, [(c.item.indicator, c.item.period, c.item.key) for c in vouched]
    )
    for change in vouched:
        change.affected_summaries = carried.get(
            (change.item.indicator, change.item.period, change.item.key), []
        )


def _outlier(
    item: PreparedResult,
    cat: CatalogueView,
    previous: tuple[str, str, str] | None,
    given: Given,
    stored: dict[tuple[str, str, str], Any],
) -> Problem | None:
    """The outlier problem of ``item`` against the previous period's value, if any."""
    if previous is None:
        return None
    info = cat.indicators[item.indicator]
    if previous in given:
        before: Decimal | bool | None = given[previous]
    elif previous in stored:
        before = _stored_value(stored[previous].value_text)
    else:
        return None
    found = units.outlier(info.unit_code, info.value_type, item.value, before, previous[1])
    if found is None:
        return None
    rule = (
        f"more than {units.PERCENT_POINTS} points away"
        if found.rule == "points"
        else f"more than {units.FACTOR} times higher or lower"
    )
    return Problem(
        f"{_value_text(item.value)} is {rule} than {found.previous_period} "
        f"({_value_text(before) if before is not None else ''}): check it, then confirm it",
        "outlier_unconfirmed",
        params={
            # The values themselves: a page writes them its way (decimal sign, yes/no).
            "value": item.value,
            "previous_period": found.previous_period,
            "previous": before if before is not None else "",
            "points": str(units.PERCENT_POINTS),
            "factor": str(units.FACTOR),
        },
        variant=found.rule,
    )


def _stored_value(text: str) -> Decimal | bool:
    if text in ("true", "false"):
        return text == "true"
    return Decimal(text)


def _changed_by(user: Actor | None) -> tuple[int | None, str]:
    """(user id, label) for a history line: a database user, else the node's operator."""
    if isinstance(user, User):
        return user.id, user.email
    return None, "operator"


def _history_rows(
    changes: Iterable[FigureChange],
    ids: dict[tuple[str, str, str], int],
    user: Actor | None,
    now: datetime,
) -> list[dict[str, Any]]:
    """``result_changes`` rows for the new and changed figures of a plan."""
    by_id, by_label = _changed_by(user)
    rows = []
    for change in changes:
        if change.kind == "unchanged":
            continue
        item = change.item
        rows.append(
            {
                "result_id": ids[(item.indicator, item.period, item.key)],
                "changed_at": now,
                "changed_by_id": by_id,
                "changed_by": by_label,
                "old_value_text": change.old_value,
                "new_value_text": change.new_value,
                "old_status": change.old_status,
                "new_status": item.status,
                "reason": change.reason,
                "affected_summaries": change.affected_summaries or None,
            }
        )
    return rows


def _write_history(session: Session, rows: list[dict[str, Any]]) -> None:
    if rows:
        session.connection().execute(insert(ResultChange.__table__), rows)


def _plan_refusal(errors: dict[int, dict[str, list[str]]], total: int) -> InvalidInputError:
    """The 422 for a plan's problems: one code when they agree, ``error_codes`` always."""
    return InvalidInputError(
        f"{len(errors)} of {total} results need attention; nothing was saved.",
        code=refusal_code(errors),
        errors={str(i): e for i, e in sorted(errors.items())},
        extra={"error_codes": error_codes(errors)},
    )


def store_results(
    session: Session,
    plan: ChangePlan,
    *,
    user: Actor | None,
    now: datetime,
) -> list[Result]:
    """Insert or update the figures of a checked ``plan``, with their history lines. Flushes.

    A database ``user`` is recorded as who entered the figures (the operator is not a user).
    Returns ORM rows (the API answers with them); files go through :func:`import_results`.
    """
    entered_by = user if isinstance(user, User) else None
    prepared = [change.item for change in plan.changes]
    # The figures written are these indicators' alone (node.data_version: the other
    # indicators' kept dashboard parts stay valid).
    with data_version.indicator_writes(session, {item.indicator for item in prepared}):
        return _store_results(session, prepared, plan, entered_by, user=user, now=now)


def _store_results(
    session: Session,
    prepared: list[PreparedResult],
    plan: ChangePlan,
    entered_by: User | None,
    *,
    user: Actor | None,
    now: datetime,
) -> list[Result]:
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
        row.value = item.value
        row.status = item.status
        row.cases = item.cases
        row.source, row.method, row.note = item.source, item.method, item.note
        row.updated_at = now
        if entered_by is not None:
            row.entered_by = entered_by
        stored.append(row)
    session.flush()
    ids = {(r.indicator_code, r.period, r.disaggregation_key): r.id for r in stored}
    # In the same transaction as the change: both are kept, or neither.
    _write_history(session, _history_rows(plan.changes, ids, user, now))
    refresh_latest(session, {(item.indicator, item.key) for item in prepared})
    refresh_group_counts(session, {(item.indicator, item.key, item.period) for item in prepared})
    return stored


IMPORT_BATCH = 5_000


def import_results(
    session: Session,
    plan: ChangePlan,
    *,
    user: Actor | None,
    now: datetime,
) -> int:
    """Insert or update the figures of a checked ``plan`` in batches with Core executemany.

    Writes the same rows as :func:`store_results` (a property test holds them equal) without
    an ORM object per figure: per batch of ``IMPORT_BATCH``, one executemany INSERT, one
    executemany UPDATE and one executemany INSERT of history lines (unchanged figures get
    none). Returns the number of figures written.
    """
    writer = BatchWriter(session, user=user, now=now)
    for start in range(0, len(plan.changes), IMPORT_BATCH):
        writer.write(plan.changes[start : start + IMPORT_BATCH])
    return writer.finish()


class _RawStatement:
    """A Core statement run with the driver's own ``executemany``, values processed once.

    SQLAlchemy's executemany processes every parameter of every row in Python (about a third
    of an import's writing time); here each column's bind processor (dates to text on SQLite,
    the UTC timestamps, JSON) runs once per distinct value, and the rows go to the driver as
    plain tuples. What reaches the database is what ``connection.execute(statement, rows)``
    would send (the property tests compare the stored rows).
    """

    def __init__(self, connection: Any, statement: Any, types: dict[str, Any]) -> None:
        dialect = connection.dialect
        compiled = statement.compile(dialect=dialect)
        self.connection = connection
        self.sql = str(compiled)
        names = list(compiled.positiontup or []) if compiled.positional else []
        # One C call per row builds the driver's tuple (a generator per row costs a second
        # per 100,000 rows).
        self.row_tuple = operator.itemgetter(*names) if len(names) > 1 else None
        self.positional = bool(compiled.positional)
        self.names = names
        self.processors: dict[str, Any] = {}
        for name, type_ in types.items():
            processor = type_._cached_bind_processor(dialect)
            if processor is not None:
                self.processors[name] = processor
        self._memo: dict[tuple[str, Any], Any] = {}

    def value(self, name: str, value: Any, memo_key: Any = None) -> Any:
        """``value`` as the driver receives it for parameter ``name``."""
        processor = self.processors.get(name)
        if processor is None:
            return value
        key = (name, value if memo_key is None else memo_key)
        try:
            return self._memo[key]
        except KeyError:
            done = self._memo[key] = processor(value)
            return done
        except TypeError:  # unhashable (a JSON value without a memo key)
            return processor(value)

    def run(self, rows: list[dict[str, Any]]) -> None:
        """Execute for every row (``rows`` hold processed values by parameter name)."""
        if not rows:
            return
        if self.positional:
            if self.row_tuple is not None:
                params: list[Any] = list(map(self.row_tuple, rows))
            else:
                params = [tuple(row[name] for name in self.names) for row in rows]
        else:
            params = rows
        self.connection.exec_driver_sql(self.sql, params)


class _CopyInsert(_RawStatement):
    """An INSERT of many rows as PostgreSQL's ``COPY … FROM STDIN`` (one stream, not one
    statement per row: psycopg's executemany sends each row as its own statement, ~80 µs a row
    on this machine even in pipeline mode). Same columns, same processed values; the rows are
    inserted as the INSERT would insert them (defaults, constraints and indexes apply)."""

    def __init__(self, connection: Any, table: Any, names: list[str]) -> None:
        super().__init__(
            connection,
            table.insert().values({name: bindparam(name) for name in names}),
            {name: table.c[name].type for name in names},
        )
        self.columns = names
        self.copy_sql = f"COPY {table.name} ({', '.join(names)}) FROM STDIN"
        self.row_tuple = operator.itemgetter(*names)
        # psycopg's JSON parameter wrapper, imported here: only PostgreSQL makes a COPY, and a
        # node on SQLite does not load psycopg (9 MB) for it.
        from psycopg.types.json import Json

        self.json_wrapper = Json

    def value(self, name: str, value: Any, memo_key: Any = None) -> Any:
        """As :meth:`_RawStatement.value`; a JSON value as its text, written once (sixth round:
        COPY dumped the driver's JSON wrapper again for every row, a tenth of an import's
        COPY time). The text is the wrapper's own ``dumps`` of its object, which is what the
        driver would send; COPY's text format hands it to the column's JSON input."""
        processed = super().value(name, value, memo_key)
        if isinstance(processed, self.json_wrapper):
            if memo_key is None and not _hashable(value):
                return _json_text(processed)
            key = ("json text", name, value if memo_key is None else memo_key)
            found = self._memo.get(key)
            if found is None:
                found = self._memo[key] = _json_text(processed)
            return found
        return processed

    def run(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            _copy_rows(self.connection, self.copy_sql, map(self.row_tuple, rows))


class _CopyUpdate(_RawStatement):
    """An UPDATE by id of many rows on PostgreSQL: the new values are copied (``COPY``) into a
    temporary table of the same column types, then one ``UPDATE … FROM`` joins it by id.

    What each row gets is what the per-row UPDATE would give: the batch gives each id once (a
    file gives each figure once), so no row is updated twice. The temporary table lives in the
    caller's transaction (dropped at its end, or with the savepoint it was made in)."""

    _SCRATCH = "hrcnet_import_update"

    def __init__(self, connection: Any, table: Any, names: list[str], prefix: str) -> None:
        super().__init__(
            connection,
            table.update()
            .where(table.c.id == bindparam(prefix + "id"))
            .values({name: bindparam(prefix + name) for name in names}),
            {prefix + name: table.c[name].type for name in names},
        )
        columns = ["id", *names]
        self.row_tuple = operator.itemgetter(*(prefix + name for name in columns))
        scratch = self._SCRATCH
        # The SQL is built from our own table and column names (the model's, never input);
        # every value goes through COPY's data stream, never into the statement text.
        listed = ", ".join(columns)
        self.prepare_sql = (
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {scratch} ON COMMIT DROP AS "  # noqa: S608
            f"SELECT {listed} FROM {table.name} WITH NO DATA"
        )
        self.copy_sql = f"COPY {scratch} ({listed}) FROM STDIN"
        assignments = ", ".join(f"{name} = u.{name}" for name in names)
        self.update_sql = (
            f"UPDATE {table.name} SET {assignments} "  # noqa: S608
            f"FROM {scratch} u WHERE {table.name}.id = u.id"
        )
        self.clear_sql = f"TRUNCATE {scratch}"
        self.prepared = False
        # Set by the writer when the UPDATE may run while the caller goes on (_InFlight).
        self.in_flight: _InFlight | None = None
        self.holds_rows = False  # the scratch table holds the last run's rows

    def run(self, rows: list[dict[str, Any]]) -> None:
        """Update the rows; with :attr:`in_flight` set, the UPDATE is left running (see
        :class:`_InFlight`) and the scratch table is emptied by the next run or :meth:`clear`."""
        if not rows:
            return
        connection = self.connection
        if not self.prepared:
            # Once per writer (sixth round: it was twice per batch, round trips for nothing):
            # the writer lives inside the import's savepoint, where the table now exists and
            # is empty once cleared (a run that fails aborts the savepoint with its rows).
            connection.exec_driver_sql(self.prepare_sql)
            connection.exec_driver_sql(self.clear_sql)
            self.prepared = True
        self.clear()
        _copy_rows(connection, self.copy_sql, map(self.row_tuple, rows))
        self.holds_rows = True
        if self.in_flight is None:
            connection.exec_driver_sql(self.update_sql, self.update_parameters())
            self.clear()
            return
        driver = connection.connection.driver_connection
        dialect = connection.dialect
        sql, parameters = self.update_sql, self.update_parameters()

        def update() -> None:
            try:
                with driver.cursor() as cursor:
                    cursor.execute(sql, parameters)
            except dialect.loaded_dbapi.Error as exc:
                # The same exception class SQLAlchemy raises for this statement run in line
                # (IntegrityError, OperationalError...), so callers see one kind of error.
                raise DBAPIError.instance(
                    sql, parameters, exc, dialect.loaded_dbapi.Error, dialect=dialect
                ) from exc

        self.in_flight.start(update)

    def clear(self) -> None:
        """Empty the scratch table once the last UPDATE from it is done."""
        if self.holds_rows:
            if self.in_flight is not None:
                self.in_flight.wait()
            self.connection.exec_driver_sql(self.clear_sql)
            self.holds_rows = False

    def update_parameters(self) -> tuple[Any, ...]:
        """Parameters of the UPDATE statement (none: every value comes from the scratch table)."""
        return ()


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _json_text(wrapper: Any) -> str:
    """The text psycopg would send for a JSON parameter wrapper."""
    dumps = wrapper.dumps or json.dumps
    text_or_bytes = dumps(wrapper.obj)
    return text_or_bytes.decode() if isinstance(text_or_bytes, bytes) else text_or_bytes


class _CopyUpdateWithHistory(_CopyUpdate):
    """:class:`_CopyUpdate` whose one statement also writes the changed figures' history lines.

    Issue 14, sixth round: the history lines of the updated figures were a second COPY of
    100,000 rows built in Python, each carrying again the id, new value and new status the
    scratch table already held. Here the scratch table also holds, per row, its place in the
    batch (``n``), whether it gets a history line (an unchanged figure is rewritten but gets
    none), and the line's own values (old value, old status, reason, affected summaries); the
    UPDATE returns the rows it updated and the same statement inserts their lines, in the
    batch's order, with the writer's time and author bound once. The lines are those
    :func:`_history_rows` builds (the property test of the import compares them)."""

    _SCRATCH = "hrcnet_import_update_h"
    EXTRA = ("n", "with_history", "old_value_text", "old_status", "reason", "affected_summaries")

    def __init__(self, connection: Any, table: Any, names: list[str], prefix: str) -> None:
        super().__init__(connection, table, names, prefix)
        columns = ["id", *names, *self.EXTRA]
        self.row_tuple = operator.itemgetter(*(prefix + name for name in columns))
        scratch = self._SCRATCH
        listed = ", ".join(f"r.{name}" for name in ["id", *names])
        # Our own table and column names only; every value travels in COPY's stream or as a
        # bound parameter.
        self.prepare_sql = (
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {scratch} ON COMMIT DROP AS "  # noqa: S608
            f"SELECT {listed}, CAST(0 AS integer) AS n, false AS with_history, "
            "h.old_value_text, h.old_status, h.reason, h.affected_summaries "
            f"FROM {table.name} AS r CROSS JOIN result_changes AS h WITH NO DATA"
        )
        self.copy_sql = f"COPY {scratch} ({', '.join(columns)}) FROM STDIN"
        assignments = ", ".join(f"{name} = u.{name}" for name in names)
        self.update_sql = (
            f"WITH updated AS (UPDATE {table.name} SET {assignments} "  # noqa: S608
            f"FROM {scratch} AS u WHERE {table.name}.id = u.id "
            "RETURNING u.n, u.id, u.with_history, u.old_value_text, u.value_text, "
            "u.old_status, u.status, u.reason, u.affected_summaries) "
            "INSERT INTO result_changes (result_id, changed_at, changed_by_id, changed_by, "
            "old_value_text, new_value_text, old_status, new_status, reason, "
            "affected_summaries) SELECT id, CAST(%s AS timestamptz), CAST(%s AS integer), "
            "CAST(%s AS varchar), old_value_text, value_text, old_status, status, reason, "
            "affected_summaries FROM updated WHERE with_history ORDER BY n"
        )
        self.clear_sql = f"TRUNCATE {scratch}"
        self.line_values: tuple[Any, ...] = ()

    def update_parameters(self) -> tuple[Any, ...]:
        """The history lines' time and author, set by the writer for each batch."""
        return self.line_values


class _InFlight:
    """One statement left running on the import's PostgreSQL connection while Python goes on.

    Issue 14, eighth round: an import's time on PostgreSQL was the client's parsing and
    checking plus the server's UPDATE of each batch, one after the other on one connection
    (each ~half). With the two passes run together (``node.services.exchange``), the server
    updates batch k while the client reads and checks batch k+1. The statement runs in a
    thread of its own, on the same connection (psycopg serialises the connection's queries
    under its lock, and releases the GIL while it waits for the server), in the same
    transaction. :meth:`wait` joins it and raises its error, if any: the writer waits before
    its next use of the connection, so the statement's effects and errors come in the order
    they would have come without the thread.
    """

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def start(self, work: Callable[[], None]) -> None:
        """Run ``work`` in a thread (after the one running, if any, is done)."""
        self.wait()

        def run() -> None:
            try:
                work()
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
                self._error = exc

        self._thread = threading.Thread(target=run, name="hrcnet-import-update", daemon=True)
        self._thread.start()

    def wait(self) -> None:
        """Block until the running statement is done; raise its error if it failed."""
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join()
        error, self._error = self._error, None
        if error is not None:
            raise error

    def abandon(self) -> None:
        """Wait for the running statement, dropping its error (the caller is already leaving
        with one of its own, and the savepoint's rollback undoes the statement)."""
        with contextlib.suppress(Exception):  # the caller's error is the one that counts
            self.wait()


def _copy_rows(connection: Any, sql: str, rows: Iterable[tuple[Any, ...]]) -> None:
    """Stream ``rows`` into ``COPY … FROM STDIN`` on the connection's psycopg connection (in
    its current transaction)."""
    driver = connection.connection.driver_connection
    with driver.cursor() as cursor, cursor.copy(sql) as copy:
        write_row = copy.write_row
        for row in rows:
            write_row(row)


_RESULT_UPDATE_FIELDS = ("value_text", "status", "cases", "source", "method", "note", "updated_at")


class BatchWriter:
    """Writes planned changes batch by batch in the caller's transaction (see
    :func:`import_results`); :meth:`finish` refreshes ``results_latest`` once at the end."""

    def __init__(
        self, session: Session, *, user: Actor | None, now: datetime, overlap: bool = False
    ) -> None:
        """``overlap``: on PostgreSQL, leave each batch's UPDATE running while the caller goes
        on (:class:`_InFlight`); the caller calls :meth:`settle` before it uses the session,
        and :meth:`abandon` when it leaves with an error."""
        self.session = session
        self.user = user
        self.now = now
        self.entered_by_id = user.id if isinstance(user, User) else None
        session.flush()
        connection = session.connection()
        table = Result.__table__
        columns = table.c
        insert_names = [
            "indicator_code", "period", "period_start", "period_end", "disaggregation_key",
            "disaggregation", "value_text", "cases", "status", "source", "method", "note",
            "entered_by_id", "entered_at", "updated_at",
        ]  # fmt: skip
        update_names = list(_RESULT_UPDATE_FIELDS)
        if self.entered_by_id is not None:
            update_names.append("entered_by_id")
        history = ResultChange.__table__
        history_names = [
            "result_id", "changed_at", "changed_by_id", "changed_by", "old_value_text",
            "new_value_text", "old_status", "new_status", "reason", "affected_summaries",
        ]  # fmt: skip
        self.insert: _RawStatement
        self.update: _RawStatement
        self.history: _RawStatement
        self.lines_with_update = False
        if connection.dialect.name == "postgresql":
            # COPY streams instead of one statement per row (see _CopyInsert): on PostgreSQL
            # the per-row round trips were most of an import's time.
            self.insert = _CopyInsert(connection, table, insert_names)
            self.history = _CopyInsert(connection, history, history_names)
            # The changed figures' history lines go with their UPDATE (one statement).
            update = _CopyUpdateWithHistory(connection, table, update_names, "v_")
            by_id, by_label = _changed_by(user)
            update.line_values = (self.history.value("changed_at", now), by_id, by_label)
            if overlap:
                update.in_flight = _InFlight()
            self.update = update
            self.lines_with_update = True
        else:
            self.insert = _RawStatement(
                connection,
                table.insert().values({name: bindparam(name) for name in insert_names}),
                {name: columns[name].type for name in insert_names},
            )
            self.update = _RawStatement(
                connection,
                table.update()
                .where(table.c.id == bindparam("v_id"))
                .values({name: bindparam("v_" + name) for name in update_names}),
                {"v_" + name: columns[name].type for name in update_names},
            )
            self.history = _RawStatement(
                connection,
                history.insert().values({name: bindparam(name) for name in history_names}),
                {name: history.c[name].type for name in history_names},
            )
        self.periods: dict[str, Any] = {}
        self.touched: set[tuple[str, str]] = set()
        # How each (indicator, period, ground) count moves, per audience (group_count_delta):
        # an import may change statuses in every period, and recounting them all read the
        # whole table again (+0.4 CPU-s for 100k rows into a million).
        self.count_deltas: dict[tuple[str, str, str], list[int]] = {}
        self.count = 0

    def settle(self) -> None:
        """Wait for the UPDATE left running (if any); raise its error if it failed."""
        in_flight = getattr(self.update, "in_flight", None)
        if in_flight is not None:
            in_flight.wait()

    def abandon(self) -> None:
        """Wait for the UPDATE left running (if any), dropping its error: the caller leaves
        with an error of its own, and its savepoint's rollback undoes the batch."""
        in_flight = getattr(self.update, "in_flight", None)
        if in_flight is not None:
            in_flight.abandon()

    def write(self, changes: Sequence[FigureChange]) -> None:
        """Insert the new figures, update the others, add the history lines of both."""
        self.settle()
        insert, update, now = self.insert, self.update, self.now
        now_value = insert.value("updated_at", now)
        entered_at = insert.value("entered_at", now)
        entered_by_id = self.entered_by_id
        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        ids: dict[tuple[str, str, str], int] = {}
        touched, count_deltas = self.touched, self.count_deltas
        lines_with_update = self.lines_with_update
        history = self.history
        for position, change in enumerate(changes):
            item = change.item
            touched.add((item.indicator, item.key))
            if may_change_group_counts(change) and (moved := group_count_delta(change)):
                ident = (item.indicator, item.period, moved[0])
                total = count_deltas.setdefault(ident, [0] * len(LATEST_SCOPES))
                for position, step in enumerate(moved[1]):
                    total[position] += step
            text = change.new_value
            if change.result_id is None:
                period = self.periods.get(item.period)
                if period is None:
                    period = self.periods[item.period] = parse_period(item.period)
                inserts.append(
                    {
                        "indicator_code": item.indicator,
                        "period": item.period,
                        "period_start": insert.value("period_start", period.start),
                        "period_end": insert.value("period_end", period.end),
                        "disaggregation_key": item.key,
                        "disaggregation": insert.value(
                            "disaggregation", item.disaggregation, item.key
                        ),
                        "value_text": text,
                        "cases": item.cases,
                        "status": item.status,
                        "source": item.source,
                        "method": item.method,
                        "note": item.note,
                        "entered_by_id": entered_by_id,
                        "entered_at": entered_at,
                        "updated_at": now_value,
                    }
                )
                continue
            ids[(item.indicator, item.period, item.key)] = change.result_id
            updates.append(
                {
                    "v_id": change.result_id,
                    "v_value_text": text,
                    "v_status": item.status,
                    "v_cases": item.cases,
                    "v_source": item.source,
                    "v_method": item.method,
                    "v_note": item.note,
                    "v_updated_at": now_value,
                    "v_entered_by_id": entered_by_id,
                }
            )
            if lines_with_update:
                summaries = change.affected_summaries or None
                updates[-1].update(
                    {
                        "v_n": position,
                        "v_with_history": change.kind != "unchanged",
                        "v_old_value_text": change.old_value,
                        "v_old_status": change.old_status,
                        "v_reason": change.reason,
                        "v_affected_summaries": history.value(
                            "affected_summaries", summaries, 0 if summaries is None else None
                        ),
                    }
                )
        if inserts:
            insert.run(inserts)
            new_items = [c.item for c in changes if c.result_id is None]
            ids.update({ident: row.id for ident, row in _existing(self.session, new_items).items()})
        lines = _history_rows(
            [c for c in changes if c.result_id is None] if lines_with_update else changes,
            ids,
            self.user,
            self.now,
        )
        if lines:
            changed_at = history.value("changed_at", self.now)
            for line in lines:
                line["changed_at"] = changed_at
                summaries = line["affected_summaries"]
                line["affected_summaries"] = history.value(
                    "affected_summaries", summaries, 0 if summaries is None else None
                )
            history.run(lines)
        # Last: on PostgreSQL with overlap it is left running (settle), so nothing may follow
        # it on the connection in this batch (the new figures' lines, on PostgreSQL, now come
        # before the updated figures' lines in the history's order, in both modes).
        update.run(updates)
        self.count += len(changes)

    def finish(self) -> int:
        """Refresh ``results_latest`` for every breakdown written; the number of figures."""
        if isinstance(self.update, _CopyUpdate):
            self.update.clear()  # waits for the last UPDATE, if left running
        # ORM objects of results loaded before (none on the import path) would now be stale.
        self.session.expire_all()
        # Every figure written went through write(), whose breakdowns are all in touched: the
        # declaration names each indicator written (node.data_version).
        with data_version.indicator_writes(self.session, {code for code, _ in self.touched}):
            refresh_latest(self.session, self.touched)
            add_to_group_counts(self.session, self.count_deltas)
        return self.count


def _value_text(value: Decimal | bool) -> str:
    """As :attr:`node.models.Result.value`'s setter writes it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return format_decimal(value)


def record(
    session: Session, items: Sequence[dict[str, Any]], *, user: Actor | None, now: datetime
) -> tuple[list[Result], ChangePlan]:
    """Record one or many figures, all-or-nothing; return the rows and what changed.

    Any bad item writes nothing (422): ``validation_failed`` or the unit rule's code
    (``value_out_of_range``, ``value_not_whole_number``), then ``reason_required`` or
    ``outlier_unconfirmed`` (each item may carry ``reason`` and ``confirm_outlier``).
    """
    require(user, "results.write")
    may_validate = allowed(user, "results.validate")
    cat = catalogue.view(session)
    prepared, errors = prepare_results(items, cat, may_validate=may_validate)
    if errors:
        raise InvalidInputError(
            f"{len(errors)} of {len(items)} results are not valid; nothing was saved.",
            code=refusal_code(errors),
            errors={str(i): e for i, e in errors.items()},
            extra={"error_codes": error_codes(errors)},
        )
    plan, problems = plan_changes(session, prepared, cat, may_validate=may_validate)
    if problems:
        raise _plan_refusal(problems, len(items))
    return store_results(session, plan, user=user, now=now), plan


def record_results(
    session: Session, items: Sequence[dict[str, Any]], *, user: Actor | None, now: datetime
) -> list[Result]:
    """Record one or many figures, all-or-nothing (see :func:`record`); returns the rows."""
    return record(session, items, user=user, now=now)[0]


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
    reason: str | None = None,
) -> int:
    """Validate or publish (or send back to draft) a selection of results; returns the count.

    Taking a validated or published figure back to a lower status needs a ``reason``
    (``reason_required``, nothing changed); every change gets a history line.
    """
    require(user, "results.validate")
    if not (indicator or period or ids):
        raise InvalidInputError(
            "Say which results: give indicator, period or ids.",
            errors={"ids": [Problem("give at least one selector", variant="no_selector")]},
        )
    reason = (reason or "").strip()[:MAX_REASON] or None
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
    moving = [row for row in rows if row.status != status]
    taken_back = [
        row
        for row in moving
        if row.status in VOUCHED and STATUS_ORDER[status] < STATUS_ORDER[row.status]
    ]
    if taken_back and reason is None:
        message = Problem(
            f"this figure is vouched for: say why it goes back to {status}",
            "reason_required",
            params={"status": status},
            variant="figure_taken_back",
        )
        raise InvalidInputError(
            f"{len(taken_back)} results are validated or published; give a reason to take "
            "them back. Nothing was changed.",
            code="reason_required",
            errors={str(row.id): {"reason": [message]} for row in taken_back[:500]},
            params={"count": len(taken_back)},
            variant="results_taken_back",
        )
    carried = summaries_carrying(
        session, [(r.indicator_code, r.period, r.disaggregation_key) for r in taken_back]
    )
    by_id, by_label = _changed_by(user)
    # The figures whose status moves are these indicators' alone (node.data_version).
    with data_version.indicator_writes(session, {row.indicator_code for row in moving}):
        _move_status(session, moving, status, carried, by_id, by_label, reason, now)
    return len(moving)


def _move_status(
    session: Session,
    moving: list[Result],
    status: str,
    carried: dict[tuple[str, str, str], Any],
    by_id: int | None,
    by_label: str,
    reason: str | None,
    now: datetime,
) -> None:
    """:func:`change_status`'s writes: the new status, the history lines, the kept tables."""
    history: list[dict[str, Any]] = []
    touched: set[tuple[str, str]] = set()
    recount: set[tuple[str, str, str]] = set()
    for row in moving:
        history.append(
            {
                "result_id": row.id,
                "changed_at": now,
                "changed_by_id": by_id,
                "changed_by": by_label,
                "old_value_text": row.value_text,
                "new_value_text": row.value_text,
                "old_status": row.status,
                "new_status": status,
                "reason": reason,
                "affected_summaries": carried.get(
                    (row.indicator_code, row.period, row.disaggregation_key)
                )
                or None,
            }
        )
        row.status = status
        row.updated_at = now
        touched.add((row.indicator_code, row.disaggregation_key))
        recount.add((row.indicator_code, row.disaggregation_key, row.period))
    session.flush()
    _write_history(session, history)
    refresh_latest(session, touched)
    refresh_group_counts(session, recount)


def history(session: Session, result_ids: Sequence[int]) -> dict[int, list[ResultChange]]:
    """The history lines of these figures, oldest first: result id → lines."""
    out: dict[int, list[ResultChange]] = {rid: [] for rid in result_ids}
    ids = sorted(set(result_ids))
    for start in range(0, len(ids), 500):
        query = (
            select(ResultChange)
            .where(ResultChange.result_id.in_(ids[start : start + 500]))
            .order_by(ResultChange.result_id, ResultChange.id)
        )
        for line in session.scalars(query):
            out[line.result_id].append(line)
    return out


def get_result(session: Session, result_id: int, *, published_only: bool) -> Result:
    """One figure by id; the public sees published ones only (others are "not found")."""
    row = session.get(Result, result_id)
    if row is None or (published_only and row.status != "published"):
        raise NotFoundError(f"No result with id {result_id}.", code="result_not_found")
    return row


def change_to_wire(line: ResultChange) -> dict[str, Any]:
    """A history line as ``schemas.results.ResultChangeSchema`` writes it."""
    return {
        "changed_at": line.changed_at,
        "changed_by": line.changed_by,
        "old_value": _wire_value(line.old_value_text),
        "new_value": _wire_value(line.new_value_text),
        "old_status": line.old_status,
        "new_status": line.new_status,
        "reason": line.reason,
        "affected_summaries": list(line.affected_summaries or []),
    }


def _wire_value(text: str | None) -> Decimal | bool | None:
    return None if text is None else _stored_value(text)


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
    period, so no two tie). ``ix_results_latest`` (indicator, breakdown, period end, period
    start) gives the rows in this order; their status, period and value are read from the rows
    (migration 0022: no column a write of a figure changes is in an index).
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
    if connection.dialect.name == "postgresql":
        _refresh_latest_joined(connection, few)
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


# PostgreSQL (issue 14, sixth round): the breakdowns' latest rows by three statements whatever
# their number, instead of one DELETE and one index seek per breakdown and scope (an import of
# 100k figures into a million touched 850 breakdowns: 2,550 round trips). The pairs travel as
# one JSON text of [indicator, key]; each scope's newest figure is the same index seek as below
# (``ix_results_latest``, backwards, first row whose status is in the scope: the status is read
# from the row, a few rows per pair), run by the server once per pair in a LATERAL join.
_DELETE_LATEST_PG = text(
    "DELETE FROM results_latest USING (SELECT p.value ->> 0 AS code, p.value ->> 1 AS key "
    "FROM json_array_elements(CAST(:pairs AS json)) AS p) AS pair "
    "WHERE results_latest.indicator_code = pair.code "
    "AND results_latest.disaggregation_key = pair.key"
)
_INSERT_LATEST_PG = text(
    "INSERT INTO results_latest (indicator_code, scope, disaggregation_key, period, value_text) "
    "SELECT pair.code, :scope, pair.key, newest.period, newest.value_text "
    "FROM (SELECT p.value ->> 0 AS code, p.value ->> 1 AS key "
    "FROM json_array_elements(CAST(:pairs AS json)) AS p) AS pair "
    "CROSS JOIN LATERAL (SELECT r.period, r.value_text FROM results AS r "
    "WHERE r.indicator_code = pair.code AND r.disaggregation_key = pair.key "
    "AND r.status = ANY(CAST(:statuses AS text[])) "
    "ORDER BY r.period_end DESC, r.period_start DESC LIMIT 1) AS newest"
)


def _refresh_latest_joined(connection: Any, pairs: list[tuple[str, str]]) -> None:
    """:func:`refresh_latest`'s seeks on PostgreSQL, set-based (see ``_INSERT_LATEST_PG``)."""
    pairs_json = json.dumps(pairs, ensure_ascii=False)
    connection.execute(_DELETE_LATEST_PG, {"pairs": pairs_json})
    for scope, statuses in LATEST_SCOPES.items():
        connection.execute(
            _INSERT_LATEST_PG, {"pairs": pairs_json, "scope": scope, "statuses": list(statuses)}
        )


def _group_counts_table() -> Table:
    """``results_group_counts`` as a Core table (statements without ORM objects)."""
    return cast(Table, ResultGroupCount.__table__)


def ground_of_key(dialect_name: str) -> Any:
    """SQL for the dimension of a single-dimension key (``"SEX=F"`` → ``"SEX"``)."""
    # SQLite has instr(); PostgreSQL spells it strpos(). Both are 1-based.
    position = (
        func.instr(Result.disaggregation_key, "=")
        if dialect_name == "sqlite"
        else func.strpos(Result.disaggregation_key, "=")
    )
    return func.substr(Result.disaggregation_key, 1, position - 1)


def single_dimension_numbers(statuses: Sequence[str]) -> list[Any]:
    """Conditions: figures among ``statuses`` broken down by one dimension alone, numbers only
    (no yes/no): the figures an equality gap compares (:mod:`node.equality`)."""
    return [
        Result.status.in_(list(statuses)),
        Result.disaggregation_key != "",
        Result.disaggregation_key.not_like(f"%{disagg.KEY_SEPARATOR}%"),
        Result.value_text.not_in(_YES_NO),
    ]


def group_counts_query(
    dialect_name: str, statuses: Sequence[str], indicators: Sequence[str] | None = None
) -> Select[Any]:
    """The plain definition of ``results_group_counts`` for one audience: how many groups have
    a figure, per (indicator, ground, period), columns ``indicator_code, ground, period,
    groups``. (A breakdown has one figure per period, so figures counted = groups counted.)"""
    ground = ground_of_key(dialect_name)
    query = select(
        Result.indicator_code,
        ground.label("ground"),
        Result.period,
        func.count().label("groups"),
    ).where(*single_dimension_numbers(statuses))
    if indicators is not None:
        query = query.where(Result.indicator_code.in_(list(indicators)))
    return query.group_by(Result.indicator_code, ground, Result.period)


def may_change_group_counts(change: FigureChange) -> bool:
    """Whether writing ``change`` may change what ``results_group_counts`` counts.

    A figure is counted by its (fixed) breakdown and period, its status and whether its value
    is a number: only a new figure, a change of status, or a change between a number and
    yes/no can change a count. Erring towards True is safe (a recount is exact); False is only
    said when none of those moves.
    """
    return (
        change.result_id is None
        or change.old_status != change.item.status
        or (change.old_value in _YES_NO) != (change.new_value in _YES_NO)
    )


def group_count_delta(change: FigureChange) -> tuple[str, tuple[int, ...]] | None:
    """(ground, how each audience's count moves) when writing ``change``; None when the figure
    is not broken down by one dimension alone (it is never counted).

    Read from the change's stored state before the write (``old_status``/``old_value``, None
    for a new figure) and after it: each audience (:data:`LATEST_SCOPES`) counts the figure
    when its status is one of the audience's and its value is a number.
    """
    item = change.item
    key = item.key
    if not key or disagg.KEY_SEPARATOR in key:
        return None
    counted_before = change.result_id is not None and change.old_value not in _YES_NO
    counted_after = change.new_value not in _YES_NO
    steps = tuple(
        int(counted_after and item.status in statuses)
        - int(counted_before and change.old_status in statuses)
        for statuses in LATEST_SCOPES.values()
    )
    return key.split("=", 1)[0], steps


def add_to_group_counts(session: Session, deltas: dict[tuple[str, str, str], list[int]]) -> None:
    """Move ``results_group_counts`` by ``deltas`` ((indicator, period, ground) → one step per
    audience of :data:`LATEST_SCOPES`), in the caller's transaction. Flushes.

    For a writer that knows each figure's state before and after (:class:`BatchWriter`): the
    counts stay equal to :func:`group_counts_query` as long as they were before the write,
    without reading the figures again. A count that falls to zero loses its row.
    """
    rows = [
        {"indicator_code": code, "period": period, "scope": scope, "ground": ground, "groups": step}
        for (code, period, ground), steps in sorted(deltas.items())
        for scope, step in zip(LATEST_SCOPES, steps, strict=True)
        if step
    ]
    if not rows:
        return
    session.flush()
    table = _group_counts_table()
    connection = session.connection()
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table)
    connection.execute(
        statement.on_conflict_do_update(
            index_elements=["indicator_code", "period", "scope", "ground"],
            set_={"groups": table.c.groups + statement.excluded.groups},
        ),
        rows,
    )
    # No count is zero or less otherwise: only the rows these steps emptied go.
    connection.execute(delete(table).where(table.c.groups <= 0))


def refresh_group_counts(session: Session, figures: Iterable[tuple[str, str, str]]) -> None:
    """Recount ``results_group_counts`` where these (indicator, breakdown key, period) figures
    were written or deleted. Flushes.

    Called in the same transaction as every write to ``results`` (beside
    :func:`refresh_latest`), so the counts always equal :func:`group_counts_query`. Only
    single-dimension figures count; each (indicator, period) touched is recounted from the
    figures (not adjusted by a difference), so a count is exact whatever came before. An
    indicator with many periods touched is recounted whole in one query.
    """
    periods: dict[str, set[str]] = defaultdict(set)
    for code, key, period in figures:
        if key and disagg.KEY_SEPARATOR not in key:
            periods[code].add(period)
    if not periods:
        return
    session.flush()
    table = _group_counts_table()
    connection = session.connection()  # Core statements: no ORM object per row
    dialect_name = connection.dialect.name
    whole = sorted(code for code, touched in periods.items() if len(touched) > _RECOUNT_LIMIT)
    if whole:
        rebuild_group_counts(session, whole)
    few = sorted(
        (code, period)
        for code, touched in periods.items()
        if len(touched) <= _RECOUNT_LIMIT
        for period in touched
    )
    if not few:
        return
    connection.execute(
        delete(table).where(
            table.c.indicator_code == bindparam("code"), table.c.period == bindparam("at")
        ),
        [{"code": code, "at": period} for code, period in few],
    )
    fresh: list[dict[str, Any]] = []
    for scope, statuses in LATEST_SCOPES.items():
        recount = group_counts_query(dialect_name, statuses).where(
            Result.indicator_code == bindparam("code"), Result.period == bindparam("at")
        )
        for code, period in few:
            for row in connection.execute(recount, {"code": code, "at": period}):
                fresh.append(
                    {
                        "indicator_code": row.indicator_code,
                        "period": row.period,
                        "scope": scope,
                        "ground": row.ground,
                        "groups": row.groups,
                    }
                )
    if fresh:
        connection.execute(insert(table), fresh)


def rebuild_group_counts(session: Session, indicators: Sequence[str] | None = None) -> None:
    """Recount ``results_group_counts`` of these indicators (all when None) from the figures,
    one aggregate query per audience. Flushes. For writes that bypass the services (a
    generated node's Core inserts) and for indicators with many periods written at once."""
    session.flush()
    table = _group_counts_table()
    connection = session.connection()
    dialect_name = connection.dialect.name
    batches: list[list[str] | None] = (
        [None]
        if indicators is None
        else [list(indicators[i : i + 200]) for i in range(0, len(indicators), 200)]
    )
    for codes in batches:
        stale = delete(table)
        if codes is not None:
            stale = stale.where(table.c.indicator_code.in_(codes))
        connection.execute(stale)
        for scope, statuses in LATEST_SCOPES.items():
            counted = group_counts_query(dialect_name, statuses, codes).subquery()
            connection.execute(
                insert(table).from_select(
                    ["indicator_code", "period", "scope", "ground", "groups"],
                    select(
                        counted.c.indicator_code,
                        counted.c.period,
                        literal(scope),
                        counted.c.ground,
                        counted.c.groups,
                    ),
                )
            )
