"""Signed envelopes and key documents (contract.md, section "Envelope").

Signed bytes = RFC 8785 canonical JSON of the envelope without ``signatures`` and ``unsigned``.
Signatures are Ed25519, stored as unpadded standard base64 in
``signatures[signer][key_id]``; several may sit side by side (co-signing, key rotation).

Functions here never trust their input: every verification path raises an
:class:`EnvelopeError` subclass with a stable ``code`` instead of crashing.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from federation.canonical import (
    MAX_SAFE_INTEGER,
    CanonicalJSONError,
    canonical_bytes,
    check_payload_rules,
    loads_strict,
)
from federation.keys import (
    ED25519_PUBLIC_KEY_LENGTH,
    Base64DecodeError,
    KeyFormatError,
    SigningKey,
    b64decode_unpadded,
    b64encode_unpadded,
    check_public_key,
    is_valid_key_id,
    verify_ed25519,
)

__all__ = [
    "ENVELOPE_VERSION",
    "KEYS_SCHEMA",
    "KEYS_STREAM",
    "KEYS_TYPE",
    "MAX_FUTURE_SKEW_MS",
    "MAX_KEY_DOCUMENT_VALIDITY_MS",
    "MAX_SIGNATURES",
    "ORIGIN_PATTERN",
    "UNSIGNED_FIELDS",
    "EnvelopeError",
    "KeyDocument",
    "KeyDocumentError",
    "KeyLookup",
    "OldVerifyKey",
    "SignatureError",
    "build_key_document",
    "check_created_ts",
    "envelope_sha256",
    "envelope_signing_bytes",
    "is_valid_origin",
    "key_valid_at",
    "make_envelope",
    "sign_envelope",
    "validate_envelope",
    "verify_envelope",
    "verify_envelope_signature",
    "verify_key_document",
]

ENVELOPE_VERSION = 1
# Members excluded from the signed bytes: signatures cannot sign themselves, and `unsigned`
# is the place for hop-local annotations that must not invalidate the origin's signature.
UNSIGNED_FIELDS = ("signatures", "unsigned")

ORIGIN_PATTERN = r"^[a-z0-9][a-z0-9-]{1,62}$"
_ORIGIN_RE = re.compile(ORIGIN_PATTERN)

KEYS_TYPE = "hrc.keys"
KEYS_SCHEMA = "hrc.keys/1"
KEYS_STREAM = "keys"

DEFAULT_KEY_DOCUMENT_VALIDITY_MS = 86_400_000
# Verifiers cap a key document's validity at 7 days (Matrix rule): a stolen old document
# cannot be replayed as "still valid" for longer than that.
MAX_KEY_DOCUMENT_VALIDITY_MS = 7 * 86_400_000
# Documents dated more than 5 minutes in the future are rejected (federation.md).
MAX_FUTURE_SKEW_MS = 300_000
# Bounds the key lookups and Ed25519 verifications one received envelope can cause; real
# envelopes carry 1-3 (origin, rotation co-signature, notary).
MAX_SIGNATURES = 16

_REQUIRED_FIELDS: dict[str, type | tuple[type, ...]] = {
    "v": int,
    "type": str,
    "schema": str,
    "origin": str,
    "stream": str,
    "seq": int,
    "created_ts": int,
    "key_id": str,
    "audience": list,
    "payload": dict,
}

# (origin, key_id, created_ts) -> raw 32-byte public key, or None if not valid for that time.
KeyLookup = Callable[[str, str, int], bytes | None]


class EnvelopeError(ValueError):
    """An envelope is malformed or fails a rule. ``code`` is stable and machine readable."""

    def __init__(self, message: str, code: str = "invalid_envelope") -> None:
        super().__init__(message)
        self.code = code


class SignatureError(EnvelopeError):
    """A required signature is missing, malformed or does not verify."""

    def __init__(self, message: str, code: str = "bad_signature") -> None:
        super().__init__(message, code)


class KeyDocumentError(EnvelopeError):
    """A key document is malformed, expired, or not properly self-signed."""

    def __init__(self, message: str, code: str = "invalid_key_document") -> None:
        super().__init__(message, code)


def is_valid_origin(origin: object) -> bool:
    """Return True if ``origin`` is a valid city id (``^[a-z0-9][a-z0-9-]{1,62}$``)."""
    return isinstance(origin, str) and _ORIGIN_RE.fullmatch(origin) is not None


def _is_int(value: object) -> bool:
    # bool is an int subclass in Python but `true` is not a number in JSON.
    return isinstance(value, int) and not isinstance(value, bool)


def validate_envelope(envelope: object, *, payload_rules_checked: bool = False) -> None:
    """Check the envelope's shape: required members, types, ranges, payload rules.

    Unknown extra members are allowed (they are covered by the signature and the raw
    document is stored), but ``signatures``/``unsigned``, when present, must be objects and
    every signature value a string. Raises :class:`EnvelopeError`.

    ``payload_rules_checked``: the caller already applied the payload rules to the whole
    envelope (``canonical.loads_federated`` said so), which covers its signed part: the walk
    is not repeated (each costs as much as the signature check).
    """
    if not isinstance(envelope, dict):
        raise EnvelopeError("envelope must be a JSON object")
    for name, expected in _REQUIRED_FIELDS.items():
        if name not in envelope:
            raise EnvelopeError(f"missing member {name!r}", "missing_field")
        value = envelope[name]
        ok = _is_int(value) if expected is int else isinstance(value, expected)
        if not ok:
            raise EnvelopeError(f"member {name!r} has the wrong type", "invalid_field")
    if envelope["v"] != ENVELOPE_VERSION:
        raise EnvelopeError(
            f"unsupported envelope version {envelope['v']!r}", "unsupported_version"
        )
    if not is_valid_origin(envelope["origin"]):
        raise EnvelopeError("origin is not a valid city id", "invalid_field")
    if not is_valid_key_id(envelope["key_id"]):
        raise EnvelopeError("key_id is not a valid key id", "invalid_field")
    for name in ("seq", "created_ts"):
        if not 0 <= envelope[name] <= MAX_SAFE_INTEGER:
            raise EnvelopeError(f"{name} must be within 0..2**53-1", "invalid_field")
    for name in ("type", "schema", "stream"):
        if not envelope[name] or len(envelope[name]) > 200:
            raise EnvelopeError(f"{name} must be a non-empty string", "invalid_field")
    if not all(isinstance(item, str) for item in envelope["audience"]):
        raise EnvelopeError("audience must be a list of strings", "invalid_field")
    signatures = envelope.get("signatures", {})
    if not isinstance(signatures, dict) or not all(
        isinstance(by_key, dict) and all(isinstance(sig, str) for sig in by_key.values())
        for by_key in signatures.values()
    ):
        raise EnvelopeError("signatures must map signer -> key_id -> string", "invalid_field")
    if sum(len(by_key) for by_key in signatures.values()) > MAX_SIGNATURES:
        raise EnvelopeError(f"more than {MAX_SIGNATURES} signatures", "too_many_signatures")
    if not isinstance(envelope.get("unsigned", {}), dict):
        raise EnvelopeError("unsigned must be an object", "invalid_field")
    if payload_rules_checked:
        return
    try:
        # Whole-document rule (not only payload): every signed number must survive a
        # round trip through any peer's JSON parser unchanged.
        check_payload_rules({k: v for k, v in envelope.items() if k not in UNSIGNED_FIELDS})
    except CanonicalJSONError as exc:
        raise EnvelopeError(str(exc), exc.code) from None


def make_envelope(
    type: str,
    schema: str,
    origin: str,
    stream: str,
    seq: int,
    created_ts: int,
    key_id: str,
    audience: Iterable[str],
    payload: Mapping[str, Any],
) -> dict[str, Any]:
    """Build an unsigned envelope (``signatures`` empty) and validate it.

    Raises :class:`EnvelopeError` if any member breaks the contract (e.g. a float in the
    payload). Sign it with :func:`sign_envelope`.
    """
    envelope: dict[str, Any] = {
        "v": ENVELOPE_VERSION,
        "type": type,
        "schema": schema,
        "origin": origin,
        "stream": stream,
        "seq": seq,
        "created_ts": created_ts,
        "key_id": key_id,
        "audience": list(audience),
        "payload": copy.deepcopy(dict(payload)),
        "signatures": {},
    }
    validate_envelope(envelope)
    return envelope


def envelope_signing_bytes(envelope: Mapping[str, Any]) -> bytes:
    """Return the bytes that are signed: JCS of the envelope minus ``signatures``/``unsigned``.

    Raises :class:`EnvelopeError` (code from the canonical-JSON error) if the content cannot
    be canonicalised or breaks the payload rules.
    """
    if not isinstance(envelope, Mapping):
        raise EnvelopeError("envelope must be a JSON object")
    signed_part = {k: v for k, v in envelope.items() if k not in UNSIGNED_FIELDS}
    try:
        check_payload_rules(signed_part)
        return canonical_bytes(signed_part)
    except CanonicalJSONError as exc:
        raise EnvelopeError(str(exc), exc.code) from None


def envelope_sha256(envelope: bytes | bytearray | str | Mapping[str, Any]) -> str:
    """Hex sha256 of the envelope's *signed bytes* (the contract's ``envelope_sha256``).

    Accepts the envelope as a dict, or as raw JSON (the body as received, or already the
    signed bytes): raw JSON is parsed strictly and re-canonicalised, so every form of the
    same document gives the same hash and adding a co-signature does not change it.
    """
    if isinstance(envelope, (bytes, bytearray, str)):
        try:
            parsed = loads_strict(envelope)
        except CanonicalJSONError as exc:
            raise EnvelopeError(str(exc), exc.code) from None
        envelope = parsed
        if not isinstance(envelope, Mapping):
            raise EnvelopeError("envelope must be a JSON object")
    return hashlib.sha256(envelope_signing_bytes(envelope)).hexdigest()


def sign_envelope(envelope: Mapping[str, Any], origin: str, key: SigningKey) -> dict[str, Any]:
    """Return a copy of ``envelope`` with ``signatures[origin][key.key_id]`` added.

    Existing signatures are kept (co-signing, rotation overlap); the input is not mutated.
    ``origin`` is the signer: the envelope's own origin, or e.g. the secretariat as notary.
    """
    if not is_valid_origin(origin):
        raise EnvelopeError(f"signer {origin!r} is not a valid city id", "invalid_field")
    validate_envelope(envelope)
    # Copy only what signing changes (the signatures); the payload is shared, never mutated.
    # A deep copy of a large summary cost more than the Ed25519 signature itself.
    signed = dict(envelope)
    signed["signatures"] = {
        signer: dict(by_key) for signer, by_key in (envelope.get("signatures") or {}).items()
    }
    signature = key.sign(envelope_signing_bytes(signed))
    signed["signatures"].setdefault(origin, {})[key.key_id] = b64encode_unpadded(signature)
    return signed


def _signature_bytes(envelope: Mapping[str, Any], signer: str, key_id: str) -> bytes:
    signatures = envelope.get("signatures")
    by_signer = signatures.get(signer) if isinstance(signatures, dict) else None
    encoded = by_signer.get(key_id) if isinstance(by_signer, dict) else None
    if encoded is None:
        raise SignatureError(f"no signature by {signer} with {key_id}", "missing_signature")
    if not isinstance(encoded, str):
        raise SignatureError("signature must be a base64 string", "malformed_signature")
    try:
        signature = b64decode_unpadded(encoded)
    except Base64DecodeError as exc:
        raise SignatureError(f"signature is not base64: {exc}", "malformed_signature") from None
    if len(signature) != 64:
        raise SignatureError("an Ed25519 signature is 64 bytes", "malformed_signature")
    return signature


def verify_envelope_signature(
    envelope: Mapping[str, Any],
    origin: str,
    key_id: str,
    public_raw: bytes,
    *,
    signing_bytes: bytes | None = None,
) -> None:
    """Verify ``signatures[origin][key_id]`` with the given raw public key.

    ``origin`` names the signer. Returns None on success; raises :class:`SignatureError`
    (codes ``missing_signature``, ``malformed_signature``, ``bad_signature``) or
    :class:`EnvelopeError` if the envelope cannot be canonicalised.

    ``signing_bytes`` is ``envelope_signing_bytes(envelope)`` when the caller already computed
    it (the inbox hashes the same bytes): the document is then canonicalised once. Passing any
    other bytes would verify another message; only pass what that function returned.
    """
    signature = _signature_bytes(envelope, origin, key_id)
    message = envelope_signing_bytes(envelope) if signing_bytes is None else signing_bytes
    if not verify_ed25519(public_raw, signature, message):
        raise SignatureError(f"signature by {origin} with {key_id} does not verify")


def verify_envelope(
    envelope: object,
    lookup: KeyLookup,
    *,
    signing_bytes: bytes | None = None,
    shape_checked: bool = False,
) -> list[tuple[str, str]]:
    """Verify an envelope received from a peer; return the verified ``(signer, key_id)`` list.

    Requires a valid signature by ``origin`` with the envelope's ``key_id`` (looked up with
    ``lookup(origin, key_id, created_ts)``; None means unknown/not valid at that time →
    ``unknown_key``). Other signatures are checked when ``lookup`` knows their key: a known
    key whose signature fails makes the whole envelope fail (it has been tampered with or
    mis-signed); signatures by unknown keys are ignored and not listed. ``lookup`` is called
    for every co-signer, so it should answer from pinned/cached keys rather than fetch.

    ``shape_checked``: the caller ran :func:`validate_envelope` on this very dict (the inbox,
    which parsed it and has not changed it since); the shape and payload walk is not repeated.
    """
    if not shape_checked:
        validate_envelope(envelope)
    assert isinstance(envelope, dict)  # narrowed by validate_envelope
    origin: str = envelope["origin"]
    key_id: str = envelope["key_id"]
    created_ts: int = envelope["created_ts"]
    # Check presence before any key lookup: a lookup may trigger a network fetch, and
    # unsigned junk must not be able to cause one.
    _signature_bytes(envelope, origin, key_id)
    public_raw = lookup(origin, key_id, created_ts)
    if public_raw is None:
        raise SignatureError(f"unknown key {key_id} for {origin} at {created_ts}", "unknown_key")
    if signing_bytes is None:
        signing_bytes = envelope_signing_bytes(envelope)
    verify_envelope_signature(envelope, origin, key_id, public_raw, signing_bytes=signing_bytes)
    verified = [(origin, key_id)]
    for signer, by_key in envelope.get("signatures", {}).items():
        for other_key_id in by_key:
            if (signer, other_key_id) == (origin, key_id):
                continue
            if not is_valid_origin(signer) or not is_valid_key_id(other_key_id):
                continue
            other_raw = lookup(signer, other_key_id, created_ts)
            if other_raw is None:
                continue
            verify_envelope_signature(
                envelope, signer, other_key_id, other_raw, signing_bytes=signing_bytes
            )
            verified.append((signer, other_key_id))
    return verified


def check_created_ts(created_ts: int, now_ms: int, max_future_ms: int = MAX_FUTURE_SKEW_MS) -> None:
    """Reject a document dated more than ``max_future_ms`` after ``now_ms``.

    Raises :class:`EnvelopeError` with code ``future_document``.

    A far-future date would let a document outrank later legitimate ones, or outlive a key's
    expiry, so it is refused rather than stored.
    """
    if created_ts > now_ms + max_future_ms:
        raise EnvelopeError(
            f"document created {created_ts - now_ms} ms in the future", "future_document"
        )


# --- key documents ---------------------------------------------------------------------------


@dataclass(frozen=True)
class OldVerifyKey:
    """A retired key: verifies only documents created strictly before ``expired_ts``."""

    key_id: str
    public_raw: bytes
    expired_ts: int


@dataclass(frozen=True)
class KeyDocument:
    """A verified key document. ``valid_until_ts`` is already capped at verification time."""

    origin: str
    seq: int
    created_ts: int
    valid_until_ts: int
    verify_keys: dict[str, bytes]
    old_verify_keys: dict[str, OldVerifyKey]
    signed_by: list[str] = field(default_factory=list)
    revoked: dict[str, int] = field(default_factory=dict)  # key id → revocation time (ms)

    def is_fresh(self, now_ms: int) -> bool:
        """True while the document may be used without re-fetching it."""
        return now_ms < self.valid_until_ts

    def public_key_for(self, key_id: str, created_ts: int) -> bytes | None:
        """Raw public key of ``key_id`` if it may verify a document created at ``created_ts``."""
        if not key_valid_at(self, key_id, created_ts):
            return None
        if key_id in self.verify_keys:
            return self.verify_keys[key_id]
        return self.old_verify_keys[key_id].public_raw


def key_valid_at(keydoc: KeyDocument, key_id: str, created_ts: int) -> bool:
    """Whether ``key_id`` of this key document may verify a document created at ``created_ts``.

    Current keys: for documents created up to the (capped) ``valid_until_ts``; anything later
    needs a fresher key document, so a revoked key stops verifying once its last document
    expires. Old keys: only for documents created strictly before their ``expired_ts``,
    never for new ones (a retired key that leaks cannot sign new documents).
    """
    if key_id in keydoc.verify_keys:
        return created_ts <= keydoc.valid_until_ts
    old = keydoc.old_verify_keys.get(key_id)
    return old is not None and created_ts < old.expired_ts


def build_key_document(
    origin: str,
    current_key: SigningKey,
    old_keys: Iterable[OldVerifyKey] = (),
    now_ms: int | None = None,
    valid_for_ms: int = DEFAULT_KEY_DOCUMENT_VALIDITY_MS,
    seq: int = 0,
    co_signing_key: SigningKey | None = None,
    audience: Sequence[str] = ("network",),
    revoked: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """Build the origin's self-signed key document (envelope type ``hrc.keys``).

    ``revoked`` (key id → revocation time, ms) lists keys that must verify nothing any more,
    whatever they signed: a peer that reads the document drops them (lost or stolen keys).

    Signed by ``current_key``; with ``co_signing_key`` (rotation overlap, TUF style) it is also
    signed by that key, which is listed in ``old_verify_keys`` if it appears in ``old_keys``
    (its ``expired_ts`` must then be after ``now_ms``) and otherwise in ``verify_keys``.
    ``now_ms`` (the document's ``created_ts``) defaults to the current time.
    """
    if now_ms is None:
        now_ms = int(time.time() * 1000)
    if not isinstance(now_ms, int) or now_ms <= 0:
        raise KeyDocumentError("now_ms must be a positive millisecond timestamp")
    if valid_for_ms <= 0 or valid_for_ms > MAX_KEY_DOCUMENT_VALIDITY_MS:
        raise KeyDocumentError("valid_for_ms must be within (0, 7 days]")
    verify_keys = {current_key.key_id: {"key": current_key.public_b64}}
    old_verify_keys: dict[str, dict[str, Any]] = {}
    for old in old_keys:
        if old.key_id in verify_keys or len(old.public_raw) != ED25519_PUBLIC_KEY_LENGTH:
            raise KeyDocumentError(f"old key {old.key_id} is current or malformed")
        old_verify_keys[old.key_id] = {
            "key": b64encode_unpadded(old.public_raw),
            "expired_ts": old.expired_ts,
        }
    if co_signing_key is not None:
        if co_signing_key.key_id in old_verify_keys:
            old_entry = old_verify_keys[co_signing_key.key_id]
            if old_entry["key"] != co_signing_key.public_b64:
                raise KeyDocumentError("co-signing key differs from the listed old key")
            if old_entry["expired_ts"] <= now_ms:
                # It could not verify this document anyway (created_ts >= expired_ts).
                raise KeyDocumentError("co-signing old key has already expired")
        else:
            verify_keys[co_signing_key.key_id] = {"key": co_signing_key.public_b64}
    payload: dict[str, Any] = {
        "verify_keys": verify_keys,
        "old_verify_keys": old_verify_keys,
        "valid_until_ts": now_ms + valid_for_ms,
    }
    if revoked:
        if set(revoked) & (set(verify_keys) | set(old_verify_keys)):
            raise KeyDocumentError("a revoked key cannot also be listed as a verify key")
        payload["revoked_keys"] = {kid: {"revoked_ts": ts} for kid, ts in revoked.items()}
    envelope = make_envelope(
        KEYS_TYPE,
        KEYS_SCHEMA,
        origin,
        KEYS_STREAM,
        seq,
        now_ms,
        current_key.key_id,
        audience,
        payload,
    )
    envelope = sign_envelope(envelope, origin, current_key)
    if co_signing_key is not None:
        envelope = sign_envelope(envelope, origin, co_signing_key)
    return envelope


def _decode_public_key(entry: object, where: str) -> bytes:
    if not isinstance(entry, dict) or not isinstance(entry.get("key"), str):
        raise KeyDocumentError(f'{where}: expected {{"key": base64}}')
    try:
        raw = b64decode_unpadded(entry["key"])
    except Base64DecodeError as exc:
        raise KeyDocumentError(f"{where}: {exc}") from None
    if len(raw) != ED25519_PUBLIC_KEY_LENGTH:
        raise KeyDocumentError(f"{where}: an Ed25519 public key is 32 bytes")
    try:
        # A small-order key would let anyone sign as this origin (see federation.keys): the
        # whole document is refused, not just the key, so nothing of it gets pinned.
        check_public_key(raw)
    except KeyFormatError as exc:
        raise KeyDocumentError(f"{where}: {exc}", exc.code) from None
    return raw


def _parse_key_payload(
    payload: dict[str, Any],
) -> tuple[dict[str, bytes], dict[str, OldVerifyKey], int]:
    verify_section = payload.get("verify_keys")
    old_section = payload.get("old_verify_keys", {})
    valid_until = payload.get("valid_until_ts")
    if not isinstance(verify_section, dict) or not verify_section:
        raise KeyDocumentError("verify_keys must be a non-empty object")
    if not isinstance(old_section, dict):
        raise KeyDocumentError("old_verify_keys must be an object")
    if not isinstance(valid_until, int) or isinstance(valid_until, bool):
        raise KeyDocumentError("valid_until_ts must be an integer")
    verify_keys: dict[str, bytes] = {}
    for key_id, entry in verify_section.items():
        if not is_valid_key_id(key_id):
            raise KeyDocumentError(f"invalid key id {key_id!r}")
        verify_keys[key_id] = _decode_public_key(entry, f"verify_keys[{key_id}]")
    old_verify_keys: dict[str, OldVerifyKey] = {}
    for key_id, entry in old_section.items():
        if not is_valid_key_id(key_id):
            raise KeyDocumentError(f"invalid key id {key_id!r}")
        if key_id in verify_keys:
            # Ambiguous status (current and retired at once): refuse rather than pick one.
            raise KeyDocumentError(f"key {key_id} is both current and old")
        raw = _decode_public_key(entry, f"old_verify_keys[{key_id}]")
        expired_ts = entry.get("expired_ts")
        if not _is_int(expired_ts):
            raise KeyDocumentError(f"old_verify_keys[{key_id}].expired_ts must be an integer")
        old_verify_keys[key_id] = OldVerifyKey(key_id, raw, expired_ts)
    return verify_keys, old_verify_keys, valid_until


def _parse_revoked(payload: dict[str, Any]) -> dict[str, int]:
    section = payload.get("revoked_keys", {})
    if not isinstance(section, dict):
        raise KeyDocumentError("revoked_keys must be an object")
    revoked: dict[str, int] = {}
    for key_id, entry in section.items():
        ts = entry.get("revoked_ts") if isinstance(entry, dict) else None
        if not is_valid_key_id(key_id) or not isinstance(ts, int) or isinstance(ts, bool):
            raise KeyDocumentError(f"revoked_keys[{key_id!r}] needs an integer revoked_ts")
        revoked[key_id] = ts
    return revoked


def verify_key_document(doc: object, expected_origin: str, now_ms: int) -> KeyDocument:
    """Verify a key document fetched from ``expected_origin`` and return its parsed keys.

    Checks: envelope shape, type/schema/stream, origin equals ``expected_origin`` (a node
    cannot publish keys for another city), not dated in the future, not expired, a valid
    self-signature by ``key_id`` which must be listed in ``verify_keys``, and every other
    signature by the origin with a listed key (co-signature) valid too. ``valid_until_ts``
    is capped at ``now_ms`` + 7 days. Raises :class:`KeyDocumentError` / :class:`SignatureError`.
    Rollback protection (a lower ``seq`` than the last accepted document) is the caller's job,
    since it needs stored state.
    """
    try:
        validate_envelope(doc)
    except EnvelopeError as exc:
        raise KeyDocumentError(f"malformed key document: {exc}", exc.code) from None
    assert isinstance(doc, dict)  # narrowed by validate_envelope
    if (doc["type"], doc["schema"], doc["stream"]) != (KEYS_TYPE, KEYS_SCHEMA, KEYS_STREAM):
        raise KeyDocumentError("not an hrc.keys/1 document", "wrong_document_type")
    if doc["origin"] != expected_origin:
        raise KeyDocumentError(
            f"key document is for {doc['origin']!r}, expected {expected_origin!r}", "wrong_origin"
        )
    created_ts: int = doc["created_ts"]
    try:
        check_created_ts(created_ts, now_ms)
    except EnvelopeError as exc:
        raise KeyDocumentError(str(exc), exc.code) from None
    verify_keys, old_verify_keys, valid_until = _parse_key_payload(doc["payload"])
    revoked = _parse_revoked(doc["payload"])
    if set(revoked) & (set(verify_keys) | set(old_verify_keys)):
        raise KeyDocumentError("a key is listed both as revoked and as a verify key")
    if valid_until <= now_ms:
        raise KeyDocumentError("key document has expired", "expired_key_document")
    if doc["key_id"] not in verify_keys:
        # Self-signature must come from a current key, never from a retired one.
        raise KeyDocumentError("key_id is not one of the document's verify_keys", "unknown_key")
    capped_until = min(valid_until, now_ms + MAX_KEY_DOCUMENT_VALIDITY_MS)
    keydoc = KeyDocument(
        origin=doc["origin"],
        seq=doc["seq"],
        created_ts=created_ts,
        valid_until_ts=capped_until,
        verify_keys=verify_keys,
        old_verify_keys=old_verify_keys,
        revoked=revoked,
    )

    def lookup(signer: str, key_id: str, at_ts: int) -> bytes | None:
        # Only the origin's own keys count for self-signatures; notary signatures (e.g. the
        # secretariat's) are checked by the caller against its pinned notary key.
        if signer != keydoc.origin:
            return None
        return keydoc.public_key_for(key_id, at_ts)

    verified = verify_envelope(doc, lookup)
    return dataclasses.replace(keydoc, signed_by=[key_id for _, key_id in verified])
