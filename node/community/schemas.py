"""The wire shapes of the community-report API (moderators) and the generic SMS payload."""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

from node.community.models import STATES


class HistorySchema(Schema):
    from_ = fields.String(data_key="from", attribute="from", allow_none=True)
    to = fields.String()
    reason = fields.String(allow_none=True)
    by = fields.String()
    at = fields.String()


class ReportSchema(Schema):
    """A report as moderators see it: contact and exact coordinates are moderators-only."""

    id = fields.Integer()
    reference = fields.String()
    state = fields.String()
    channel = fields.String()
    gateway = fields.String(allow_none=True)
    category = fields.String()
    district = fields.String()
    occurred_on = fields.String()
    period = fields.String()
    description = fields.String()
    latitude = fields.String(allow_none=True)
    longitude = fields.String(allow_none=True)
    contact = fields.String(allow_none=True)
    language = fields.String()
    trusted_reporter = fields.Boolean()
    duplicate_of = fields.Integer(allow_none=True)
    evidence_id = fields.Integer(allow_none=True)
    received_at = fields.String()
    history = fields.List(fields.Nested(HistorySchema))


class ReportQuerySchema(Schema):
    state = fields.String(validate=validate.OneOf(STATES))
    limit = fields.Integer(load_default=100, validate=validate.Range(1, 500))


class ModerateSchema(Schema):
    class Meta:
        unknown = RAISE

    state = fields.String(required=True, validate=validate.OneOf(STATES[1:]))
    reason = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=1000))
    duplicate_of = fields.Integer(
        load_default=None, allow_none=True, validate=validate.Range(1, 2**31 - 1)
    )


class TrustedSchema(Schema):
    class Meta:
        unknown = RAISE

    trusted = fields.Boolean(required=True)
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=300))


class TrustedAnswerSchema(Schema):
    trusted = fields.Boolean()


class EvidenceLinkSchema(Schema):
    evidence_id = fields.Integer()
    indicator = fields.String()
    period = fields.String()


class GenericSmsSchema(Schema):
    """The ``generic`` gateway's JSON body (docs/community.md)."""

    class Meta:
        unknown = RAISE

    id = fields.String(required=True, validate=validate.Length(1, 100))
    # "from" is a Python keyword: data_key keeps the wire name.
    sender = fields.String(required=True, data_key="from", validate=validate.Length(1, 40))
    text = fields.String(required=True, validate=validate.Length(0, 2000))


class SmsAnswerSchema(Schema):
    accepted = fields.Boolean()
    reference = fields.String(allow_none=True)
    reply = fields.String()
