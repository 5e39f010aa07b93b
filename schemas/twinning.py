"""Twinning messages: request, accept, decline, end (``hrc.twinning.*/1``)."""

from __future__ import annotations

from marshmallow import EXCLUDE, Schema, fields, validate

from schemas.fields import CityId

TWINNING_REQUEST = "hrc.twinning.request"
TWINNING_ACCEPT = "hrc.twinning.accept"
TWINNING_DECLINE = "hrc.twinning.decline"
TWINNING_END = "hrc.twinning.end"
TWINNING_TYPES = (TWINNING_REQUEST, TWINNING_ACCEPT, TWINNING_DECLINE, TWINNING_END)
TWINNING_STREAM = "twinning"


class NodeInfoSchema(Schema):
    """Who the sender is (as in its ``/.well-known/hrcnet``)."""

    class Meta:
        unknown = EXCLUDE

    city_id = CityId(required=True)
    name = fields.String(required=True, validate=validate.Length(1, 200))
    country = fields.String(load_default=None, allow_none=True)
    region = fields.String(load_default=None, allow_none=True)
    role = fields.String(load_default="city", validate=validate.OneOf(("city", "secretariat")))
    base_url = fields.Url(required=True, require_tld=False, schemes={"http", "https"})


class TwinningPayloadSchema(Schema):
    """Payload of every twinning message; a request carries the sender's key document so the
    receiver can verify it before anyone has pinned anything (officials then compare
    fingerprints out of band)."""

    class Meta:
        unknown = EXCLUDE

    node = fields.Nested(NodeInfoSchema, required=True)
    themes = fields.List(
        fields.String(validate=validate.Length(1, 300)),
        allow_none=True,
        load_default=None,
        validate=validate.Length(max=100),
    )
    key_document = fields.Dict(load_default=None, allow_none=True)
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))
