"""Civil-society parallel figures on the wire: the API (``/api/v1/cso-figures``) and the signed
statements carried to twins (``hrc.cso_statement/2``, ``hrc.cso_withdrawal/1``, protocol §7.6)."""

from __future__ import annotations

import re
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from schemas.fields import CityId, Code, DecimalText, PeriodString
from schemas.results import Disaggregation, ResultValue

CSO_STATUSES = ("draft", "published", "withdrawn")
WITHDRAWAL_SCOPES = ("figure", "sharing")
STATEMENT_TYPE = "hrc.cso_statement"
STATEMENT_SCHEMA = "hrc.cso_statement/2"
WITHDRAWAL_TYPE = "hrc.cso_withdrawal"
WITHDRAWAL_SCHEMA = "hrc.cso_withdrawal/1"
# Statements and withdrawals share one stream: replay and rollback are checked per (origin,
# stream), so a withdrawal can never be ordered before the statement it withdraws.
STATEMENT_STREAM = "cso-statements"
MAX_REASON = 2_000
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


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
    share_with_twins = fields.Boolean(
        load_default=False,
        metadata={
            "description": "the organisation agrees that the signed statement is sent to the "
            "city's twins (default: not shared); decided before publishing"
        },
    )
    shared_with = fields.List(fields.String(), dump_only=True)
    withdrawn_at = fields.String(dump_only=True, allow_none=True)
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


class CsoWithdrawSchema(Schema):
    """``POST /api/v1/cso-figures/{id}/withdraw``: stop sharing it with twins, or withdraw it."""

    class Meta:
        unknown = RAISE

    scope = fields.String(required=True, validate=validate.OneOf(WITHDRAWAL_SCOPES))
    reason = fields.String(allow_none=True, validate=validate.Length(max=MAX_REASON))


class StatementValue(fields.String):
    """A stated value as signed: decimal text, or ``"true"``/``"false"``."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if text in ("true", "false"):
            return text
        return str(DecimalText()._deserialize(text, attr, data))


class StrictBoolean(fields.Boolean):
    """JSON ``true``/``false`` only (marshmallow's Boolean also takes "yes", 1, "on"...)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise ValidationError("Must be true or false.")
        return value


class Sha256(fields.String):
    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if not _SHA256_RE.match(text):
            raise ValidationError("64 lowercase hexadecimal digits.")
        return text


class CsoStatementPayloadSchema(Schema):
    """Payload of ``hrc.cso_statement/2`` from a twin: every field bounded, nothing extra.

    ``official`` must be false (the statement is never the city's figure) and
    ``shared_with_twins`` true (the CSO agreed; a twin must not hold a statement it was not
    allowed to receive)."""

    class Meta:
        unknown = RAISE

    city = CityId(required=True)
    organisation = fields.String(required=True, validate=validate.Length(1, 300))
    indicator = Code(required=True)
    right = fields.String(load_default=None, allow_none=True, validate=validate.Length(1, 300))
    period = PeriodString(required=True)
    disaggregation = Disaggregation(required=True)
    value = StatementValue(required=True, validate=validate.Length(1, 64))
    method = fields.String(required=True, validate=validate.Length(1, 2_000))
    source = fields.String(required=True, validate=validate.Length(1, 1_000))
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=4_000))
    official = StrictBoolean(required=True, validate=validate.Equal(False, error="must be false"))
    shared_with_twins = StrictBoolean(
        required=True,
        validate=validate.Equal(True, error="the organisation did not agree to share it"),
    )


class CsoWithdrawalPayloadSchema(Schema):
    """Payload of ``hrc.cso_withdrawal/1``: which signed statement is withdrawn, how, why."""

    class Meta:
        unknown = RAISE

    city = CityId(required=True)
    organisation = fields.String(required=True, validate=validate.Length(1, 300))
    statement_sha256 = Sha256(required=True)
    scope = fields.String(required=True, validate=validate.OneOf(WITHDRAWAL_SCOPES))
    reason = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(max=MAX_REASON)
    )


class ReceivedCsoStatementSchema(Schema):
    """A twin's civil-society statement as this node received it (never an official figure)."""

    origin = fields.String()
    organisation = fields.String()
    indicator = fields.String()
    period = fields.String()
    disaggregation = fields.Dict(keys=fields.String(), values=fields.String())
    value = fields.String()
    method = fields.String()
    source = fields.String()
    note = fields.String(allow_none=True)
    statement_sha256 = fields.String()
    received_at = fields.String()
    withdrawn_at = fields.String(allow_none=True)
    withdrawal_scope = fields.String(allow_none=True)
    withdrawal_reason = fields.String(allow_none=True)


class ReceivedCsoStatementListSchema(Schema):
    items = fields.List(fields.Nested(ReceivedCsoStatementSchema))
