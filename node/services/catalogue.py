"""The indicator catalogue: load the network's core catalogue, add local indicators and codes."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from marshmallow import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from node.catalogue_view import CatalogueView, DimensionInfo, IndicatorInfo
from node.errors import ConflictError, InvalidInputError, NotFoundError
from node.models import Dimension, DimensionCode, Indicator, IndicatorDimension
from schemas.catalogue import CatalogueFileSchema, DimensionSchema
from schemas.fields import format_decimal

_EXTRA_FIELDS = ("numerator", "denominator")


@dataclass
class CatalogueLoadReport:
    version: str
    dimensions: int
    indicators_added: int
    indicators_updated: int
    indicators_retired: list[str]


def _upsert_dimension(
    session: Session,
    code: str,
    label: str,
    ground: str | None,
    codes: Iterable[tuple[str, str]],
    *,
    core: bool,
) -> Dimension:
    dimension = session.get(Dimension, code)
    if dimension is None:
        dimension = Dimension(code=code, label=label, ground=ground, core=core)
        session.add(dimension)
    else:
        dimension.label, dimension.ground = label, ground
    existing = {c.code: c for c in dimension.codes}
    for position, (value, value_label) in enumerate(codes):
        if value in existing:
            existing[value].label = value_label
            existing[value].position = position
        else:
            dimension.codes.append(
                DimensionCode(code=value, label=value_label, position=position, core=core)
            )
    return dimension


def _apply_indicator_fields(indicator: Indicator, data: dict[str, Any]) -> None:
    indicator.name = data["name"]
    indicator.definition = data.get("definition")
    indicator.translations = data.get("translations") or {}
    indicator.right = data["right"]
    indicator.attribute = data.get("attribute")
    indicator.type = data["type"]
    indicator.value_type = data["value_type"]
    indicator.unit_code = data["unit"]["code"]
    indicator.unit_label = data["unit"]["label"]
    indicator.direction = data["direction"]
    indicator.periodicity = data.get("periodicity")
    indicator.method = data.get("method")
    indicator.source_type = list(data.get("source_type") or [])
    indicator.sdg = list(data.get("sdg") or [])
    indicator.notes = data.get("notes")
    indicator.maps_to = data.get("maps_to")
    extra = {key: data[key] for key in _EXTRA_FIELDS if data.get(key) is not None}
    if data.get("reference_target") is not None:
        extra["reference_target"] = format_decimal(data["reference_target"])
    indicator.extra = extra
    indicator.dimensions = [
        IndicatorDimension(dimension_code=dim, position=position)
        for position, dim in enumerate(data["disaggregations"])
    ]


def load_catalogue(
    session: Session, document: dict[str, Any], *, now: datetime
) -> CatalogueLoadReport:
    """Load (or update to) a core catalogue document in the seed catalogue's format.

    Core indicators are upserted; local indicators and local codes are never touched. The
    document is the whole core catalogue of its version: a core indicator it no longer lists
    is *retired* (:func:`retire_indicator`), and a retired one it lists again is core again.
    """
    try:
        data = CatalogueFileSchema().load(document)
    except ValidationError as exc:
        raise InvalidInputError(
            "The catalogue file does not have the expected shape.", errors=exc.normalized_messages()
        ) from exc
    for code, spec in data["disaggregation_dimensions"].items():
        codes = spec.get("codes") or {}
        if not isinstance(codes, dict) or not isinstance(spec.get("label"), str):
            raise InvalidInputError(f"Dimension {code} needs a label and a code list.")
        _upsert_dimension(
            session,
            code,
            spec["label"],
            spec.get("ground"),
            [(str(k), str(v)) for k, v in codes.items()],
            core=True,
        )
    session.flush()
    added = updated = 0
    for entry in data["indicators"]:
        unknown = [
            d for d in entry["disaggregations"] if d not in data["disaggregation_dimensions"]
        ]
        if unknown:
            raise InvalidInputError(
                f"Indicator {entry['code']} uses undeclared dimensions {unknown}."
            )
        indicator = session.get(Indicator, entry["code"])
        if indicator is None:
            indicator = Indicator(code=entry["code"], created_at=now)
            session.add(indicator)
            added += 1
        elif not indicator.core and indicator.retired_in is None:
            raise ConflictError(
                f"Local indicator {entry['code']} has the code of a core indicator."
            )
        else:
            updated += 1  # including a retired indicator that a later version takes back
        _apply_indicator_fields(indicator, entry)
        indicator.core, indicator.retired_in = True, None
        indicator.catalogue_version = data["version"]
    listed = {entry["code"] for entry in data["indicators"]}
    retired = [
        retire_indicator(indicator, data["version"])
        for indicator in list_indicators(session, core=True)
        if indicator.code not in listed
    ]
    session.flush()
    return CatalogueLoadReport(
        data["version"], len(data["disaggregation_dimensions"]), added, updated, retired
    )


def retire_indicator(indicator: Indicator, version: str) -> str:
    """A core indicator that catalogue ``version`` dropped becomes the city's own.

    What users expect of "the network no longer asks for this": nothing they recorded is
    lost (results, targets, evidence and budget links stay; it can still be recorded and
    shown), but it stops being core, so it is no longer sent for the network's benchmarks
    nor compared as core. Its ``catalogue_version`` keeps the last version it was core in,
    ``retired_in`` says which version dropped it; a later version listing it again makes it
    core again. Returns its code.
    """
    indicator.core, indicator.retired_in = False, version
    return indicator.code


def get_indicator(session: Session, code: str) -> Indicator:
    indicator = session.get(Indicator, code)
    if indicator is None:
        raise NotFoundError(
            f"There is no indicator with code '{code}'.", code="indicator_not_found"
        )
    return indicator


def list_indicators(
    session: Session,
    *,
    type_: str | None = None,
    core: bool | None = None,
    right: str | None = None,
) -> list[Indicator]:
    query = select(Indicator).order_by(Indicator.core.desc(), Indicator.code)
    if type_:
        query = query.where(Indicator.type == type_)
    if core is not None:
        query = query.where(Indicator.core == core)
    if right:
        query = query.where(Indicator.right == right)
    return list(session.scalars(query))


def add_local_indicator(session: Session, data: dict[str, Any], *, now: datetime) -> Indicator:
    """Add a city's own indicator (``data`` already loaded by ``IndicatorSchema``)."""
    if data.get("core"):
        raise InvalidInputError(
            "Core indicators come from the network catalogue; post local "
            "indicators with core: false.",
            errors={"core": ["must be false"]},
        )
    if session.get(Indicator, data["code"]) is not None:
        raise ConflictError(
            f"An indicator with code '{data['code']}' already exists.", code="indicator_exists"
        )
    errors: dict[str, list[str]] = {}
    missing = [d for d in data["disaggregations"] if session.get(Dimension, d) is None]
    if missing:
        errors["disaggregations"] = [f"unknown dimension {d}" for d in missing]
    if data.get("maps_to"):
        target = session.get(Indicator, data["maps_to"])
        if target is None or not target.core:
            errors["maps_to"] = [f"'{data['maps_to']}' is not a core indicator"]
    if errors:
        raise InvalidInputError(
            "The indicator refers to things the catalogue does not have.", errors=errors
        )
    indicator = Indicator(code=data["code"], created_at=now, core=False)
    _apply_indicator_fields(indicator, data)
    session.add(indicator)
    session.flush()
    return indicator


def add_dimension(session: Session, data: dict[str, Any]) -> Dimension:
    """Add a local dimension with its codes (``data`` loaded by ``DimensionSchema``)."""
    if session.get(Dimension, data["code"]) is not None:
        raise ConflictError(
            f"Dimension '{data['code']}' already exists; add codes to it instead.",
            code="dimension_exists",
        )
    codes = [(c["code"], c["label"]) for c in data.get("codes", [])]
    if len({c for c, _ in codes}) != len(codes):
        raise InvalidInputError("Each code may appear once.", errors={"codes": ["duplicate code"]})
    dimension = _upsert_dimension(
        session, data["code"], data["label"], data.get("ground"), codes, core=False
    )
    session.flush()
    return dimension


def add_dimension_codes(
    session: Session, dimension_code: str, codes: list[dict[str, str]]
) -> Dimension:
    """Add local codes (e.g. the city's districts) to a dimension; existing codes are refused."""
    dimension = session.get(Dimension, dimension_code)
    if dimension is None:
        raise NotFoundError(
            f"There is no dimension '{dimension_code}'.", code="dimension_not_found"
        )
    existing = {c.code for c in dimension.codes}
    clashes = sorted({c["code"] for c in codes} & existing)
    if clashes or len({c["code"] for c in codes}) != len(codes):
        raise ConflictError(
            f"Codes already in {dimension_code}: {', '.join(clashes) or 'repeated'}.",
            code="dimension_code_exists",
        )
    start = len(dimension.codes)
    for offset, code in enumerate(codes):
        dimension.codes.append(
            DimensionCode(
                code=code["code"], label=code["label"], position=start + offset, core=False
            )
        )
    session.flush()
    return dimension


def list_dimensions(session: Session) -> list[Dimension]:
    return list(session.scalars(select(Dimension).order_by(Dimension.core.desc(), Dimension.code)))


def indicator_to_wire(indicator: Indicator) -> dict[str, Any]:
    """The indicator in the catalogue-entry shape of :class:`schemas.catalogue.IndicatorSchema`."""
    data: dict[str, Any] = {
        "code": indicator.code,
        "name": indicator.name,
        "definition": indicator.definition,
        "translations": indicator.translations or {},
        "right": indicator.right,
        "attribute": indicator.attribute,
        "type": indicator.type,
        "value_type": indicator.value_type,
        "unit": {"code": indicator.unit_code, "label": indicator.unit_label},
        "direction": indicator.direction,
        "disaggregations": indicator.dimension_codes,
        "core": indicator.core,
        "periodicity": indicator.periodicity,
        "source_type": indicator.source_type or [],
        "method": indicator.method,
        "sdg": indicator.sdg or [],
        "notes": indicator.notes,
        "maps_to": indicator.maps_to,
        "catalogue_version": indicator.catalogue_version,
        "retired_in": indicator.retired_in,
    }
    extra = indicator.extra or {}
    for key in _EXTRA_FIELDS:
        data[key] = extra.get(key)
    data["reference_target"] = (
        Decimal(extra["reference_target"]) if "reference_target" in extra else None
    )
    return data


def dimension_to_wire(dimension: Dimension) -> dict[str, Any]:
    return {
        "code": dimension.code,
        "label": dimension.label,
        "ground": dimension.ground,
        "core": dimension.core,
        "codes": [{"code": c.code, "label": c.label, "core": c.core} for c in dimension.codes],
    }


def view(session: Session) -> CatalogueView:
    """A pure snapshot of the catalogue for importers, exporters and summary builders."""
    dimensions = {
        d.code: DimensionInfo(d.code, d.label, {c.code: c.label for c in d.codes})
        for d in list_dimensions(session)
    }
    indicators = {
        i.code: IndicatorInfo(
            code=i.code,
            name=i.name,
            type=i.type,
            value_type=i.value_type,
            unit_code=i.unit_code,
            unit_label=i.unit_label,
            direction=i.direction,
            dimensions=tuple(i.dimension_codes),
            right=i.right,
            core=i.core,
            maps_to=i.maps_to,
        )
        for i in list_indicators(session)
    }
    return CatalogueView(indicators, dimensions, current_version(session))


def version_key(version: str) -> tuple[tuple[int, int | str], ...]:
    """Order versions as people read them: ``0.10.0`` comes after ``0.9.0`` (not as text)."""
    return tuple(
        (0, int(part)) if part.isdigit() else (1, part)
        for part in version.replace("-", ".").split(".")
    )


def current_version(session: Session) -> str | None:
    """The newest core catalogue version this node has loaded."""
    versions = {
        v
        for v in session.scalars(
            select(Indicator.catalogue_version).where(Indicator.core).distinct()
        )
        if v
    }
    return max(versions, key=version_key) if versions else None


def validate_dimension(data: Any) -> dict[str, Any]:
    try:
        loaded: dict[str, Any] = DimensionSchema().load(data)
    except ValidationError as exc:
        raise InvalidInputError(
            "The dimension is not valid.", errors=exc.normalized_messages()
        ) from exc
    return loaded
