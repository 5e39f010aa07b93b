"""Marshmallow schema of the federation envelope (contract.md, section "Envelope").

Shape validation only: signatures are checked by :mod:`federation.envelope`. Unknown members
are excluded from the loaded data (``unknown=EXCLUDE``) because the signature covers the whole
document and the raw envelope is stored verbatim: a newer peer may add members we ignore.
"""

from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema

from federation.canonical import MAX_SAFE_INTEGER, CanonicalJSONError, check_payload_rules
from federation.envelope import ENVELOPE_VERSION, ORIGIN_PATTERN, UNSIGNED_FIELDS
from federation.keys import KEY_ID_PATTERN

__all__ = ["EnvelopeSchema", "SafeInteger", "origin_field", "key_id_field"]


class SafeInteger(fields.Integer):
    """A strict JSON integer (no floats, strings or booleans) within 0..2**53-1."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("validate", validate.Range(min=0, max=MAX_SAFE_INTEGER))
        super().__init__(strict=True, **kwargs)


def origin_field(**kwargs: Any) -> fields.String:
    """A city id field (``^[a-z0-9][a-z0-9-]{1,62}$``)."""
    return fields.String(validate=validate.Regexp(ORIGIN_PATTERN), **kwargs)


def key_id_field(**kwargs: Any) -> fields.String:
    """A key id field (e.g. ``ed25519:a1b2c3d4``)."""
    return fields.String(validate=validate.Regexp(KEY_ID_PATTERN), **kwargs)


class EnvelopeSchema(Schema):
    """Every document that crosses between nodes."""

    class Meta:
        unknown = EXCLUDE

    v = fields.Integer(strict=True, required=True, validate=validate.Equal(ENVELOPE_VERSION))
    type = fields.String(required=True, validate=validate.Length(min=1, max=200))
    schema = fields.String(required=True, validate=validate.Length(min=1, max=200))
    origin = origin_field(required=True)
    stream = fields.String(required=True, validate=validate.Length(min=1, max=200))
    seq = SafeInteger(required=True)
    created_ts = SafeInteger(required=True, metadata={"description": "ms since the epoch, UTC"})
    key_id = key_id_field(required=True)
    audience = fields.List(fields.String(), required=True)
    # Typed as Field so schemas for specific document types can narrow it to a Nested schema.
    payload: fields.Field = fields.Dict(keys=fields.String(), required=True)
    signatures = fields.Dict(
        keys=origin_field(),
        values=fields.Dict(
            keys=key_id_field(), values=fields.String(validate=validate.Length(1, 200))
        ),
        required=True,
        metadata={"description": "signer -> key_id -> unpadded base64 Ed25519 signature"},
    )
    unsigned = fields.Dict(keys=fields.String())

    @validates_schema(pass_original=True)
    def _check_payload_rules(self, data: dict[str, Any], original_data: Any, **kwargs: Any) -> None:
        # Checked on the original input, unknown members included: they are signed too, and
        # a float anywhere in the signed bytes breaks verification on other nodes.
        if not isinstance(original_data, dict):
            return
        signed_part = {k: v for k, v in original_data.items() if k not in UNSIGNED_FIELDS}
        try:
            check_payload_rules(signed_part)
        except CanonicalJSONError as exc:
            raise ValidationError(f"{exc} ({exc.code})", field_name=_top_field(exc.path)) from None


def _top_field(path: str) -> str:
    """Map a JSON pointer such as ``/payload/x`` to the top-level member name."""
    parts = path.split("/")
    return parts[1] if len(parts) > 1 and parts[1] else "_schema"
