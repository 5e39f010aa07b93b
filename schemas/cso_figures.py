"""Civil-society parallel figures on the wire (``/api/v1/cso-figures``)."""

from __future__ import annotations

from typing import Any

from marshmallow import RAISE, Schema, fields, validate

from schemas.fields import Code, PeriodString
from schemas.results import Disaggregation, ResultValue

CSO_STATUSES = ("draft", "published")


class CsoValue(ResultValue):
    """As :class:`ResultValue` on input; on output the stored text as it was stated."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return value if isinstance(value, str) else super()._serialize(value, attr, obj, **kwargs)


class CsoFigureSchema(Schema):
    """One civil-society figure: the CSO's own statement, never the city's official figure.

    ``organisation``, ``method`` and ``source`` are required (checked with the catalogue's
    rules by the service, so every problem is reported at once)."""

    class Meta:
        unknown = RAISE
        ordered = True

    id = fields.Integer(dump_only=True)
    indicator = Code(required=True, metadata={"example": "HRC-HOU-01"})
    period = PeriodString(required=True, metadata={"example": "2025"})
    disaggregation = Disaggregation(load_default=dict)
    value = CsoValue(required=True, metadata={"example": "14.0"})
    organisation = fields.String(
        required=True, validate=validate.Length(max=300), metadata={"example": "Housing Watch"}
    )
    method = fields.String(required=True, validate=validate.Length(max=2_000))
    source = fields.String(required=True, validate=validate.Length(max=1_000))
    note = fields.String(allow_none=True, validate=validate.Length(max=4_000))
    status = fields.String(dump_only=True, validate=validate.OneOf(CSO_STATUSES))
    published_at = fields.String(dump_only=True, allow_none=True)
    statement_sha256 = fields.String(
        dump_only=True,
        allow_none=True,
        metadata={"description": "hash of the signed statement: /public/cso-statements/{hash}"},
    )


class CsoFigureQuerySchema(Schema):
    class Meta:
        unknown = RAISE

    indicator = Code()
    period = PeriodString()


class CsoFigureListSchema(Schema):
    items = fields.List(fields.Nested(CsoFigureSchema))
