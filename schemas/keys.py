"""Marshmallow schemas of the key document (an envelope of type ``hrc.keys``).

Payload: ``verify_keys`` (``{key_id: {"key": base64}}``), ``old_verify_keys`` (same plus
``expired_ts``) and ``valid_until_ts``. Cryptographic checks live in
:func:`federation.envelope.verify_key_document`.
"""

from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema

from federation.envelope import KEYS_SCHEMA, KEYS_STREAM, KEYS_TYPE
from federation.keys import ED25519_PUBLIC_KEY_LENGTH, KeyFormatError, b64decode_unpadded
from schemas.envelope import EnvelopeSchema, SafeInteger, key_id_field

__all__ = [
    "KeyDocumentPayloadSchema",
    "KeyDocumentSchema",
    "OldVerifyKeySchema",
    "VerifyKeySchema",
    "validate_public_key_b64",
]


def validate_public_key_b64(value: str) -> None:
    """Accept only canonical base64 of exactly 32 bytes (a raw Ed25519 public key)."""
    try:
        raw = b64decode_unpadded(value)
    except KeyFormatError as exc:
        raise ValidationError(str(exc)) from None
    if len(raw) != ED25519_PUBLIC_KEY_LENGTH:
        raise ValidationError("an Ed25519 public key is 32 bytes")


class VerifyKeySchema(Schema):
    """A current verification key."""

    class Meta:
        unknown = EXCLUDE

    key = fields.String(
        required=True,
        validate=validate_public_key_b64,
        metadata={"description": "unpadded base64 of the raw 32-byte Ed25519 public key"},
    )


class OldVerifyKeySchema(VerifyKeySchema):
    """A retired key: verifies only documents created before ``expired_ts``."""

    expired_ts = SafeInteger(required=True, metadata={"description": "ms since the epoch, UTC"})


class KeyDocumentPayloadSchema(Schema):
    """Payload of an ``hrc.keys/1`` document."""

    class Meta:
        unknown = EXCLUDE

    verify_keys = fields.Dict(
        keys=key_id_field(),
        values=fields.Nested(VerifyKeySchema),
        required=True,
        validate=validate.Length(min=1),
    )
    old_verify_keys = fields.Dict(
        keys=key_id_field(), values=fields.Nested(OldVerifyKeySchema), load_default=dict
    )
    valid_until_ts = SafeInteger(required=True, metadata={"description": "ms since the epoch"})

    @validates_schema
    def _no_key_both_current_and_old(self, data: dict[str, Any], **kwargs: Any) -> None:
        # A key listed as both current and retired has an ambiguous status: refuse it.
        both = set(data.get("verify_keys", {})) & set(data.get("old_verify_keys", {}))
        if both:
            raise ValidationError(
                f"keys both current and old: {', '.join(sorted(both))}", "old_verify_keys"
            )


class KeyDocumentSchema(EnvelopeSchema):
    """The whole key document envelope (``GET /federation/v1/keys``)."""

    type = fields.String(required=True, validate=validate.Equal(KEYS_TYPE))
    schema = fields.String(required=True, validate=validate.Equal(KEYS_SCHEMA))
    stream = fields.String(required=True, validate=validate.Equal(KEYS_STREAM))
    payload = fields.Nested(KeyDocumentPayloadSchema, required=True)
