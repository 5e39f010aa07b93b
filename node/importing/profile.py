"""Import profiles: how the columns and units of an Open SDG file map onto our catalogue.

A profile is a JSON object (so it can be stored, posted and shipped with the demo)::

    {
      "description": "LAPD homicide victims (indicator_16-1-1.csv)",
      "indicator": "LA-16-1-1-HOM",
      "units": {
        "Homicides by victim gender": "LA-16-1-1-HOM",
        "Homicides by victim descent": {"indicator": "LA-16-1-1-HOM", "totals": "import"},
        "Rate per 100,000": null
      },
      "columns": {
        "Victim Gender": {"dimension": "SEX", "codes": {"Female": "F", "Male": "M"}},
        "GeoCode": null
      },
      "columns_by_units": {
        "Homicides by victim descent": {
          "Victim Gender": {"dimension": "DESCENT_RECORDED", "codes": {"Black": "BLACK"}}
        }
      },
      "period_format": "year",
      "status": "validated",
      "source": "LAPD crime data via the City of Los Angeles SDG platform"
    }

- ``indicator``: the indicator of rows whose Units cell is empty or when there is no ``units``.
- ``units``: Units value → indicator code; ``null`` leaves those rows out on purpose (reported
  as skipped); the object form with ``"totals": "skip"`` leaves out that unit's total rows,
  for files that give slightly different totals per breakdown (the total is then taken from
  another unit).
- ``columns``: source column → dimension and value → code (``"_T"`` = total). Values not listed
  are matched to the dimension's codes and labels without regard to case. ``null``: the column
  is not used, and a non-empty cell in it is an error.
- ``columns_by_units``: per Units value, column specs that replace those of ``columns``.
- ``period_format``: ``year`` (the Year column holds 2019) or ``period`` (it holds our period
  grammar: 2019, 2019-H1, 2019-Q3, 2019-07).
- ``status`` (default ``validated``) and ``source`` (provenance) are given to every figure.
"""

from __future__ import annotations

from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from node.catalogue_view import CatalogueView
from node.disaggregation import TOTAL_CODE
from node.refusals import Problem
from schemas.fields import CODE_RE, Code
from schemas.results import RESULT_STATUSES

PERIOD_FORMATS = ("year", "period")
TOTALS_CHOICES = ("import", "skip")


class ProfileError(ValueError):
    """The import profile is malformed or does not fit the catalogue.

    ``message`` is one readable paragraph; ``errors`` the individual problems.
    """

    def __init__(self, message: str, errors: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors or []


class ColumnSpecSchema(Schema):
    """Where a source column goes: a dimension, and source value → code."""

    class Meta:
        unknown = RAISE

    dimension = Code(required=True)
    codes = fields.Dict(
        keys=fields.String(validate=validate.Length(1, 300)), values=Code(), load_default=dict
    )


class UnitsTargetSchema(Schema):
    """The object form of a ``units`` entry: the indicator, and whether to import its totals."""

    class Meta:
        unknown = RAISE

    indicator = Code(required=True)
    totals = fields.String(load_default="import", validate=validate.OneOf(TOTALS_CHOICES))


class UnitsTarget(fields.Field):
    """An indicator code, or ``{"indicator": CODE, "totals": "import" | "skip"}``.

    Loaded as the object form either way, so the parser has one shape to read.
    """

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, str):
            if not CODE_RE.match(value):
                raise ValidationError(f"'{value[:60]}' is not an indicator code.")
            return {"indicator": value, "totals": "import"}
        if isinstance(value, dict):
            return UnitsTargetSchema().load(value)
        raise ValidationError(
            "Give an indicator code, null (to leave these rows out), or "
            '{"indicator": CODE, "totals": "import" or "skip"}.'
        )


def _column_spec() -> fields.Field:
    return fields.Nested(ColumnSpecSchema, allow_none=True)


def _name() -> fields.Field:
    return fields.String(validate=validate.Length(1, 300))


class ImportProfileSchema(Schema):
    """An Open SDG import profile (see the module docstring). Unknown fields are refused."""

    class Meta:
        unknown = RAISE

    description = fields.String(validate=validate.Length(max=2000), allow_none=True)
    indicator = Code(allow_none=True, load_default=None)
    units = fields.Dict(
        keys=_name(), values=UnitsTarget(allow_none=True), allow_none=True, load_default=None
    )
    columns = fields.Dict(keys=_name(), values=_column_spec(), load_default=dict)
    columns_by_units = fields.Dict(
        keys=_name(), values=fields.Dict(keys=_name(), values=_column_spec()), load_default=dict
    )
    period_format = fields.String(load_default="year", validate=validate.OneOf(PERIOD_FORMATS))
    status = fields.String(load_default="validated", validate=validate.OneOf(RESULT_STATUSES))
    source = fields.String(validate=validate.Length(max=500), allow_none=True, load_default=None)

    @validates_schema
    def _units_are_listed(self, data: dict[str, Any], **_: Any) -> None:
        units = data.get("units")
        if units is None:
            return
        unlisted = [name for name in data.get("columns_by_units", {}) if name not in units]
        if unlisted:
            raise ValidationError(
                [f"'{name}' is not one of the units listed under 'units'." for name in unlisted],
                "columns_by_units",
            )


def load_profile(data: Any) -> dict[str, Any]:
    """Validate a profile (JSON-able dict) and fill in defaults; raise :class:`ProfileError`."""
    if not isinstance(data, dict):
        raise ProfileError("The import profile must be a JSON object.")
    try:
        loaded: dict[str, Any] = ImportProfileSchema().load(data)
    except ValidationError as exc:
        # marshmallow's own English words (per field): a page quotes them after its sentence.
        problems: list[str] = [
            Problem(text, params={"detail": text}, variant="profile_malformed")
            for text in _flatten(exc.messages)
        ]
        raise ProfileError(
            "The import profile is not valid: " + "; ".join(problems), problems
        ) from exc
    return loaded


def check_profile(
    profile: dict[str, Any], catalogue: CatalogueView, indicator: str | None = None
) -> None:
    """Check a loaded profile against the catalogue; raise :class:`ProfileError` if it misfits.

    ``indicator`` overrides the profile's default indicator (as in the parser).
    """
    problems: list[str] = []
    default = indicator or profile.get("indicator")
    targets = [("indicator", default)] if default else []
    for name, target in (profile.get("units") or {}).items():
        if target is not None:
            targets.append((f"units '{name}'", target["indicator"]))
    # Each a Problem: the English text the API sends, and what a page needs to word it.
    # ``where`` is the place in the profile (its JSON keys and the file's names): data.
    for where, code in targets:
        if code not in catalogue.indicators:
            problems.append(
                Problem(
                    f"{where}: '{code}' is not an indicator of the catalogue.",
                    params={"where": where, "indicator": code},
                    variant="profile_unknown_indicator",
                )
            )
    if not targets:
        problems.append(
            Problem(
                "The profile names no indicator: give 'indicator', or 'units' that map "
                "the file's Units to indicators.",
                variant="profile_no_indicator",
            )
        )
    specs = [(f"columns '{name}'", spec) for name, spec in profile.get("columns", {}).items()]
    for units, columns in profile.get("columns_by_units", {}).items():
        specs += [(f"columns_by_units '{units}' '{name}'", spec) for name, spec in columns.items()]
    for where, spec in specs:
        if spec is None:
            continue
        dimension = catalogue.dimensions.get(spec["dimension"])
        if dimension is None:
            problems.append(
                Problem(
                    f"{where}: '{spec['dimension']}' is not a dimension of the catalogue.",
                    params={"where": where, "dimension": spec["dimension"]},
                    variant="profile_unknown_dimension",
                )
            )
            continue
        for source_value, code in spec["codes"].items():
            if code != TOTAL_CODE and code not in dimension.codes:
                problems.append(
                    Problem(
                        f"{where}: '{source_value}' is mapped to '{code}', which is not a "
                        f"code of {dimension.code}.",
                        params={
                            "where": where,
                            "source": source_value[:80],
                            "code": code,
                            "dimension": dimension.code,
                        },
                        variant="profile_unknown_code",
                    )
                )
    if problems:
        raise ProfileError(
            "The import profile does not fit the catalogue: " + " ".join(problems), problems
        )


def _flatten(messages: Any, prefix: str = "") -> list[str]:
    """marshmallow's nested message dict as ``"columns.Gender.dimension: Missing data ..."``."""
    if isinstance(messages, dict):
        flat: list[str] = []
        for key, value in messages.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            flat += _flatten(value, path)
        return flat
    if isinstance(messages, list):
        if all(isinstance(message, str) for message in messages):
            return [f"{prefix}: {message}" if prefix else message for message in messages]
        flat = []
        for message in messages:
            flat += _flatten(message, prefix)
        return flat
    return [f"{prefix}: {messages}" if prefix else str(messages)]
