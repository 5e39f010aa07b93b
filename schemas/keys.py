"""Marshmallow schemas of the key document (an envelope of type ``hrc.keys``).

Payload: ``verify_keys`` (``{key_id: {"key": base64}}``), ``old_verify_keys`` (same plus
``expired_ts``) and ``valid_until_ts``. Cryptographic checks live in
:func:`federation.envelope.verify_key_document`.
"""

from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema

from federation.envelope import KEYS_SCHEMA, KEYS_STREAM, KEYS_TYPE
from federation.keys import (
    ED25519_PUBLIC_KEY_LENGTH,
    KeyFormatError,
    WeakPublicKeyError,
    b64decode_unpadded,
    is_weak_public_key,
)
from schemas.envelope import EnvelopeSchema, SafeInteger, key_id_field

__all__ = [
    "WEAK_PUBLIC_KEY_MESSAGE",
    "KeyDocumentPayloadSchema",
    "KeyDocumentSchema",
    "OldVerifyKeySchema",
    "VerifyKeySchema",
    "mentions_weak_key",
    "validate_public_key_b64",
]


# The message of a small-order key, so that callers that must answer with the specific code
# ``weak_public_key`` can recognise it among a payload's validation messages.
WEAK_PUBLIC_KEY_MESSAGE = str(WeakPublicKeyError())


def validate_public_key_b64(value: str) -> None:
    """Accept only canonical base64 of exactly 32 bytes that is a usable Ed25519 public key.

    Keys of small order (all-zero, identity, ...) are refused with
    :data:`WEAK_PUBLIC_KEY_MESSAGE`: under them forged signatures verify (see
    :func:`federation.keys.is_weak_public_key`).
    """
    try:
        raw = b64decode_unpadded(value)
    except KeyFormatError as exc:
        raise ValidationError(str(exc)) from None
    if len(raw) != ED25519_PUBLIC_KEY_LENGTH:
        raise ValidationError("an Ed25519 public key is 32 bytes")
    if is_weak_public_key(raw):
        raise ValidationError(WEAK_PUBLIC_KEY_MESSAGE)


def mentions_weak_key(messages: object) -> bool:
    """True if marshmallow's (nested) error ``messages`` include a small-order key refusal."""
    if isinstance(messages, str):
        return messages == WEAK_PUBLIC_KEY_MESSAGE
    if isinstance(messages, dict):
        return any(mentions_weak_key(m) for m in messages.values())
    if isinstance(messages, (list, tuple)):
        return any(mentions_weak_key(m) for m in messages)
    return False


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
