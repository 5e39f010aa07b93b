"""Civil-society parallel figures: a CSO partner's own figure for an indicator and period.

The figure is the CSO's statement, not the city's: it lives in its own table, is shown beside
the official figure (never merged into it, its charts or its progress), and only the CSO user
who entered it may change or publish it. Publishing signs a small statement with the node's
key (the node attests *who said what, when*; it does not vouch for the number).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from node import disaggregation as disagg
from node.config import NodeConfig
from node.errors import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError
from node.models import CsoFigure, User
from node.network import port
from node.permissions import Actor, require
from node.refusals import period_problem
from node.services import catalogue
from node.services.results import check_value
from schemas.fields import format_decimal
from schemas.periods import PeriodError, parse_period

STATUSES = ("draft", "published")
STATEMENT_TYPE = "hrc.cso_statement"
STATEMENT_SCHEMA = "hrc.cso_statement/1"
# Its own stream with no audience: never pulled by or pushed to a twin (carrying CSO figures
# to twins is a later, agreed wire change), and never mistaken for one of our summaries.
STATEMENT_STREAM = "cso-statements"
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


def statement_payload(figure: CsoFigure, config: NodeConfig) -> dict[str, Any]:
    """What the node signs: the CSO's figure, with who said it and how, for this city."""
    return {
        "city": config.city_id,
        "organisation": figure.organisation,
        "indicator": figure.indicator_code,
        "period": figure.period,
        "disaggregation": dict(figure.disaggregation or {}),
        "value": figure.value_text,
        "method": figure.method,
        "source": figure.source,
        "note": figure.note,
        "official": False,  # said inside what is signed: never the city's own figure
    }


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
    if figure.status == "published":
        raise ConflictError("This figure is already published.", code="cso_figure_published")
    envelope = port.sign_and_store(
        session,
        config,
        type_=STATEMENT_TYPE,
        schema=STATEMENT_SCHEMA,
        stream=STATEMENT_STREAM,
        payload=statement_payload(figure, config),
        audience=[],
        now=now,
        period=figure.period,
    )
    figure.status = "published"
    figure.published_at = now
    figure.updated_at = now
    figure.envelope_raw = envelope.raw
    figure.envelope_sha256 = envelope.sha256
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
    """The signed statement text with this hash (None when unknown or malformed)."""
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        return None  # never reaches the database with arbitrary text
    return session.scalar(
        select(CsoFigure.envelope_raw).where(
            CsoFigure.envelope_sha256 == sha256, CsoFigure.status == "published"
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
    }
