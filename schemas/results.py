"""Results, baselines and targets, evidence, budget lines and progress on the wire."""

from __future__ import annotations

from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from schemas.fields import Code, DecimalString, PeriodString, format_decimal, parse_decimal

RESULT_STATUSES = ("draft", "validated", "published")
MAX_REASON = 2_000  # characters of a change's reason
MAX_ID = 2**31 - 1  # row ids are INTEGER (32-bit) on PostgreSQL
EVIDENCE_KINDS = ("cso_report", "community_report", "survey", "complaint_data", "media", "other")


class ResultValue(fields.Field):
    """A decimal string (numbers and ordinal scores) or ``true``/``false`` (boolean indicators).

    Which of the two an indicator takes is checked by the service that knows the indicator.
    """

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        if value is None or isinstance(value, bool):
            return value
        return format_decimal(value)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        try:
            return parse_decimal(value)
        except ValueError as exc:
            raise ValidationError(str(exc)) from exc


class Disaggregation(fields.Dict):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            keys=Code(),
            values=Code(),
            validate=validate.Length(max=20),
            metadata={"description": "dimension → code; empty = total", "example": {"SEX": "F"}},
            **kwargs,
        )


class ResultSchema(Schema):
    """One figure. The same field names are used to post and to read."""

    class Meta:
        unknown = RAISE
        ordered = True

    id = fields.Integer(dump_only=True)
    indicator = Code(required=True, metadata={"example": "HRC-HOU-01"})
    period = PeriodString(required=True, metadata={"example": "2025"})
    value = ResultValue(
        required=True,
        metadata={
            "description": "decimal string, or true/false for boolean indicators",
            "example": "12.5",
            "oneOf": [{"type": "string"}, {"type": "boolean"}],
        },
    )
    disaggregation = Disaggregation(load_default=dict)
    status = fields.String(load_default="draft", validate=validate.OneOf(RESULT_STATUSES))
    cases = fields.Integer(
        allow_none=True,
        validate=validate.Range(0, 2**53 - 1),
        metadata={
            "description": "number of people or cases behind the figure, when known; "
            "cells under the node's threshold are never shared"
        },
    )
    source = fields.String(validate=validate.Length(max=500), allow_none=True)
    method = fields.String(validate=validate.Length(max=500), allow_none=True)
    note = fields.String(validate=validate.Length(max=10_000), allow_none=True)
    reason = fields.String(
        load_only=True,
        allow_none=True,
        validate=validate.Length(max=MAX_REASON),
        metadata={
            "description": "why a validated or published figure changes (required then: "
            "422 reason_required); kept in the figure's history"
        },
    )
    confirm_outlier = fields.Boolean(
        load_only=True,
        load_default=False,
        metadata={
            "description": "true to keep a value far from the previous period's "
            "(otherwise 422 outlier_unconfirmed)"
        },
    )
    entered_by = fields.String(dump_only=True, allow_none=True)
    entered_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class ResultQuerySchema(Schema):
    class Meta:
        unknown = RAISE

    indicator = Code()
    period = PeriodString()
    status = fields.String(validate=validate.OneOf(RESULT_STATUSES))
    limit = fields.Integer(load_default=1000, validate=validate.Range(1, 10_000))
    offset = fields.Integer(load_default=0, validate=validate.Range(0, 10_000_000))


class ResultPageSchema(Schema):
    items = fields.List(fields.Nested(ResultSchema))
    total = fields.Integer()


class ResultStatusChangeSchema(Schema):
    """Move several results to a new status (validate or publish a period at once)."""

    class Meta:
        unknown = RAISE

    status = fields.String(required=True, validate=validate.OneOf(RESULT_STATUSES))
    indicator = Code()
    period = PeriodString()
    ids = fields.List(
        fields.Integer(validate=validate.Range(1, MAX_ID)), validate=validate.Length(max=100_000)
    )
    reason = fields.String(
        allow_none=True,
        validate=validate.Length(max=MAX_REASON),
        metadata={"description": "required to take validated or published figures back"},
    )


class StatusChangedSchema(Schema):
    changed = fields.Integer()


class AffectedSummarySchema(Schema):
    """One of our signed summaries that carried a figure when it changed."""

    period = fields.String()
    revision = fields.Integer(allow_none=True)
    sha256 = fields.String(metadata={"description": "the signed envelope's SHA-256 (hex)"})
    audience = fields.List(fields.String())


class ResultChangeSchema(Schema):
    """One line of a figure's history: who, when, old → new value and status, why."""

    changed_at = fields.DateTime()
    changed_by = fields.String(metadata={"description": "e-mail, or operator (command line)"})
    old_value = ResultValue(
        allow_none=True,
        metadata={
            "description": "null when the line records the figure's creation",
            "oneOf": [{"type": "string"}, {"type": "boolean"}],
        },
    )
    new_value = ResultValue(metadata={"oneOf": [{"type": "string"}, {"type": "boolean"}]})
    old_status = fields.String(allow_none=True)
    new_status = fields.String()
    reason = fields.String(allow_none=True)
    affected_summaries = fields.List(
        fields.Nested(AffectedSummarySchema),
        metadata={
            "description": "signed summaries that carried the old value; the next "
            "publication of their period carries the new one"
        },
    )


class ResultHistorySchema(Schema):
    """A figure and its history, oldest line first."""

    result = fields.Nested(ResultSchema)
    changes = fields.List(fields.Nested(ResultChangeSchema))


class PointSchema(Schema):
    class Meta:
        unknown = RAISE

    period = PeriodString(required=True)
    value = ResultValue(
        required=True, metadata={"oneOf": [{"type": "string"}, {"type": "boolean"}]}
    )


class TargetSchema(Schema):
    """Baseline and target of an indicator (total or one breakdown)."""

    class Meta:
        unknown = RAISE

    indicator = Code(required=True)
    disaggregation = Disaggregation(load_default=dict)
    baseline = fields.Nested(PointSchema, allow_none=True, load_default=None)
    target = fields.Nested(PointSchema, allow_none=True, load_default=None)
    note = fields.String(validate=validate.Length(max=10_000), allow_none=True)


class EvidenceSchema(Schema):
    """Qualitative evidence from civil society or communities about an indicator and period."""

    class Meta:
        unknown = RAISE

    id = fields.Integer(dump_only=True)
    indicator = Code(required=True)
    period = PeriodString(required=True)
    kind = fields.String(load_default="cso_report", validate=validate.OneOf(EVIDENCE_KINDS))
    title = fields.String(required=True, validate=validate.Length(1, 300))
    body = fields.String(required=True, validate=validate.Length(1, 50_000))
    organisation = fields.String(validate=validate.Length(max=300), allow_none=True)
    url = fields.Url(allow_none=True, schemes={"http", "https"})
    status = fields.String(dump_only=True)
    submitted_by = fields.String(dump_only=True, allow_none=True)
    created_at = fields.DateTime(dump_only=True)


class BudgetLineSchema(Schema):
    """A municipal budget line linked to an indicator."""

    class Meta:
        unknown = RAISE

    id = fields.Integer(dump_only=True)
    indicator = Code(required=True)
    period = PeriodString(required=True)
    programme = fields.String(required=True, validate=validate.Length(1, 300))
    allocated = DecimalString(required=True)
    executed = DecimalString(allow_none=True)
    currency = fields.String(
        required=True,
        validate=validate.Regexp(r"^[A-Z]{3}$", error="an ISO 4217 currency code such as EUR"),
    )
    note = fields.String(validate=validate.Length(max=10_000), allow_none=True)
    execution_rate = DecimalString(dump_only=True, allow_none=True)


class ProgressPointSchema(Schema):
    period = fields.String()
    value = ResultValue(metadata={"oneOf": [{"type": "string"}, {"type": "boolean"}]})


class BreakdownProgressSchema(Schema):
    disaggregation = fields.Dict(keys=fields.String(), values=fields.String())
    status = fields.String()
    latest = fields.Nested(ProgressPointSchema, allow_none=True)
    baseline = fields.Nested(ProgressPointSchema, allow_none=True)
    target = fields.Nested(ProgressPointSchema, allow_none=True)
    expected = DecimalString(allow_none=True)


class ProgressSchema(BreakdownProgressSchema):
    """Latest value against baseline and target for one indicator, with its breakdowns."""

    indicator = fields.String()
    name = fields.String()
    type = fields.String()
    direction = fields.String()
    unit = fields.String()
    breakdowns = fields.List(fields.Nested(BreakdownProgressSchema))
