"""Import and export of results, and catalogue additions from a file.

Parsing and rendering are pure (``node.importing``, ``node.exporting``); this module adds the
database: it builds the catalogue view, checks every row with the same rules as the API
(:func:`node.services.results.prepare_results`) and writes all rows or none.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter
from typing import Any

from marshmallow import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from node import disaggregation as disagg
from node.config import NodeConfig
from node.errors import InvalidInputError
from node.exporting import sdmx, tabular
from node.importing import ProfileError, TableError, parse_open_sdg, parse_own_layout, read_table
from node.models import LatestResult, Result
from node.permissions import Actor, allowed, require
from node.services import catalogue, results
from schemas.catalogue import DimensionCodeSchema, DimensionSchema, IndicatorSchema
from schemas.periods import parse_period

LAYOUTS = ("own", "open-sdg")
EXPORT_FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "sdmx-json": "application/vnd.sdmx.data+json; version=2.1.0",
}
MAX_REPORTED_ERRORS = 500


@dataclass
class ImportReport:
    """What an import did: ``imported`` figures written, of which ``new``, ``changed`` (value or
    status) and ``unchanged``; ``affected_summaries``: signed summaries that carried a changed
    validated or published figure (the next publication of their period corrects them)."""

    imported: int
    skipped: int
    rows: int
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    affected_summaries: list[dict[str, Any]] = field(default_factory=list)


def _row_errors_from_items(
    errors: dict[int, dict[str, list[str]]], row_numbers: list[int]
) -> list[dict[str, Any]]:
    out = []
    for index, columns in sorted(errors.items()):
        for column, messages in columns.items():
            out.append(
                {
                    "row": row_numbers[index],
                    "column": column,
                    # One message stays itself (a coded Problem a page translates; the same text
                    # in JSON), several are joined.
                    "message": messages[0] if len(messages) == 1 else "; ".join(map(str, messages)),
                    # The rule's code (value_out_of_range, reason_required, outlier_unconfirmed…)
                    "code": getattr(messages[0], "code", "validation_failed")
                    if messages
                    else "validation_failed",
                }
            )
    return out


def import_file(
    session: Session,
    filename: str,
    data: bytes,
    *,
    layout: str = "own",
    profile: dict[str, Any] | None = None,
    indicator: str | None = None,
    user: Actor | None,
    now: datetime,
    reason: str | None = None,
    confirm_outliers: bool = False,
) -> ImportReport:
    """Import a CSV or XLSX file; any bad row → 422 with every row error, nothing written.

    Rows are checked as the API checks figures, then against the stored ones: changing a
    validated or published figure needs ``reason`` (422 ``reason_required`` lists the rows), a
    value far from the previous period's needs ``confirm_outliers`` (422
    ``outlier_unconfirmed`` lists the rows). Every row error carries its rule's ``code``.
    """
    require(user, "results.write")
    if layout not in LAYOUTS:
        raise InvalidInputError(
            f"Unknown layout '{layout}'; use one of {', '.join(LAYOUTS)}.",
            errors={"layout": [f"one of {', '.join(LAYOUTS)}"]},
        )
    try:
        table = read_table(filename, data)
    except TableError as exc:
        raise InvalidInputError(
            f"The file cannot be read: {exc}",
            code="unreadable_file",
            errors=[{"row": None, "column": None, "message": str(exc)}],
        ) from exc
    view = catalogue.view(session)
    if layout == "own":
        outcome = parse_own_layout(table, view)
    else:
        if profile is None and indicator is None:
            raise InvalidInputError(
                "An Open SDG file needs an import profile or an indicator code.",
                errors={"profile": ["give a profile or an indicator"]},
            )
        try:
            outcome = parse_open_sdg(table, profile, view, indicator=indicator)
        except ProfileError as exc:
            raise InvalidInputError(
                f"The import profile is not valid: {exc.message}",
                code="invalid_profile",
                errors=[
                    {"row": None, "column": "profile", "message": e}
                    for e in exc.errors or [exc.message]
                ],
            ) from exc
    row_errors = [
        {"row": e.row, "column": e.column, "message": e.message, "code": "unreadable_cell"}
        for e in outcome.errors
    ]
    may_validate = allowed(user, "results.validate")
    items = [parsed.item for parsed in outcome.rows]
    prepared, item_errors = results.prepare_results(items, view, may_validate=may_validate)
    row_errors += _row_errors_from_items(item_errors, [p.row for p in outcome.rows])
    if row_errors:
        row_errors.sort(key=lambda e: (e["row"] or 0, e["column"] or ""))
        raise InvalidInputError(
            f"{len(row_errors)} problems in {filename}; nothing was imported.",
            code="import_rejected",
            errors=row_errors[:MAX_REPORTED_ERRORS],
            extra={
                "error_count": len(row_errors),
                "error_codes": sorted({e["code"] for e in row_errors}),
            },
        )
    reason = (reason or "").strip()[: results.MAX_REASON] or None
    plan, problems = results.plan_changes(
        session,
        prepared,
        view,
        may_validate=may_validate,
        reason=reason,
        confirm_outliers=confirm_outliers,
    )
    if problems:
        row_errors = _row_errors_from_items(problems, [p.row for p in outcome.rows])
        codes = sorted({e["code"] for e in row_errors})
        raise InvalidInputError(
            _plan_detail(plan, problems, filename),
            code=codes[0] if len(codes) == 1 else "import_rejected",
            errors=row_errors[:MAX_REPORTED_ERRORS],
            extra={
                "error_count": len(row_errors),
                "error_codes": codes,
                "new": plan.count("new"),
                "changed": plan.count("changed"),
                "unchanged": plan.count("unchanged"),
            },
        )
    results.import_results(session, plan, user=user, now=now)
    return ImportReport(
        imported=len(prepared),
        skipped=len(outcome.skipped),
        rows=len(outcome.rows) + len(outcome.skipped),
        new=plan.count("new"),
        changed=plan.count("changed"),
        unchanged=plan.count("unchanged"),
        affected_summaries=plan.affected_summaries(),
    )


def _plan_detail(
    plan: results.ChangePlan, problems: dict[int, dict[str, list[str]]], filename: str
) -> str:
    """What the file would do and what stops it, in one sentence a person can act on."""
    needs_reason = sum(1 for p in problems.values() if "reason" in p)
    outliers = sum(1 for p in problems.values() if "value" in p)
    parts = [
        f"{filename}: {plan.count('new')} new, {plan.count('changed')} changed, "
        f"{plan.count('unchanged')} unchanged; nothing was imported."
    ]
    if needs_reason:
        parts.append(f"{needs_reason} changed figures are validated or published: give a reason.")
    if outliers:
        parts.append(
            f"{outliers} values are far from the previous period: check them, then confirm."
        )
    return " ".join(parts)


def export(
    session: Session,
    fmt: str,
    *,
    config: NodeConfig,
    indicator: str | None = None,
    period: str | None = None,
    now: datetime,
) -> tuple[str, Iterator[str]]:
    """Published results as (media type, text chunks) in ``csv``, ``json`` or ``sdmx-json``.

    The format and indicator are checked at once (a bad one raises before anything is sent);
    the text is produced lazily, one indicator's figures at a time, read with Core (no ORM
    object per figure), so memory stays bounded whatever the number of results. The chunks
    join to exactly the text the in-memory writers (``to_csv``, ``json.dumps(to_json(...))``,
    ``json.dumps(to_sdmx_json(...))``) give for the same figures (property-tested).
    """
    if fmt not in EXPORT_FORMATS:
        raise InvalidInputError(
            f"Unknown format '{fmt}'.", errors={"format": [f"one of {', '.join(EXPORT_FORMATS)}"]}
        )
    if indicator:
        catalogue.get_indicator(session, indicator)
    period_text = str(parse_period(period)) if period else None
    view = catalogue.view(session)
    node_info = {"city_id": config.city_id, "name": config.name}
    stored = _published_rows(session, indicator, period_text)
    conditions = _published_filter(indicator, period_text)
    connection = session.connection()
    if fmt == "csv":
        keys = connection.scalars(select(Result.disaggregation_key).where(*conditions).distinct())
        dimensions = {dim for key in keys for dim in disagg.parse_key(key)}
        texts = {
            column.key
            for column in (Result.source, Result.method, Result.note)
            if connection.scalar(
                select(Result.id).where(*conditions, column.is_not(None), column != "").limit(1)
            )
            is not None
        }
        csv_text = tabular.iter_csv_stored(stored, view, columns=(dimensions, texts))
        return EXPORT_FORMATS[fmt], csv_text
    if fmt == "json":
        count = _published_count(session, indicator, period_text)
        return EXPORT_FORMATS[fmt], tabular.iter_json_stored(stored, count, view, node_info, now)
    codes = sorted(connection.scalars(select(Result.indicator_code).where(*conditions).distinct()))
    summary = sdmx.Summary(
        indicators=codes,
        periods=list(connection.scalars(select(Result.period).where(*conditions).distinct())),
        breakdowns=[
            disagg.parse_key(key)
            for key in connection.scalars(
                select(Result.disaggregation_key).where(*conditions).distinct()
            )
        ],
        # Only published figures are exported: one status, if there is any figure at all.
        statuses=["published"] if codes else [],
    )
    message = sdmx.iter_sdmx_json_stored(stored, view, node_info, now, summary=summary)
    return EXPORT_FORMATS[fmt], message


def _published_filter(indicator: str | None, period: str | None) -> list[Any]:
    conditions: list[Any] = [Result.status == "published"]
    if indicator:
        conditions.append(Result.indicator_code == indicator)
    if period:
        conditions.append(Result.period == period)
    return conditions


def _published_count(session: Session, indicator: str | None, period: str | None) -> int:
    query = select(func.count()).select_from(Result).where(*_published_filter(indicator, period))
    return int(session.execute(query).scalar_one())


def _published_rows(
    session: Session,
    indicator: str | None,
    period: str | None,
    *,
    sort_in_database: bool = True,
) -> tabular.StoredBatches:
    """A re-startable source of published figures: (indicator code, stored rows) per indicator,
    in export order, with no dict, Decimal or ORM object per figure.

    Indicators come in code order; each one's rows (:data:`node.exporting.tabular.StoredRow`)
    come in (period end, period start, disaggregation key compared by code point) order, the
    order :func:`node.exporting.tabular.sorted_results` defines: sorted by SQLite or
    PostgreSQL with a byte-order collation, or in Python (``sort_in_database=False``, and on
    any other database), never by a database's language-aware collation. The stored key and
    dates are those of the figure's breakdown and period (written together by
    node.services.results), so nothing is parsed per row.
    """
    columns = (
        Result.period,
        Result.value_text,
        Result.status,
        Result.disaggregation_key,
        Result.source,
        Result.method,
        Result.note,
    )

    def batches() -> Iterator[tuple[str, Sequence[tabular.StoredRow]]]:
        connection = session.connection()
        # The database sorts, by dates (chronological everywhere) and the key compared by code
        # point, as Python compares strings: SQLite's BINARY collation compares UTF-8 bytes
        # and PostgreSQL's "C" collation too, and UTF-8 byte order is code point order. A
        # language-aware collation (PostgreSQL's default "en_US.UTF-8" and the like) puts
        # "SEX=a" before "SEX=B", code point order after it: so the collation is named.
        collation = _BYTE_ORDER.get(connection.dialect.name) if sort_in_database else None
        for code in _exported_indicators(session, indicator):
            query = select(*columns).where(*_published_filter(code, period))
            if collation is not None:
                query = query.order_by(
                    Result.period_end,
                    Result.period_start,
                    Result.disaggregation_key.collate(collation),
                )
                yield code, connection.execute(query).all()
            else:  # another database: sort here, by the same key
                query = query.add_columns(Result.period_end, Result.period_start)
                rows = sorted(connection.execute(query).all(), key=itemgetter(7, 8, 3))
                yield code, [row[:7] for row in rows]

    return batches


# The collation that compares text by code point, per database (see _published_rows).
_BYTE_ORDER = {"sqlite": "BINARY", "postgresql": "C"}


def _exported_indicators(session: Session, indicator: str | None) -> list[str]:
    """The indicators an export writes, in code order (one given, or all with a published
    figure: every such indicator has a row in the latest table)."""
    if indicator:
        return [indicator]
    return sorted(
        session.scalars(
            select(LatestResult.indicator_code).where(LatestResult.scope == "published").distinct()
        )
    )


def apply_catalogue_additions(session: Session, document: Any, *, now: datetime) -> str:
    """Add local dimensions, codes and indicators from one JSON document, all or nothing.

    Shape: ``{"dimensions": [...], "dimension_codes": {DIM: [{code, label}]},
    "indicators": [...]}``.
    Entries that already exist unchanged are skipped, so the same file can be applied twice.
    """
    if not isinstance(document, dict):
        raise InvalidInputError(
            "Expected a JSON object with dimensions, dimension_codes, indicators."
        )
    unknown = set(document) - {"dimensions", "dimension_codes", "indicators", "description"}
    if unknown:
        raise InvalidInputError(f"Unknown keys: {', '.join(sorted(unknown))}.")
    counts = {"dimensions": 0, "codes": 0, "indicators": 0}
    try:
        for raw in document.get("dimensions", []):
            data = DimensionSchema().load(raw)
            existing = {d.code for d in catalogue.list_dimensions(session)}
            if data["code"] not in existing:
                catalogue.add_dimension(session, data)
                counts["dimensions"] += 1
        for dim_code, raw_codes in (document.get("dimension_codes") or {}).items():
            codes = DimensionCodeSchema(many=True).load(raw_codes)
            known = view_codes = catalogue.view(session).dimensions.get(dim_code)
            present = set(view_codes.codes) if known else set()
            new = [c for c in codes if c["code"] not in present]
            if new:
                catalogue.add_dimension_codes(session, dim_code, new)
                counts["codes"] += len(new)
        for raw in document.get("indicators", []):
            data = IndicatorSchema().load(raw)
            if catalogue.view(session).indicators.get(data["code"]) is None:
                catalogue.add_local_indicator(session, data, now=now)
                counts["indicators"] += 1
    except ValidationError as exc:
        raise InvalidInputError(
            "The catalogue additions are not valid.", errors=exc.normalized_messages()
        ) from exc
    return (
        f"Added {counts['dimensions']} dimensions, {counts['codes']} codes and "
        f"{counts['indicators']} local indicators."
    )
