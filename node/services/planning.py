"""The daily work behind the officials' and partners' pages: targets with unit-aware checks,
evidence with attachments, and the import template of an indicator.

Thin additions over :mod:`node.services.monitoring` (which stays the one place that stores
targets, evidence and budget lines): services take a session and ``now``, flush, never commit.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from node.catalogue_view import IndicatorInfo
from node.config import NodeConfig
from node.errors import InvalidInputError, NotFoundError
from node.exporting.tabular import protect_text
from node.models import Evidence, EvidenceAttachment, Target, User
from node.permissions import Actor, allowed, require
from node.refusals import Problem, period_problem
from node.services import catalogue, monitoring
from node.units import check_unit
from schemas.fields import parse_decimal
from schemas.periods import PeriodError, parse_period

# --- targets and baselines ---------------------------------------------------------------------


def unit_problem(info: IndicatorInfo, value: Decimal | bool) -> Problem | None:
    """What is wrong with ``value`` for the indicator's unit, or None: the one unit rule of
    :mod:`node.units`, the same every figure is held to (a target of 150 % is as wrong as a
    result of 150 %)."""
    if isinstance(value, bool):
        return None
    problem = check_unit(info.unit_code, value)
    if problem is None:
        return None
    return Problem(
        problem.message,
        problem.code,
        params={"value": str(value), **problem.params},
        variant=problem.variant,
    )


def set_target(
    session: Session, data: dict[str, Any], *, user: Actor | None, now: datetime
) -> Target:
    """Set the baseline and target of an indicator (or one breakdown), checked for the page.

    Periods are checked here (the API's schema checks them before ``monitoring.set_target``;
    a page has no schema, and "2025-13" must be a message, not a 500), then each value against
    the indicator's unit, then the monitoring service stores it.
    """
    require(user, "targets.write")
    indicator = catalogue.get_indicator(session, data["indicator"])
    info = catalogue.view(session).indicators[indicator.code]
    errors: dict[str, list[str]] = {}
    points: dict[str, dict[str, Any] | None] = {}
    for name in ("baseline", "target"):
        point = data.get(name)
        if not point or (not point.get("period") and not point.get("value")):
            points[name] = None
            continue
        period_text, value_text = (point.get("period") or "").strip(), point.get("value")
        try:
            period_text = str(parse_period(period_text))
        except PeriodError as exc:
            errors[f"{name}.period"] = [period_problem(exc)]
        if value_text in (None, ""):
            errors[f"{name}.value"] = [
                Problem("give a value with the period", variant="value_missing")
            ]
            continue
        if info.value_type != "boolean":
            try:
                number = parse_decimal(str(value_text))
            except (ValueError, InvalidOperation) as exc:
                errors[f"{name}.value"] = [
                    Problem(
                        str(exc), params={"value": str(value_text)[:40]}, variant="not_a_number"
                    )
                ]
                continue
            problem = unit_problem(info, number)
            if problem:
                errors[f"{name}.value"] = [problem]
        points[name] = {"period": period_text, "value": value_text}
    # A point refused above has no entry (``.get``): its field message is the answer, not a 500.
    if not errors and points["baseline"] is None and points["target"] is None:
        errors["baseline.period"] = [
            Problem("give a baseline, a target, or both", variant="target_empty")
        ]
    if errors:
        raise InvalidInputError("The baseline or target is not valid.", errors=errors)
    return monitoring.set_target(
        session,
        {
            "indicator": indicator.code,
            "disaggregation": data.get("disaggregation") or {},
            "baseline": points["baseline"],
            "target": points["target"],
            "note": data.get("note") or None,
        },
        user=user,
        now=now,
    )


# --- import template ---------------------------------------------------------------------------


def import_template_csv(session: Session, code: str, *, now: datetime) -> tuple[str, str]:
    """(file name, CSV text) of the import template of one indicator.

    The columns of our own layout (``node.importing.own_layout``) and one column per breakdown
    dimension; a row for the total, then one example row per breakdown code. Values are left
    empty for the person to fill in (the importer refuses an empty value, so an unfilled row
    is never stored by mistake); the note says the unit. Text cells are protected against
    spreadsheet formulas, as in exports.
    """
    indicator = catalogue.get_indicator(session, code)
    view = catalogue.view(session)
    dimensions = list(indicator.dimension_codes)
    period = str(now.year - 1)
    unit_note = protect_text(f"unit: {indicator.unit_label}")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["indicator", "period", "value", "status", "source", "note", *dimensions])
    writer.writerow([indicator.code, period, "", "draft", "", unit_note, *["" for _ in dimensions]])
    for position, dim_code in enumerate(dimensions):
        for breakdown_code in view.dimensions[dim_code].codes:
            if breakdown_code == "_T":
                continue
            cells = ["" for _ in dimensions]
            cells[position] = breakdown_code
            writer.writerow([indicator.code, period, "", "draft", "", unit_note, *cells])
    return f"import-template-{indicator.code}.csv", out.getvalue()


# --- evidence attachments ----------------------------------------------------------------------

ATTACHMENT_FOLDER = "attachments"
MAX_ATTACHMENTS = 5
# The kinds of file evidence may carry, recognised by their first bytes: what the client's
# Content-Type or file name says is chosen by the client and proves nothing.
MAGIC_TYPES = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
)
TEXT_TYPE = "text/plain"
EVIDENCE_KINDS = ("cso_report", "community_report", "survey", "testimony", "media", "other")
_FILENAME_UNSAFE = re.compile(r"[^\w.\- ()]+")


def sniff_media_type(content: bytes) -> str | None:
    """The media type of ``content`` judged from its bytes, or None when it is not allowed.

    PDF, PNG and JPEG by their signatures; plain text when the whole file is UTF-8 without
    control characters other than tab and line breaks (CSV and TXT notes). Anything else (HTML,
    scripts, office files, executables) is refused.
    """
    for magic, media_type in MAGIC_TYPES:
        if content.startswith(magic):
            return media_type
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not text or any(
        unicodedata.category(char) == "Cc" and char not in "\t\r\n" for char in text
    ):
        return None
    if text.lstrip()[:1] == "<":
        # Markup served as text/plain is harmless with nosniff, but nobody needs to attach it.
        return None
    return TEXT_TYPE


def clean_filename(name: str) -> str:
    """A file name fit to show and to offer on download: the last path part, safe characters,
    at most 120 characters; never used to choose where the file is stored."""
    base = re.split(r"[\\/]", name)[-1]
    base = unicodedata.normalize("NFKC", base)
    base = _FILENAME_UNSAFE.sub("_", base).strip(" ._") or "attachment"
    return base[-120:]


@dataclass(frozen=True)
class Upload:
    """A file as a page received it: the client's name (shown only) and its bytes."""

    filename: str
    content: bytes


def attachment_dir(config: NodeConfig) -> Path:
    """Where attachments are kept: a folder of the node's data directory."""
    return config.data_dir / ATTACHMENT_FOLDER


def add_evidence(
    session: Session,
    config: NodeConfig,
    data: dict[str, Any],
    uploads: list[Upload],
    *,
    user: User | None,
    now: datetime,
) -> Evidence:
    """Record evidence with its attachments, every file checked before anything is stored.

    Each file must be at most ``max_attachment_bytes`` and of an allowed kind by its content;
    otherwise nothing is written (neither the evidence nor any file). Files are written under
    a random name in the data directory.
    """
    require(user, "evidence.write")
    errors: dict[str, list[str]] = {}
    if data.get("kind") not in EVIDENCE_KINDS:
        errors["kind"] = [Problem(f"one of {', '.join(EVIDENCE_KINDS)}", variant="evidence_kind")]
    try:
        data["period"] = str(parse_period((data.get("period") or "").strip()))
    except PeriodError as exc:
        errors["period"] = [period_problem(exc)]
    limit = int(config.max_attachment_bytes)
    checked: list[tuple[Upload, str]] = []
    uploads = [u for u in uploads if u.content or u.filename]
    if len(uploads) > MAX_ATTACHMENTS:
        errors["attachments"] = [
            Problem(
                f"at most {MAX_ATTACHMENTS} files",
                params={"max": MAX_ATTACHMENTS},
                variant="too_many_files",
            )
        ]
    for upload in uploads[:MAX_ATTACHMENTS]:
        name = clean_filename(upload.filename)
        if len(upload.content) > limit:
            errors.setdefault("attachments", []).append(
                Problem(
                    f"{name}: larger than {limit} bytes",
                    params={"name": name, "bytes": limit},
                    variant="file_too_large",
                )
            )
            continue
        media_type = sniff_media_type(upload.content)
        if media_type is None:
            errors.setdefault("attachments", []).append(
                Problem(
                    f"{name}: not a PDF, PNG, JPEG or plain-text file",
                    params={"name": name},
                    variant="file_kind",
                )
            )
            continue
        checked.append((upload, media_type))
    if errors:
        raise InvalidInputError("The evidence is not valid.", errors=errors)
    row = monitoring.add_evidence(session, data, user=user, now=now)
    folder = attachment_dir(config)
    folder.mkdir(mode=0o700, exist_ok=True)
    for upload, media_type in checked:
        stored_name = secrets.token_hex(16)
        (folder / stored_name).write_bytes(upload.content)
        session.add(
            EvidenceAttachment(
                evidence_id=row.id,
                stored_name=stored_name,
                filename=clean_filename(upload.filename),
                media_type=media_type,
                size=len(upload.content),
                sha256=hashlib.sha256(upload.content).hexdigest(),
                created_at=now,
            )
        )
    session.flush()
    return row


def attachments_of(
    session: Session, evidence_ids: list[int]
) -> dict[int, list[EvidenceAttachment]]:
    """The attachments of each evidence id (ids without any are left out)."""
    out: dict[int, list[EvidenceAttachment]] = {}
    if not evidence_ids:
        return out
    for row in session.scalars(
        select(EvidenceAttachment)
        .where(EvidenceAttachment.evidence_id.in_(evidence_ids))
        .order_by(EvidenceAttachment.id)
    ):
        out.setdefault(row.evidence_id, []).append(row)
    return out


def attachment_for_download(
    session: Session, config: NodeConfig, attachment_id: int, *, user: Actor | None
) -> tuple[EvidenceAttachment, Path]:
    """The attachment and its file, if ``user`` may read it; 404 otherwise.

    Attachments of published evidence are public like the evidence; those of evidence not yet
    published only for people who may see unpublished work. A refusal looks like a missing
    file, so a stranger learns nothing about evidence under review.
    """
    row = session.get(EvidenceAttachment, attachment_id) if 0 < attachment_id < 2**31 else None
    evidence = session.get(Evidence, row.evidence_id) if row is not None else None
    visible = evidence is not None and (
        evidence.status == "published"
        or allowed(user, "evidence.write")
        or allowed(user, "results.read_unpublished")
    )
    if row is None or not visible:
        raise NotFoundError("There is no such attachment.", code="attachment_not_found")
    path = attachment_dir(config) / row.stored_name
    if not path.is_file():
        raise NotFoundError("The attachment's file is missing.", code="attachment_not_found")
    return row, path
