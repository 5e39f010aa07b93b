"""Community reports: submit (form or SMS), moderate, mark trusted reporters, attach as evidence.

Services take ``(session, ..., *, now)``, flush and never commit; refusals are
:class:`node.errors.DomainError` subclasses with a machine ``code``. Everything here treats a
report as hostile input: it is bounded, validated field by field, and stored as text that pages
only ever show autoescaped.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from node.community import derived
from node.community.categories import N_, Category, categories_from_config, find_category
from node.community.models import (
    CommunityReport,
    CommunityReportEvent,
    CommunityThrottle,
    TrustedReporter,
)
from node.config import NodeConfig
from node.errors import ConflictError, DomainError, InvalidInputError, NotFoundError
from node.models import Dimension, Evidence, User
from node.permissions import Actor, require
from node.refusals import Problem

# The messages below say these numbers in words (translated text cannot hold a computed value).
DESCRIPTION_MIN = 10
DESCRIPTION_MAX = 2000
CONTACT_MAX = 200
# "Not absurdly old": an incident of the last year. Older ones belong in a CSO's report.
MAX_AGE_DAYS = 365
# A report with more links than this is refused as spam: people describe, spammers link.
MAX_LINKS = 2
# The same source sending the same text again within this window gets the first reference back
# (a resent SMS, a double click) instead of a second report.
DUPLICATE_WINDOW = timedelta(hours=24)
REFERENCE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"  # no 0/O, 1/I/L: read aloud and typed
_LINK = re.compile(r"(?i)\b(?:https?://|www\.)|\b[a-z0-9-]+\.(?:com|net|org|info|xyz|ru|top)\b")
_COORDINATE = re.compile(r"^-?\d{1,3}(?:\.\d{1,7})?$")
# Which moderation steps exist. A moderator may correct a decision (verified → rejected, etc.)
# but never send a report back to "received": the history keeps every decision.
TRANSITIONS: dict[str, frozenset[str]] = {
    "received": frozenset({"verified", "duplicate", "rejected"}),
    "verified": frozenset({"duplicate", "rejected"}),
    "duplicate": frozenset({"verified", "rejected"}),
    "rejected": frozenset({"verified", "duplicate"}),
}


class RateLimitedError(DomainError):
    """Too many reports or attempts from one source; ``retry_after`` seconds until allowed."""

    status = 429
    code = "rate_limited"
    title = "Too many requests"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail, extra={"retry_after": retry_after})
        self.retry_after = retry_after


@dataclass(frozen=True)
class Submission:
    """What a reporter sent, before validation (strings as typed)."""

    category: str
    district: str
    occurred_on: str
    description: str
    latitude: str = ""
    longitude: str = ""
    contact: str = ""
    language: str = "en"


# --- keyed hashes ---------------------------------------------------------------------------------


def hash_key(secret_key: str) -> bytes:
    """The key of source hashes, derived from the node's secret key (never stored anywhere)."""
    return hmac.new(secret_key.encode(), b"hrcnet community source v1", hashlib.sha256).digest()


def normalize_phone(number: str) -> str:
    """``+254 712-345 678`` and ``+254712345678`` are one sender: digits and a leading plus."""
    digits = re.sub(r"\D", "", number)
    return ("+" if number.strip().startswith("+") else "") + digits


def source_hash(key: bytes, kind: str, value: str) -> str:
    """HMAC-SHA256 of a source (``phone`` or ``address``): rate limits and duplicates without
    keeping the phone number or the address in clear."""
    return hmac.new(key, f"{kind}\x00{value}".encode(), hashlib.sha256).hexdigest()


def _text_hash(text: str) -> str:
    folded = " ".join(text.lower().split())
    return hashlib.sha256(folded.encode()).hexdigest()


# --- rate limits ----------------------------------------------------------------------------------


def count_attempt(session: Session, key: str, config: NodeConfig, *, now: datetime) -> None:
    """Count one attempt of a source; raise :class:`RateLimitedError` past the limit.

    A fixed window per source, in the database (every worker sees the same counts). The caller
    runs this in its own unit of work, so a refused attempt still counts: a flood cannot
    escape the limit by being refused.
    """
    window = timedelta(seconds=config.community_rate_window_seconds)
    # Created with ON CONFLICT DO NOTHING, then locked (FOR UPDATE on PostgreSQL; on SQLite the
    # insert already took the write lock): two workers counting the same source at once both
    # count, and neither fails on the primary key.
    dialect = session.get_bind().dialect.name
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(CommunityThrottle)
    session.execute(
        insert.values(
            key=key, window_start=now, attempts=0, expires_at=now + window
        ).on_conflict_do_nothing(index_elements=["key"])
    )
    row = session.get(CommunityThrottle, key, with_for_update=True, populate_existing=True)
    assert row is not None  # inserted above or already there
    if row.window_start + window <= now:  # a new window starts with this attempt
        row.window_start, row.attempts, row.expires_at = now, 0, now + window
    row.attempts += 1
    session.flush()
    if row.attempts > config.community_rate_limit:
        wait = max(1, math.ceil((row.window_start + window - now).total_seconds()))
        raise RateLimitedError(
            "Too many reports from this source; try again later.", retry_after=wait
        )
    # Expired counters of other sources are dropped now and then (they no longer matter).
    session.execute(delete(CommunityThrottle).where(CommunityThrottle.expires_at < now))


# --- submitting -----------------------------------------------------------------------------------


def categories(config: NodeConfig) -> tuple[Category, ...]:
    """The node's categories (its configuration, or the default set)."""
    return categories_from_config(config.values.get("community_categories"))


def district_codes(session: Session) -> list[tuple[str, str]]:
    """The node's DISTRICT codes and labels, in their order (``_T``: the whole city, last)."""
    dimension = session.get(Dimension, "DISTRICT")
    if dimension is None:
        return [("_T", "Whole city")]
    codes = [(c.code, c.label) for c in dimension.codes if c.code != "_T"]
    return [*codes, ("_T", "Whole city")]


def _validate(
    session: Session, data: Submission, config: NodeConfig, *, now: datetime
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    # Each field message is the English sentence (the API's text, and the msgid the SMS reply
    # translates) carrying its variant, so that a page words it from the table
    # (node.community.refusal_messages) like every other refusal.
    errors: dict[str, list[str]] = {}
    clean: dict[str, Any] = {}
    category = find_category(categories(config), data.category) if data.category else None
    if category is None:
        errors["category"] = [
            Problem(N_("Choose one of the categories."), variant="report_category")
        ]
    else:
        clean["category"] = category.code
    codes = {code.upper(): code for code, _label in district_codes(session)}
    district = codes.get(data.district.strip().upper())
    if district is None:
        errors["district"] = [
            Problem(N_("Choose one of the city's districts."), variant="report_district")
        ]
    else:
        clean["district"] = district
    today = now.date()
    try:
        occurred = date.fromisoformat(data.occurred_on.strip())
    except ValueError:
        errors["occurred_on"] = [
            Problem(N_("Give the date as YYYY-MM-DD."), variant="report_date_format")
        ]
    else:
        if occurred > today:
            errors["occurred_on"] = [
                Problem(N_("The date cannot be in the future."), variant="report_date_future")
            ]
        elif occurred < today - timedelta(days=MAX_AGE_DAYS):
            errors["occurred_on"] = [
                Problem(
                    N_("Only incidents of the last 12 months can be reported."),
                    variant="report_date_too_old",
                )
            ]
        else:
            clean["occurred_on"] = occurred
    description = data.description.strip()
    if len(description) < DESCRIPTION_MIN:
        errors["description"] = [
            Problem(
                N_("Describe what happened (at least 10 characters)."),
                variant="report_description_short",
            )
        ]
    elif len(description) > DESCRIPTION_MAX:
        errors["description"] = [
            Problem(N_("At most 2,000 characters."), variant="report_description_long")
        ]
    elif len(_LINK.findall(description)) > MAX_LINKS:
        errors["description"] = [
            Problem(N_("At most 2 web links."), variant="report_description_links")
        ]
    else:
        clean["description"] = description
    latitude, longitude = data.latitude.strip(), data.longitude.strip()
    if latitude or longitude:
        try:
            if not (_COORDINATE.match(latitude) and _COORDINATE.match(longitude)):
                raise InvalidOperation
            lat, lon = Decimal(latitude), Decimal(longitude)
            if not (-90 <= lat <= 90 and -180 <= lon <= 180):
                raise InvalidOperation
        except InvalidOperation:
            errors["coordinates"] = [
                Problem(
                    N_(
                        "Give both latitude (-90 to 90) and longitude (-180 to 180) as decimal "
                        "degrees, or neither."
                    ),
                    variant="report_coordinates",
                )
            ]
        else:
            clean["latitude"], clean["longitude"] = latitude, longitude
    contact = data.contact.strip()
    if len(contact) > CONTACT_MAX:
        errors["contact"] = [Problem(N_("At most 200 characters."), variant="report_contact_long")]
    else:
        clean["contact"] = contact or None
    return clean, errors


def _new_reference(session: Session) -> str:
    while True:
        reference = "CR-" + "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(8))
        if session.scalar(select(CommunityReport.id).filter_by(reference=reference)) is None:
            return reference


def submit(
    session: Session,
    data: Submission,
    config: NodeConfig,
    *,
    channel: str,
    source: str,
    now: datetime,
    gateway: str | None = None,
    message_id: str | None = None,
) -> tuple[CommunityReport, bool]:
    """Record a report; return it and whether it is new.

    ``source`` is the sender's keyed hash (:func:`source_hash`). A message id already seen from
    the same gateway (a retry, or a replay) and the same text from the same source within
    :data:`DUPLICATE_WINDOW` return the existing report: nothing is written twice.
    """
    if gateway and message_id:
        existing = session.scalar(
            select(CommunityReport).filter_by(gateway=gateway, gateway_message_id=message_id)
        )
        if existing is not None:
            return existing, False
    clean, errors = _validate(session, data, config, now=now)
    if errors:
        raise InvalidInputError(
            "The report is not complete; see errors. Nothing was saved.",
            code="report_invalid",
            errors=errors,
        )
    text_hash = _text_hash(clean["description"])
    repeat = session.scalar(
        select(CommunityReport)
        .where(
            CommunityReport.source_hash == source,
            CommunityReport.text_hash == text_hash,
            CommunityReport.received_at >= now - DUPLICATE_WINDOW,
        )
        .order_by(CommunityReport.id)
        .limit(1)
    )
    if repeat is not None:
        return repeat, False
    occurred: date = clean["occurred_on"]
    report = CommunityReport(
        reference=_new_reference(session),
        channel=channel,
        gateway=gateway,
        gateway_message_id=message_id,
        category=clean["category"],
        district=clean["district"],
        occurred_on=occurred,
        period=f"{occurred.year:04d}-{occurred.month:02d}",
        description=clean["description"],
        latitude=clean.get("latitude"),
        longitude=clean.get("longitude"),
        contact=clean["contact"],
        language=data.language if data.language in ("en", "fr", "es", "nl", "it", "sw") else "en",
        source_hash=source,
        text_hash=text_hash,
        state="received",
        received_at=now,
        updated_at=now,
    )
    report.events.append(
        CommunityReportEvent(
            from_state=None, to_state="received", reason=None, actor_label=channel, at=now
        )
    )
    session.add(report)
    session.flush()
    return report, True


# --- moderation -----------------------------------------------------------------------------------


def get_report(session: Session, report_id: int) -> CommunityReport:
    """The report with this id, or 404 ``report_not_found``."""
    report = session.get(CommunityReport, report_id) if 0 < report_id < 2**31 else None
    if report is None:
        raise NotFoundError(f"No community report {report_id}.", code="report_not_found")
    return report


def list_reports(
    session: Session, *, user: Actor | None, state: str | None = None, limit: int = 100
) -> list[CommunityReport]:
    """Reports for moderators, newest first (``state`` filters)."""
    require(user, "community.moderate")
    query = select(CommunityReport).order_by(CommunityReport.id.desc()).limit(limit)
    if state:
        query = query.where(CommunityReport.state == state)
    return list(session.scalars(query))


def moderate(
    session: Session,
    report_id: int,
    *,
    state: str,
    reason: str | None,
    duplicate_of: int | None = None,
    user: Actor | None,
    config: NodeConfig,
    now: datetime,
) -> CommunityReport:
    """Move a report to ``verified``, ``duplicate`` or ``rejected``, with a reason; record it in
    the history and recompute the derived counts of its cell in the same transaction.

    Every check runs before anything is written, so a refusal leaves no trace.
    """
    require(user, "community.moderate")
    report = get_report(session, report_id)
    reason = (reason or "").strip() or None
    if state not in TRANSITIONS:
        raise InvalidInputError(
            f"Unknown state {state!r}.",
            code="unknown_state",
            errors={"state": [Problem("unknown", "unknown_state")]},
        )
    if state == report.state:
        raise ConflictError(f"The report is already {state}.", code="report_already_in_state")
    if state not in TRANSITIONS[report.state]:
        raise ConflictError(
            f"A {report.state} report cannot become {state}.", code="transition_not_allowed"
        )
    # A rejection, a duplicate and any change of a decision must say why (the history is read
    # by the reporter's CSO and by reviewers; an unexplained rejection cannot be challenged).
    if reason is None and (state in ("rejected", "duplicate") or report.state != "received"):
        raise InvalidInputError(
            "Say why.",
            code="reason_required",
            errors={"reason": [Problem("required for this step", "reason_required")]},
        )
    if reason is not None and len(reason) > 1000:
        # The API keeps its English text; the variant and value let a page say it in its
        # reader's words (the same rule, and message, as a figure's reason).
        raise InvalidInputError(
            "Reason too long.",
            errors={
                "reason": [
                    Problem(
                        "at most 1000 characters", params={"max": 1000}, variant="reason_too_long"
                    )
                ]
            },
            params={"max": 1000},
            variant="reason_too_long",
        )
    original = None
    if state == "duplicate":
        if duplicate_of is None:
            raise InvalidInputError(
                "Name the report this one duplicates.",
                code="duplicate_of_required",
                errors={"duplicate_of": [Problem("required", "duplicate_of_required")]},
            )
        original = get_report(session, duplicate_of)
        if original.id == report.id or original.state == "duplicate":
            raise ConflictError(
                "A report duplicates another, original report.", code="bad_duplicate_of"
            )
    previous = report.state
    report.state = state
    report.duplicate_of_id = original.id if original is not None else None
    report.updated_at = now
    report.events.append(
        CommunityReportEvent(
            from_state=previous,
            to_state=state,
            reason=reason,
            actor_id=user.id if isinstance(user, User) else None,
            actor_label=user.email if user is not None else "",
            at=now,
        )
    )
    session.flush()
    if "verified" in (previous, state):
        category = next((c for c in categories(config) if c.code == report.category), None)
        if category is not None:
            derived.recompute(session, category, report.period, config, now=now)
    return report


def set_trusted(
    session: Session,
    report_id: int,
    *,
    trusted: bool,
    note: str | None,
    user: Actor | None,
    now: datetime,
) -> bool:
    """Mark (or unmark) the source of a report as a trusted reporter; returns the new mark."""
    require(user, "community.moderate")
    report = get_report(session, report_id)
    row = session.get(TrustedReporter, report.source_hash)
    if row is None:
        row = TrustedReporter(source_hash=report.source_hash, marked_at=now)
        session.add(row)
    row.active = trusted
    row.note = (note or "").strip()[:300] or None
    row.marked_by_id = user.id if isinstance(user, User) else None
    row.marked_at = now
    session.flush()
    return trusted


def trusted_sources(session: Session, hashes: set[str]) -> set[str]:
    """Which of these source hashes are trusted reporters."""
    if not hashes:
        return set()
    rows = session.scalars(
        select(TrustedReporter.source_hash).where(
            TrustedReporter.source_hash.in_(sorted(hashes)), TrustedReporter.active.is_(True)
        )
    )
    return set(rows)


def attach_as_evidence(
    session: Session, report_id: int, *, user: Actor | None, config: NodeConfig, now: datetime
) -> Evidence:
    """Link a verified report as evidence (kind ``community_report``) of its category's indicator.

    The evidence row links to the report (``url``) instead of copying it: its body says only
    what is public anyway (category, district, month), never the description, contact or place.
    Attaching twice returns the same row.
    """
    require(user, "evidence.write")
    require(user, "community.moderate")
    report = get_report(session, report_id)
    if report.state != "verified":
        raise ConflictError("Only verified reports are evidence.", code="report_not_verified")
    if report.evidence_id is not None:
        existing = session.get(Evidence, report.evidence_id)
        if existing is not None:
            return existing
    category = next((c for c in categories(config) if c.code == report.category), None)
    if category is None or not category.indicators:
        raise ConflictError("The report's category has no indicator.", code="no_indicator")
    evidence = Evidence(
        indicator_code=category.indicators[0],
        period=report.period,
        kind="community_report",
        title=f"Community report {report.reference}",
        body=f"Verified community report: {category.code} in district {report.district}, "
        f"{report.period}.",
        organisation=None,
        url=f"/community/reports/{report.id}",
        status="submitted",
        submitted_by_id=user.id if isinstance(user, User) else None,
        created_at=now,
    )
    session.add(evidence)
    session.flush()
    report.evidence_id = evidence.id
    session.flush()
    return evidence


# --- what moderators see --------------------------------------------------------------------------


def grid_cell(latitude: str, longitude: str) -> tuple[str, str]:
    """The south-west corner of the ≥ 1 km grid cell holding a point (what may ever be shown
    beyond moderators): 0.01° of latitude (1.11 km) by enough longitude for ≥ 1 km there."""
    lat, lon = float(latitude), float(longitude)
    lat_step = 0.01
    # 0.01° of longitude is 1.11 km × cos(latitude): widen the cell so it stays ≥ 1 km.
    lon_step = 0.01 * math.ceil(1 / (1.1132 * max(math.cos(math.radians(lat)), 1e-3)))
    cell_lat = math.floor(lat / lat_step) * lat_step
    cell_lon = math.floor(lon / lon_step) * lon_step
    return f"{cell_lat:.2f}", f"{cell_lon:.2f}"


def to_wire(report: CommunityReport, *, trusted: bool) -> dict[str, Any]:
    """A report as moderators see it (contact and exact place included: moderators only)."""
    return {
        "id": report.id,
        "reference": report.reference,
        "state": report.state,
        "channel": report.channel,
        "gateway": report.gateway,
        "category": report.category,
        "district": report.district,
        "occurred_on": report.occurred_on.isoformat(),
        "period": report.period,
        "description": report.description,
        "latitude": report.latitude,
        "longitude": report.longitude,
        "contact": report.contact,
        "language": report.language,
        "trusted_reporter": trusted,
        "duplicate_of": report.duplicate_of_id,
        "evidence_id": report.evidence_id,
        "received_at": report.received_at.isoformat(),
        "history": [
            {
                "from": event.from_state,
                "to": event.to_state,
                "reason": event.reason,
                "by": event.actor_label,
                "at": event.at.isoformat(),
            }
            for event in report.events
        ],
    }


def count_by_state(session: Session) -> dict[str, int]:
    """How many reports are in each state (the moderators' queue)."""
    rows = session.execute(
        select(CommunityReport.state, func.count()).group_by(CommunityReport.state)
    ).all()
    return {state: int(count) for state, count in rows}


def verified_counts(session: Session, *, min_count: int) -> list[tuple[str, str, str, int]]:
    """Verified reports counted by (category, district, month), for the public.

    Never one report: only aggregates leave this function, and a cell with fewer than
    ``min_count`` reports is left out (the node's small-cell threshold), because in a small
    district a count of one or two can point at the person who reported — the same rule the
    derived figures follow in signed summaries.
    """
    rows = session.execute(
        select(
            CommunityReport.category, CommunityReport.district, CommunityReport.period, func.count()
        )
        .where(CommunityReport.state == "verified")
        .group_by(CommunityReport.category, CommunityReport.district, CommunityReport.period)
        .order_by(CommunityReport.period, CommunityReport.category, CommunityReport.district)
    ).all()
    return [
        (category, district, month, int(count))
        for category, district, month, count in rows
        if int(count) >= max(min_count, 1)
    ]
