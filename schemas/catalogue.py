"""The indicator catalogue on the wire: indicators, units, disaggregation dimensions.

An indicator is given in the shape of an entry of the network's seed catalogue
(``shared/data/indicator_catalogue.json``), so a city can post a local indicator exactly as the
core ones are written.
"""

from __future__ import annotations

from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from schemas.fields import Code, DecimalString

INDICATOR_TYPES = ("structural", "process", "outcome")
VALUE_TYPES = ("number", "boolean", "ordinal")
DIRECTIONS = ("good_up", "good_down", "context")


class UnitSchema(Schema):
    class Meta:
        unknown = RAISE

    code = Code(required=True)
    label = fields.String(required=True, validate=validate.Length(1, 300))


class TranslationSchema(Schema):
    class Meta:
        unknown = RAISE

    name = fields.String(validate=validate.Length(1, 500))
    definition = fields.String(validate=validate.Length(max=10_000))


class IndicatorSchema(Schema):
    """A catalogue entry (core or local)."""

    class Meta:
        unknown = RAISE
        ordered = True

    code = Code(required=True, metadata={"example": "HRC-HOU-01"})
    name = fields.String(required=True, validate=validate.Length(1, 500))
    definition = fields.String(validate=validate.Length(max=10_000), allow_none=True)
    translations = fields.Dict(
        keys=fields.String(validate=validate.Regexp(r"^[a-z]{2}(-[A-Z]{2})?$")),
        values=fields.Nested(TranslationSchema),
        load_default=dict,
        metadata={"description": "name and definition in other languages, by language tag"},
    )
    right = fields.String(
        required=True,
        validate=validate.Length(1, 300),
        metadata={"description": "the right measured; also the theme"},
    )
    attribute = fields.String(validate=validate.Length(max=300), allow_none=True)
    type = fields.String(required=True, validate=validate.OneOf(INDICATOR_TYPES))
    value_type = fields.String(required=True, validate=validate.OneOf(VALUE_TYPES))
    unit = fields.Nested(UnitSchema, required=True)
    direction = fields.String(required=True, validate=validate.OneOf(DIRECTIONS))
    disaggregations = fields.List(Code(), required=True, validate=validate.Length(max=20))
    core = fields.Boolean(load_default=False)
    periodicity = fields.String(validate=validate.Length(max=100), allow_none=True)
    source_type = fields.List(fields.String(validate=validate.Length(max=300)), load_default=list)
    method = fields.String(validate=validate.Length(max=10_000), allow_none=True)
    sdg = fields.List(
        fields.String(validate=validate.Regexp(r"^\d{1,2}(\.[0-9a-z]{1,2}){0,2}$")),
        load_default=list,
    )
    notes = fields.String(validate=validate.Length(max=10_000), allow_none=True)
    numerator = fields.String(validate=validate.Length(max=1000), allow_none=True)
    denominator = fields.String(validate=validate.Length(max=1000), allow_none=True)
    reference_target = DecimalString(allow_none=True)
    maps_to = Code(allow_none=True, metadata={"description": "core code a local indicator maps to"})
    catalogue_version = fields.String(dump_only=True, allow_none=True)
    retired_in = fields.String(
        dump_only=True,
        allow_none=True,
        metadata={
            "description": "the core catalogue version that dropped this indicator: it is "
            "now local (its results are kept) and no longer compared as core"
        },
    )

    @validates_schema
    def _dimensions_unique(self, data: dict[str, Any], **_: Any) -> None:
        dims = data.get("disaggregations") or []
        if len(set(dims)) != len(dims):
            raise ValidationError("each dimension may appear once", "disaggregations")


class DimensionCodeSchema(Schema):
    class Meta:
        unknown = RAISE

    code = Code(required=True)
    label = fields.String(required=True, validate=validate.Length(1, 300))
    core = fields.Boolean(dump_only=True)


class DimensionSchema(Schema):
    """A disaggregation dimension and its code list."""

    class Meta:
        unknown = RAISE

    code = Code(required=True, metadata={"example": "SEX"})
    label = fields.String(required=True, validate=validate.Length(1, 300))
    ground = fields.String(validate=validate.Length(max=300), allow_none=True)
    core = fields.Boolean(dump_only=True)
    codes = fields.List(
        fields.Nested(DimensionCodeSchema), load_default=list, validate=validate.Length(max=500)
    )


class DimensionCodesAddSchema(Schema):
    """Local codes added to an existing dimension (e.g. the city's districts)."""

    class Meta:
        unknown = RAISE

    codes = fields.List(
        fields.Nested(DimensionCodeSchema), required=True, validate=validate.Length(1, 500)
    )


class CatalogueFileSchema(Schema):
    """The seed catalogue file as published by the network."""

    class Meta:
        unknown = RAISE

    catalogue = fields.String(required=True)
    version = fields.String(required=True)
    status = fields.String()
    framework = fields.Dict()
    units = fields.Dict(keys=fields.String(), values=fields.String())
    disaggregation_dimensions = fields.Dict(keys=Code(), values=fields.Dict(), required=True)
    indicators = fields.List(fields.Nested(IndicatorSchema), required=True)
