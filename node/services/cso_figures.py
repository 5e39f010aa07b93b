"""Civil-society parallel figures: a CSO partner's own figure for an indicator and period.

The figure is the CSO's statement, not the city's: it lives in its own table, is shown beside
the official figure (never merged into it, its charts or its progress), and only the CSO user
who entered it may change or publish it. Publishing signs a small statement with the node's
key (the node attests *who said what, when*; it does not vouch for the number).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from node import disaggregation as disagg
from node.config import NodeConfig
from node.errors import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError
from node.exporting.tabular import protect_text
from node.models import CsoFigure, Indicator, User
from node.network import port
from node.permissions import Actor, require
from node.refusals import period_problem
from node.services import catalogue
from node.services.results import check_value
from schemas.cso_figures import (
    MAX_REASON,
    STATEMENT_SCHEMA,
    STATEMENT_STREAM,
    STATEMENT_TYPE,
    WITHDRAWAL_SCHEMA,
    WITHDRAWAL_SCOPES,
    WITHDRAWAL_TYPE,
)
from schemas.fields import format_decimal
from schemas.periods import PeriodError, parse_period

STATUSES = ("draft", "published", "withdrawn")
MAX_ORGANISATION = 300
MAX_METHOD = 2_000
MAX_SOURCE = 1_000
MAX_NOTE = 4_000
_TEXT_LIMITS = {
    "organisation": MAX_ORGANISATION,
    "method": MAX_METHOD,
    "source": MAX_SOURCE,
    "note": MAX_NOTE,
}
_REQUIRED = ("organisation", "method", "source")


@dataclass(frozen=True)
class CsoFigureInput:
    """What a CSO partner submits (as read from a form or a JSON body, unchecked)."""

    indicator: Any
    period: Any
    value: Any
    organisation: Any
    method: Any
    source: Any
    note: Any = None
    disaggregation: Any = None
    share_with_twins: Any = False  # the CSO's consent to carry it to twins; default: not shared


def _text(raw: Any) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise TypeError
    return raw.strip() or None


def check(session: Session, item: CsoFigureInput) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Check ``item`` against the catalogue and the value rules; return (clean fields, errors).

    The same rules as an official figure (unit ranges, ordinal scales, yes/no, known
    breakdown codes), plus what makes a parallel figure worth reading: the organisation, its
    method and its source are required, every text bounded.
    """
    errors: dict[str, list[str]] = {}
    clean: dict[str, Any] = {}
    cat = catalogue.view(session)
    info = cat.indicators.get(item.indicator) if isinstance(item.indicator, str) else None
    if info is None:
        errors["indicator"] = [f"unknown indicator '{str(item.indicator)[:64]}'"]
    try:
        clean["period"] = str(parse_period(item.period))
    except PeriodError as exc:
        errors["period"] = [period_problem(exc)]
    breakdown = item.disaggregation or {}
    if not isinstance(breakdown, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in breakdown.items()
    ):
        errors["disaggregation"] = ["must be an object of dimension → code"]
        breakdown = {}
    if info is not None:
        errors.update(disagg.check_against(breakdown, list(info.dimensions), cat.known_codes()))
        value, problem = check_value(info, item.value)
        if problem:
            errors["value"] = [problem]
        elif value is not None:
            clean["value_text"] = (
                ("true" if value else "false") if isinstance(value, bool) else format_decimal(value)
            )
        clean["indicator_code"] = info.code
    for name, limit in _TEXT_LIMITS.items():
        try:
            text = _text(getattr(item, name))
        except TypeError:
            errors[name] = ["must be text"]
            continue
        if text is None and name in _REQUIRED:
            errors[name] = ["required: say who states this figure, how and from what"]
        elif text is not None and len(text) > limit:
            errors[name] = [f"at most {limit} characters"]
        clean[name] = text
    if not isinstance(item.share_with_twins, bool):
        errors["share_with_twins"] = ["must be true or false"]
    else:
        clean["share_with_twins"] = item.share_with_twins
    if "disaggregation" not in errors:
        clean["disaggregation"] = disagg.normalize(breakdown)
        clean["disaggregation_key"] = disagg.disaggregation_key(breakdown)
    return clean, errors


def _owner_id(user: Actor) -> int | None:
    return user.id if isinstance(user, User) else None


def _require_owner(user: Actor, figure: CsoFigure) -> None:
    # Each CSO writes only its own statements: another CSO partner (or an administrator) must
    # not put words in its mouth, and the operator (no user id) owns nothing.
    if figure.entered_by_id is None or figure.entered_by_id != _owner_id(user):
        raise PermissionDeniedError(
            "Only the person who entered this civil-society figure may change or publish it.",
            code="cso_figure_not_yours",
        )


def record(
    session: Session, item: CsoFigureInput, *, user: Actor | None, now: datetime
) -> CsoFigure:
    """Enter (or update one's own draft of) a civil-society figure, as a draft."""
    actor = require(user, "cso_figures.write")
    clean, errors = check(session, item)
    if errors:
        raise InvalidInputError(
            "This civil-society figure is not valid; nothing was saved.", errors=errors
        )
    existing = session.scalar(
        select(CsoFigure).where(
            CsoFigure.organisation == clean["organisation"],
            CsoFigure.indicator_code == clean["indicator_code"],
            CsoFigure.period == clean["period"],
            CsoFigure.disaggregation_key == clean["disaggregation_key"],
        )
    )
    if existing is not None:
        _require_owner(actor, existing)
        if existing.status == "published":
            # Already signed and public: a changed figure would contradict the signed statement.
            raise ConflictError(
                "This figure is already published as a signed statement; it cannot change.",
                code="cso_figure_published",
            )
        if existing.status == "withdrawn":
            # Its signed statement and its withdrawal stay public under this key: a new figure
            # for the same organisation, indicator, period and breakdown would blur which is which.
            raise ConflictError(
                "This figure was withdrawn; its statement and withdrawal stay on record.",
                code="cso_figure_withdrawn",
            )
        for name, value in clean.items():
            setattr(existing, name, value)
        existing.updated_at = now
        session.flush()
        return existing
    figure = CsoFigure(
        **clean,
        status="draft",
        entered_by_id=_owner_id(actor),
        entered_at=now,
        updated_at=now,
    )
    session.add(figure)
    session.flush()
    return figure


def statement_payload(
    figure: CsoFigure, config: NodeConfig, right: str | None = None
) -> dict[str, Any]:
    """What the node signs: the CSO's figure, with who said it and how, for this city."""
    return {
        "city": config.city_id,
        "organisation": figure.organisation,
        "indicator": figure.indicator_code,
        # The indicator's right, so that a twin whose agreement covers some themes only can
        # check the statement is in scope without knowing our catalogue.
        "right": right,
        "period": figure.period,
        "disaggregation": dict(figure.disaggregation or {}),
        "value": figure.value_text,
        "method": figure.method,
        "source": figure.source,
        "note": figure.note,
        "official": False,  # said inside what is signed: never the city's own figure
        # The CSO's consent, signed: a twin refuses a statement that does not carry it.
        "shared_with_twins": bool(figure.share_with_twins),
    }


def twins_for(session: Session, right: str | None) -> list[str]:
    """The twins a shared statement about an indicator of ``right`` goes to.

    Active twins only, never the secretariat (it receives the network's copy of summaries
    for benchmarks, not civil society's statements), and only twins whose agreement covers
    the indicator's right (a twin agreed to themes, not to everything we hold).
    """
    out = []
    for twin in port.active_twins(session):
        if port.is_pinned_secretariat(session, twin.city_id):
            continue
        if twin.themes is not None and right not in twin.themes:
            continue
        out.append(twin.city_id)
    return sorted(out)


def publish(
    session: Session,
    config: NodeConfig,
    figure_id: int,
    *,
    user: Actor | None,
    now: datetime,
) -> CsoFigure:
    """Publish one's own draft: sign it as the CSO's statement and keep the envelope with it."""
    actor = require(user, "cso_figures.write")
    figure = session.get(CsoFigure, figure_id)
    if figure is None:
        raise NotFoundError("No such civil-society figure.", code="cso_figure_not_found")
    _require_owner(actor, figure)
    if figure.status != "draft":
        raise ConflictError("This figure is already published.", code="cso_figure_published")
    indicator = session.get(Indicator, figure.indicator_code)
    right = indicator.right if indicator is not None else None
    # Without the CSO's consent the statement is addressed to nobody: it is public on this node
    # and never leaves it by push or pull (the outbox serves a twin only what names it).
    audience = twins_for(session, right) if figure.share_with_twins else []
    envelope = port.sign_and_store(
        session,
        config,
        type_=STATEMENT_TYPE,
        schema=STATEMENT_SCHEMA,
        stream=STATEMENT_STREAM,
        payload=statement_payload(figure, config, right),
        audience=audience,
        now=now,
    )
    # Persistent and retried like every envelope (outbox), and pulled by a twin that missed it.
    port.queue(session, envelope, audience, now)
    figure.shared_with = audience
    figure.status = "published"
    figure.published_at = now
    figure.updated_at = now
    figure.envelope_raw = envelope.raw
    figure.envelope_sha256 = envelope.sha256
    session.flush()
    return figure


def withdraw(
    session: Session,
    config: NodeConfig,
    figure_id: int,
    *,
    scope: str,
    reason: str | None,
    user: Actor | None,
    now: datetime,
) -> CsoFigure:
    """Withdraw one's own published figure (``figure``) or the consent to share it (``sharing``).

    Never silent: a signed ``hrc.cso_withdrawal`` names the statement, the scope and the reason;
    it goes to the twins the statement went to (while they still hold it), so they stop showing
    it, and it is public at ``/public/cso-statements/{hash}`` like the statement. A withdrawn
    figure leaves this node's pages, portal and downloads; a figure no longer shared stays
    public here. The signed statement itself stays on record (it was public and signed).
    """
    actor = require(user, "cso_figures.write")
    if scope not in WITHDRAWAL_SCOPES:
        raise InvalidInputError(
            "Unknown withdrawal.", errors={"scope": [f"one of {', '.join(WITHDRAWAL_SCOPES)}"]}
        )
    if reason is not None and len(reason) > MAX_REASON:
        raise InvalidInputError(
            "The reason is too long.", errors={"reason": [f"at most {MAX_REASON} characters"]}
        )
    figure = session.get(CsoFigure, figure_id)
    if figure is None:
        raise NotFoundError("No such civil-society figure.", code="cso_figure_not_found")
    _require_owner(actor, figure)
    if figure.status != "published" or figure.envelope_sha256 is None:
        raise ConflictError(
            "Only a published figure can be withdrawn.", code="cso_figure_not_published"
        )
    if scope == "sharing" and not (figure.share_with_twins and figure.sharing_withdrawn_at is None):
        raise ConflictError("This figure is not shared with twins.", code="cso_figure_not_shared")
    # Twins still holding the statement: those it went to, unless sharing was withdrawn before.
    holding = list(figure.shared_with or []) if figure.sharing_withdrawn_at is None else []
    envelope = port.sign_and_store(
        session,
        config,
        type_=WITHDRAWAL_TYPE,
        schema=WITHDRAWAL_SCHEMA,
        stream=STATEMENT_STREAM,
        payload={
            "city": config.city_id,
            "organisation": figure.organisation,
            "statement_sha256": figure.envelope_sha256,
            "scope": scope,
            "reason": (reason or "").strip() or None,
        },
        audience=holding,
        now=now,
    )
    port.queue(session, envelope, holding, now)
    if figure.share_with_twins and figure.sharing_withdrawn_at is None:
        figure.sharing_withdrawn_at = now  # withdrawing the figure ends its sharing too
    if scope == "figure":
        figure.status = "withdrawn"
        figure.withdrawn_at = now
    figure.withdrawal_reason = (reason or "").strip() or figure.withdrawal_reason
    figure.updated_at = now
    session.flush()
    return figure


def list_figures(
    session: Session,
    *,
    indicator: str | None = None,
    period: str | None = None,
    published_only: bool = True,
    user: Actor | None = None,
    own_only: bool = False,
) -> list[CsoFigure]:
    """Published figures for everyone; a signed-in CSO partner or admin also sees its drafts.

    ``own_only``: only the figures ``user`` entered (its own page)."""
    query = select(CsoFigure).order_by(
        CsoFigure.indicator_code, CsoFigure.period, CsoFigure.organisation, CsoFigure.id
    )
    if indicator:
        query = query.where(CsoFigure.indicator_code == indicator)
    if period:
        query = query.where(CsoFigure.period == period)
    rows = list(session.scalars(query))
    owner = _owner_id(user) if user is not None else None
    if own_only:
        rows = [row for row in rows if owner is not None and row.entered_by_id == owner]
    return [
        row
        for row in rows
        if row.status == "published"
        or (not published_only and owner is not None and row.entered_by_id == owner)
    ]


def statement(session: Session, sha256: str) -> str | None:
    """The signed statement or withdrawal with this hash (None when unknown or malformed).

    Every envelope of the statements' stream is public: a statement (published, or withdrawn:
    it was public and signed, and its withdrawal points at it) and each withdrawal."""
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        return None  # never reaches the database with arbitrary text
    return session.scalar(
        select(port.OutEnvelope.raw).where(
            port.OutEnvelope.sha256 == sha256,
            port.OutEnvelope.stream == STATEMENT_STREAM,
            port.OutEnvelope.type.in_((STATEMENT_TYPE, WITHDRAWAL_TYPE)),
        )
    )


def to_wire(figure: CsoFigure) -> dict[str, Any]:
    """The JSON shape of a figure in the API."""
    return {
        "id": figure.id,
        "indicator": figure.indicator_code,
        "period": figure.period,
        "disaggregation": dict(figure.disaggregation or {}),
        "value": figure.value_text,
        "organisation": figure.organisation,
        "method": figure.method,
        "source": figure.source,
        "note": figure.note,
        "status": figure.status,
        "published_at": figure.published_at.isoformat() if figure.published_at else None,
        "statement_sha256": figure.envelope_sha256,
        "share_with_twins": bool(figure.share_with_twins),
        "shared_with": list(figure.shared_with or [])
        if figure.sharing_withdrawn_at is None
        else [],
        "withdrawn_at": figure.withdrawn_at.isoformat() if figure.withdrawn_at else None,
    }


# --- downloads: their own file, never rows of the official one ----------------------------------

SOURCE_TYPE = "civil_society"  # every exported row says whose figure it is
EXPORT_COLUMNS = (
    "source_type",
    "city",
    "organisation",
    "indicator",
    "period",
    "disaggregation",
    "value",
    "method",
    "source",
    "note",
    "published_at",
    "statement_sha256",
)


_FREE_TEXT = frozenset({"organisation", "method", "source", "note"})


def export_items(
    session: Session, config: NodeConfig, *, indicator: str | None = None
) -> list[dict[str, Any]]:
    """Published civil-society figures as download rows (``source_type`` = civil_society).

    Kept out of the official downloads on purpose: a reader summing or charting the city's
    file must never pick up a CSO's number by accident."""
    return [
        {
            "source_type": SOURCE_TYPE,
            "city": config.city_id,
            "organisation": f.organisation,
            "indicator": f.indicator_code,
            "period": f.period,
            "disaggregation": dict(f.disaggregation or {}),
            "value": f.value_text,
            "method": f.method,
            "source": f.source,
            "note": f.note,
            "published_at": f.published_at.isoformat() if f.published_at else None,
            "statement_sha256": f.envelope_sha256,
        }
        for f in list_figures(session, indicator=indicator)
    ]


def export_csv(items: list[dict[str, Any]]) -> str:
    """The rows as CSV; every free text protected against spreadsheet formulas."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(EXPORT_COLUMNS)
    for item in items:
        cells = []
        for column in EXPORT_COLUMNS:
            cell = item[column]
            if column == "disaggregation":
                cell = disagg.disaggregation_key(cell)
            # A CSO's words (organisation, method, source, note) are free text from a user:
            # "=HYPERLINK(...)" must stay text in a spreadsheet.
            if column in _FREE_TEXT and isinstance(cell, str):
                cell = protect_text(cell)
            cells.append("" if cell is None else cell)
        writer.writerow(cells)
    return out.getvalue()
