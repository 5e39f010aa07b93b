"""Import and export of results, and catalogue additions from a file.

Parsing and rendering are pure (``node.importing``, ``node.exporting``); this module adds the
database: it builds the catalogue view, checks every row with the same rules as the API
(:func:`node.services.results.prepare_results`) and writes all rows or none.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from marshmallow import ValidationError
from sqlalchemy.orm import Session

from node.config import NodeConfig
from node.errors import InvalidInputError
from node.exporting import sdmx, tabular
from node.importing import ProfileError, TableError, parse_open_sdg, parse_own_layout, read_table
from node.permissions import Actor, allowed, require
from node.services import catalogue, results
from schemas.catalogue import DimensionCodeSchema, DimensionSchema, IndicatorSchema

LAYOUTS = ("own", "open-sdg")
EXPORT_FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "sdmx-json": "application/vnd.sdmx.data+json; version=2.1.0",
}
MAX_REPORTED_ERRORS = 500


@dataclass
class ImportReport:
    imported: int
    skipped: int
    rows: int


def _row_errors_from_items(
    errors: dict[int, dict[str, list[str]]], row_numbers: list[int]
) -> list[dict[str, Any]]:
    out = []
    for index, fields in sorted(errors.items()):
        for field, messages in fields.items():
            out.append(
                {
                    "row": row_numbers[index],
                    "column": field,
                    "message": "; ".join(map(str, messages)),
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
) -> ImportReport:
    """Import a CSV or XLSX file; any bad row → 422 with every row error, nothing written."""
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
    row_errors = [{"row": e.row, "column": e.column, "message": e.message} for e in outcome.errors]
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
            extra={"error_count": len(row_errors)},
        )
    results.store_results(session, prepared, user=user, now=now, may_validate=may_validate)
    return ImportReport(
        imported=len(prepared),
        skipped=len(outcome.skipped),
        rows=len(outcome.rows) + len(outcome.skipped),
    )


def export(
    session: Session,
    fmt: str,
    *,
    config: NodeConfig,
    indicator: str | None = None,
    period: str | None = None,
    now: datetime,
) -> tuple[str, str]:
    """Published results as (media type, text) in ``csv``, ``json`` or ``sdmx-json``."""
    if fmt not in EXPORT_FORMATS:
        raise InvalidInputError(
            f"Unknown format '{fmt}'.", errors={"format": [f"one of {', '.join(EXPORT_FORMATS)}"]}
        )
    if indicator:
        catalogue.get_indicator(session, indicator)
    rows, _total = results.list_results(
        session, indicator=indicator, period=period, published_only=True, limit=10_000_000
    )
    records = [results.result_to_wire(r) for r in rows]
    view = catalogue.view(session)
    node_info = {"city_id": config.city_id, "name": config.name}
    if fmt == "csv":
        return EXPORT_FORMATS[fmt], tabular.to_csv(records, view)
    if fmt == "json":
        return EXPORT_FORMATS[fmt], json.dumps(
            tabular.to_json(records, view, node_info, now), ensure_ascii=False
        )
    return EXPORT_FORMATS[fmt], json.dumps(
        sdmx.to_sdmx_json(records, view, node_info, now), ensure_ascii=False
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
