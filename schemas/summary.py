"""``hrc.summary/1``: a city's signed summary of its validated results for one period.

Aggregates only, never personal data; small cells are suppressed before signing. Values are
decimal strings (or booleans for yes/no indicators), never JSON numbers.
"""

from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from schemas.fields import CityId, Code, PeriodString, parse_decimal

SUMMARY_TYPE = "hrc.summary"
SUMMARY_SCHEMA = "hrc.summary/1"
SUMMARY_STREAM = "summaries"


class FigureValue(fields.Field):
    """A decimal string or a boolean, kept as given (the signature covers the exact text)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, bool):
            return value
        if not isinstance(value, str):
            raise ValidationError("a decimal string or a boolean")
        try:
            parse_decimal(value)
        except ValueError as exc:
            raise ValidationError(str(exc)) from exc
        return value


class CitySchema(Schema):
    class Meta:
        unknown = EXCLUDE

    city_id = CityId(required=True)
    name = fields.String(required=True, validate=validate.Length(1, 200))
    country = fields.String(required=True, validate=validate.Regexp(r"^[A-Z]{2}$"))
    region = fields.String(required=True, validate=validate.Length(1, 100))


class SummaryPointSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    period = PeriodString(required=True)
    value = FigureValue(required=True)


class SummaryFigureSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    disaggregation = fields.Dict(
        keys=Code(), values=Code(), required=True, validate=validate.Length(max=20)
    )
    value = FigureValue(required=True)
    status = fields.String(validate=validate.OneOf(("validated", "published")))


class SummaryIndicatorSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    code = Code(required=True)
    name = fields.String(required=True, validate=validate.Length(1, 500))
    right = fields.String(required=True, validate=validate.Length(1, 300))
    type = fields.String(
        required=True, validate=validate.OneOf(("structural", "process", "outcome"))
    )
    value_type = fields.String(
        required=True, validate=validate.OneOf(("number", "boolean", "ordinal"))
    )
    unit = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    direction = fields.String(
        required=True, validate=validate.OneOf(("good_up", "good_down", "context"))
    )
    core = fields.Boolean(required=True)
    maps_to = Code(allow_none=True, load_default=None)
    results = fields.List(
        fields.Nested(SummaryFigureSchema), required=True, validate=validate.Length(max=5000)
    )
    baseline = fields.Nested(SummaryPointSchema, allow_none=True, load_default=None)
    target = fields.Nested(SummaryPointSchema, allow_none=True, load_default=None)


class SummaryPayloadSchema(Schema):
    """Payload of an ``hrc.summary`` envelope (unknown members tolerated: newer versions)."""

    class Meta:
        unknown = EXCLUDE

    city = fields.Nested(CitySchema, required=True)
    period = PeriodString(required=True)
    revision = fields.Integer(required=True, strict=True, validate=validate.Range(1, 1_000_000))
    supersedes = fields.String(
        allow_none=True, load_default=None, validate=validate.Regexp(r"^[0-9a-f]{64}$")
    )
    catalogue_version = fields.String(allow_none=True, load_default=None)
    themes = fields.List(fields.String(), allow_none=True, load_default=None)
    suppressed_cells = fields.Integer(
        strict=True, load_default=0, validate=validate.Range(0, 10_000_000)
    )
    small_cell_threshold = fields.Integer(strict=True, load_default=0)
    indicators = fields.List(
        fields.Nested(SummaryIndicatorSchema), required=True, validate=validate.Length(max=2000)
    )
    # Where the figures come from; "sample" = generated sample data, not a city's real figures
    # (the demo's cities). Optional: summaries without it (all before it existed) stay valid.
    source = fields.String(allow_none=True, load_default=None, validate=validate.Length(1, 100))
