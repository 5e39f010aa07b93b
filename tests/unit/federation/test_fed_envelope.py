"""Envelopes, signatures, key documents and rotation (federation.envelope)."""

from __future__ import annotations

import copy
import json
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from federation.canonical import CanonicalJSONError, canonical_bytes, loads_strict
from federation.envelope import (
    MAX_KEY_DOCUMENT_VALIDITY_MS,
    EnvelopeError,
    KeyDocumentError,
    OldVerifyKey,
    SignatureError,
    build_key_document,
    check_created_ts,
    envelope_sha256,
    envelope_signing_bytes,
    key_valid_at,
    make_envelope,
    sign_envelope,
    verify_envelope,
    verify_envelope_signature,
    verify_key_document,
)
from federation.keys import SigningKey, b64decode_unpadded, b64encode_unpadded, verify_ed25519
from tests.support import examples

NOW = 1_767_225_600_000
HOUR = 3_600_000
ORIGIN = "be-gent"
KEY = SigningKey.from_seed(bytes(range(32)))
OTHER_KEY = SigningKey.from_seed(bytes(range(1, 33)))
NOTARY_KEY = SigningKey.from_seed(bytes(range(2, 34)))


def _envelope(payload: dict[str, Any] | None = None, **overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "type": "hrc.summary",
        "schema": "hrc.summary/1",
        "origin": ORIGIN,
        "stream": "summaries",
        "seq": 42,
        "created_ts": NOW,
        "key_id": KEY.key_id,
        "audience": ["it-padova", "network"],
        "payload": payload if payload is not None else {"period": "2025", "value": "12.5"},
    }
    fields.update(overrides)
    return make_envelope(**fields)


def _signed(**overrides: Any) -> dict[str, Any]:
    return sign_envelope(_envelope(**overrides), ORIGIN, KEY)


def _lookup_for(keys: dict[tuple[str, str], bytes]) -> Any:
    return lambda origin, key_id, created_ts: keys.get((origin, key_id))


# --- building and signing ----------------------------------------------------------------------


def test_make_envelope_shape() -> None:
    envelope = _envelope()
    assert envelope["v"] == 1
    assert envelope["signatures"] == {}
    assert set(envelope) == {
        "v",
        "type",
        "schema",
        "origin",
        "stream",
        "seq",
        "created_ts",
        "key_id",
        "audience",
        "payload",
        "signatures",
    }


def test_signing_bytes_exclude_signatures_and_unsigned() -> None:
    envelope = _signed()
    envelope["unsigned"] = {"received_via": "relay"}
    expected = {k: v for k, v in envelope.items() if k not in ("signatures", "unsigned")}
    assert envelope_signing_bytes(envelope) == canonical_bytes(expected)
    verify_envelope_signature(envelope, ORIGIN, KEY.key_id, KEY.public_raw)


def test_sign_and_verify_round_trip_through_the_wire() -> None:
    envelope = _signed()
    signature = b64decode_unpadded(envelope["signatures"][ORIGIN][KEY.key_id])
    assert len(signature) == 64
    wire = json.dumps(envelope, indent=2).encode()
    received = loads_strict(wire)
    lookup = _lookup_for({(ORIGIN, KEY.key_id): KEY.public_raw})
    assert verify_envelope(received, lookup) == [(ORIGIN, KEY.key_id)]


def test_sign_envelope_does_not_mutate_its_input() -> None:
    envelope = _envelope()
    snapshot = copy.deepcopy(envelope)
    sign_envelope(envelope, ORIGIN, KEY)
    assert envelope == snapshot


def test_co_signatures_sit_side_by_side() -> None:
    once = _signed()
    twice = sign_envelope(once, ORIGIN, OTHER_KEY)
    thrice = sign_envelope(twice, "network-secretariat", NOTARY_KEY)
    assert set(thrice["signatures"][ORIGIN]) == {KEY.key_id, OTHER_KEY.key_id}
    assert thrice["signatures"][ORIGIN][KEY.key_id] == once["signatures"][ORIGIN][KEY.key_id]
    verify_envelope_signature(thrice, ORIGIN, KEY.key_id, KEY.public_raw)
    verify_envelope_signature(thrice, ORIGIN, OTHER_KEY.key_id, OTHER_KEY.public_raw)
    verify_envelope_signature(
        thrice, "network-secretariat", NOTARY_KEY.key_id, NOTARY_KEY.public_raw
    )
    lookup = _lookup_for(
        {
            (ORIGIN, KEY.key_id): KEY.public_raw,
            ("network-secretariat", NOTARY_KEY.key_id): NOTARY_KEY.public_raw,
        }
    )
    # OTHER_KEY is unknown to this lookup: ignored, not listed, not fatal.
    assert verify_envelope(thrice, lookup) == [
        (ORIGIN, KEY.key_id),
        ("network-secretariat", NOTARY_KEY.key_id),
    ]


def test_known_key_with_bad_co_signature_fails_the_envelope() -> None:
    envelope = sign_envelope(_signed(), "network-secretariat", NOTARY_KEY)
    envelope["signatures"]["network-secretariat"][NOTARY_KEY.key_id] = b64encode_unpadded(bytes(64))
    lookup = _lookup_for(
        {
            (ORIGIN, KEY.key_id): KEY.public_raw,
            ("network-secretariat", NOTARY_KEY.key_id): NOTARY_KEY.public_raw,
        }
    )
    with pytest.raises(SignatureError) as info:
        verify_envelope(envelope, lookup)
    assert info.value.code == "bad_signature"


# --- verification failures ---------------------------------------------------------------------


def _verify_code(envelope: Any, keys: dict[tuple[str, str], bytes] | None = None) -> str:
    lookup = _lookup_for(keys if keys is not None else {(ORIGIN, KEY.key_id): KEY.public_raw})
    with pytest.raises(EnvelopeError) as info:
        verify_envelope(envelope, lookup)
    return info.value.code


def test_missing_signature() -> None:
    assert _verify_code(_envelope()) == "missing_signature"
    # Signed by another key than the one the envelope names.
    envelope = sign_envelope(_envelope(), ORIGIN, OTHER_KEY)
    assert _verify_code(envelope) == "missing_signature"


@pytest.mark.parametrize("bad", ["***", "YQ", b64encode_unpadded(bytes(63)), 12, None])
def test_malformed_signature(bad: Any) -> None:
    envelope = _signed()
    envelope["signatures"][ORIGIN][KEY.key_id] = bad
    code = _verify_code(envelope)
    assert code in {"malformed_signature", "invalid_field", "missing_signature"}
    if isinstance(bad, str):
        assert code == "malformed_signature"


def test_unknown_key() -> None:
    assert _verify_code(_signed(), keys={}) == "unknown_key"


def test_tampered_payload_fails() -> None:
    envelope = _signed()
    envelope["payload"]["value"] = "99.9"
    assert _verify_code(envelope) == "bad_signature"


def test_wrong_public_key_fails() -> None:
    assert _verify_code(_signed(), keys={(ORIGIN, KEY.key_id): OTHER_KEY.public_raw}) == (
        "bad_signature"
    )


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({"value": 12.5}, "float_not_allowed"),
        ({"value": 1.0}, "float_not_allowed"),
        ({"n": 2**53}, "integer_out_of_range"),
        ({"n": -(2**53)}, "integer_out_of_range"),
        ({"deep": [[{"x": 0.1}]]}, "float_not_allowed"),
    ],
)
def test_payload_rules_enforced_when_building(payload: dict[str, Any], code: str) -> None:
    with pytest.raises(EnvelopeError) as info:
        _envelope(payload=payload)
    assert info.value.code == code


@pytest.mark.parametrize(
    ("raw_payload", "code"),
    [
        ('{"value": 12.5}', "float_not_allowed"),
        ('{"n": 9007199254740992}', "integer_out_of_range"),
        ('{"n": 1e3}', "float_not_allowed"),
    ],
)
def test_payload_rules_enforced_on_received_envelopes(raw_payload: str, code: str) -> None:
    envelope = _signed()
    text = json.dumps(envelope).replace(json.dumps(envelope["payload"]), raw_payload)
    received = loads_strict(text)
    assert _verify_code(received) == code


def test_duplicate_keys_in_received_envelope_are_rejected_by_the_parser() -> None:
    text = json.dumps(_signed())
    duplicated = text.replace('"seq": 42', '"seq": 42, "seq": 43')
    with pytest.raises(CanonicalJSONError) as info:
        loads_strict(duplicated)
    assert info.value.code == "duplicate_key"


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("v", 2, "unsupported_version"),
        ("v", True, "invalid_field"),
        ("seq", 2**53, "invalid_field"),
        ("seq", -1, "invalid_field"),
        ("seq", True, "invalid_field"),
        ("seq", "42", "invalid_field"),
        ("created_ts", 1.5, "invalid_field"),
        ("origin", "Be-Gent", "invalid_field"),
        ("origin", "x", "invalid_field"),
        ("key_id", "ed25519:has space", "invalid_field"),
        ("audience", ["ok", 3], "invalid_field"),
        ("payload", [], "invalid_field"),
        ("signatures", [], "invalid_field"),
        ("unsigned", "note", "invalid_field"),
    ],
)
def test_envelope_structure_errors(field: str, value: Any, code: str) -> None:
    envelope = _signed()
    envelope[field] = value
    assert _verify_code(envelope) == code


@pytest.mark.parametrize("field", ["v", "type", "origin", "seq", "payload", "key_id"])
def test_missing_members(field: str) -> None:
    envelope = _signed()
    del envelope[field]
    assert _verify_code(envelope) == "missing_field"


@pytest.mark.parametrize("value", [None, [], "text", 3])
def test_non_object_envelope(value: Any) -> None:
    assert _verify_code(value) == "invalid_envelope"


def test_created_ts_in_the_future() -> None:
    check_created_ts(NOW + 300_000, NOW)
    with pytest.raises(EnvelopeError) as info:
        check_created_ts(NOW + 300_001, NOW)
    assert info.value.code == "future_document"


def test_envelope_sha256_is_over_the_signed_bytes() -> None:
    envelope = _signed()
    expected = envelope_sha256(envelope)
    assert len(expected) == 64
    assert envelope_sha256(json.dumps(envelope, indent=1).encode()) == expected
    assert envelope_sha256(envelope_signing_bytes(envelope)) == expected
    assert envelope_sha256(sign_envelope(envelope, ORIGIN, OTHER_KEY)) == expected
    assert envelope_sha256(_signed(seq=43)) != expected
    with pytest.raises(EnvelopeError):
        envelope_sha256(b"[1, 2]")
    with pytest.raises(EnvelopeError):
        envelope_sha256(b'{"a": 1, "a": 1}')


# --- properties ----------------------------------------------------------------------------------

SIGNED_MESSAGE = envelope_signing_bytes(_signed())
SIGNATURE = KEY.sign(SIGNED_MESSAGE)


@settings(max_examples=examples(300), deadline=None)
@given(st.integers(min_value=0, max_value=len(SIGNED_MESSAGE) - 1), st.integers(1, 255))
def test_any_changed_byte_in_signed_bytes_fails(index: int, xor: int) -> None:
    tampered = bytearray(SIGNED_MESSAGE)
    tampered[index] ^= xor
    assert verify_ed25519(KEY.public_raw, SIGNATURE, SIGNED_MESSAGE)
    assert not verify_ed25519(KEY.public_raw, SIGNATURE, bytes(tampered))


@settings(max_examples=examples(300), deadline=None)
@given(st.integers(min_value=0, max_value=63), st.integers(1, 255))
def test_any_changed_byte_in_signature_fails(index: int, xor: int) -> None:
    tampered = bytearray(SIGNATURE)
    tampered[index] ^= xor
    assert not verify_ed25519(KEY.public_raw, bytes(tampered), SIGNED_MESSAGE)
    envelope = _signed()
    envelope["signatures"][ORIGIN][KEY.key_id] = b64encode_unpadded(bytes(tampered))
    with pytest.raises(SignatureError) as info:
        verify_envelope_signature(envelope, ORIGIN, KEY.key_id, KEY.public_raw)
    assert info.value.code == "bad_signature"


@settings(max_examples=examples(100), deadline=None)
@given(
    st.sampled_from(["type", "schema", "stream", "seq", "created_ts", "audience", "payload"]),
    # NUL is refused by the payload rules before the signature is looked at (another error).
    st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=5),
)
def test_any_changed_member_fails(field: str, suffix: str) -> None:
    envelope = _signed()
    original = envelope[field]
    if isinstance(original, int):
        envelope[field] = original + 1 + len(suffix)
    elif isinstance(original, list):
        envelope[field] = [*original, "x" + suffix]
    elif isinstance(original, dict):
        envelope[field] = {**original, "extra": suffix}
    else:
        envelope[field] = original + "x" + suffix
    with pytest.raises(SignatureError):
        verify_envelope_signature(envelope, ORIGIN, KEY.key_id, KEY.public_raw)


# --- key documents -----------------------------------------------------------------------------


def test_key_document_round_trip() -> None:
    document = build_key_document(ORIGIN, KEY, now_ms=NOW, seq=1)
    assert document["type"] == "hrc.keys"
    assert document["schema"] == "hrc.keys/1"
    assert document["stream"] == "keys"
    assert document["payload"] == {
        "verify_keys": {KEY.key_id: {"key": KEY.public_b64}},
        "old_verify_keys": {},
        "valid_until_ts": NOW + 86_400_000,
    }
    keydoc = verify_key_document(loads_strict(json.dumps(document)), ORIGIN, NOW + 1000)
    assert keydoc.verify_keys == {KEY.key_id: KEY.public_raw}
    assert keydoc.valid_until_ts == NOW + 86_400_000
    assert keydoc.signed_by == [KEY.key_id]
    assert keydoc.is_fresh(NOW + 1000)
    assert not keydoc.is_fresh(NOW + 86_400_000)
    assert keydoc.public_key_for(KEY.key_id, NOW) == KEY.public_raw


def _key_document_code(document: Any, origin: str = ORIGIN, now: int = NOW) -> str:
    with pytest.raises(EnvelopeError) as info:
        verify_key_document(document, origin, now)
    return info.value.code


def _custom_key_document(payload: dict[str, Any], signer: SigningKey = KEY, **kw: Any) -> Any:
    fields: dict[str, Any] = {
        "type": "hrc.keys",
        "schema": "hrc.keys/1",
        "origin": ORIGIN,
        "stream": "keys",
        "seq": 1,
        "created_ts": NOW,
        "key_id": signer.key_id,
        "audience": ["network"],
        "payload": payload,
    }
    fields.update(kw)
    return sign_envelope(make_envelope(**fields), fields["origin"], signer)


def test_key_document_validity_is_capped_at_seven_days() -> None:
    document = _custom_key_document(
        {
            "verify_keys": {KEY.key_id: {"key": KEY.public_b64}},
            "old_verify_keys": {},
            "valid_until_ts": NOW + 365 * 86_400_000,
        }
    )
    keydoc = verify_key_document(document, ORIGIN, NOW)
    assert keydoc.valid_until_ts == NOW + MAX_KEY_DOCUMENT_VALIDITY_MS
    with pytest.raises(KeyDocumentError):
        build_key_document(ORIGIN, KEY, now_ms=NOW, valid_for_ms=MAX_KEY_DOCUMENT_VALIDITY_MS + 1)


def test_expired_key_document_rejected() -> None:
    document = build_key_document(ORIGIN, KEY, now_ms=NOW, valid_for_ms=HOUR)
    assert _key_document_code(document, now=NOW + HOUR) == "expired_key_document"


def test_key_document_for_another_origin_rejected() -> None:
    document = build_key_document("it-padova", KEY, now_ms=NOW)
    assert _key_document_code(document, origin=ORIGIN) == "wrong_origin"


def test_future_key_document_rejected() -> None:
    document = build_key_document(ORIGIN, KEY, now_ms=NOW + 10 * 60_000)
    assert _key_document_code(document) == "future_document"


def test_key_document_must_be_signed_by_a_listed_current_key() -> None:
    payload = {
        "verify_keys": {OTHER_KEY.key_id: {"key": OTHER_KEY.public_b64}},
        "old_verify_keys": {KEY.key_id: {"key": KEY.public_b64, "expired_ts": NOW + HOUR}},
        "valid_until_ts": NOW + HOUR,
    }
    assert _key_document_code(_custom_key_document(payload)) == "unknown_key"


def test_tampered_key_document_rejected() -> None:
    document = build_key_document(ORIGIN, KEY, now_ms=NOW)
    document["payload"]["valid_until_ts"] += 1
    assert _key_document_code(document) == "bad_signature"
    # Swapping in an attacker's key under the same key id breaks the self-signature too.
    document = build_key_document(ORIGIN, KEY, now_ms=NOW)
    document["payload"]["verify_keys"][KEY.key_id]["key"] = OTHER_KEY.public_b64
    assert _key_document_code(document) == "bad_signature"


@pytest.mark.parametrize(
    "payload",
    [
        {"verify_keys": {}, "valid_until_ts": NOW + HOUR},
        {"verify_keys": {KEY.key_id: {"key": "AAAA"}}, "valid_until_ts": NOW + HOUR},
        {"verify_keys": {KEY.key_id: {"key": "!!"}}, "valid_until_ts": NOW + HOUR},
        {"verify_keys": {KEY.key_id: "nope"}, "valid_until_ts": NOW + HOUR},
        {"verify_keys": {KEY.key_id: {"key": KEY.public_b64}}},
        {"verify_keys": {KEY.key_id: {"key": KEY.public_b64}}, "valid_until_ts": "soon"},
        {
            "verify_keys": {KEY.key_id: {"key": KEY.public_b64}},
            "old_verify_keys": {KEY.key_id: {"key": KEY.public_b64, "expired_ts": NOW}},
            "valid_until_ts": NOW + HOUR,
        },
        {
            "verify_keys": {KEY.key_id: {"key": KEY.public_b64}},
            "old_verify_keys": {OTHER_KEY.key_id: {"key": OTHER_KEY.public_b64}},
            "valid_until_ts": NOW + HOUR,
        },
    ],
)
def test_malformed_key_document_payloads(payload: dict[str, Any]) -> None:
    assert _key_document_code(_custom_key_document(payload)) == "invalid_key_document"


def test_wrong_document_type() -> None:
    document = _custom_key_document(
        {"verify_keys": {KEY.key_id: {"key": KEY.public_b64}}, "valid_until_ts": NOW + HOUR},
        type="hrc.summary",
    )
    assert _key_document_code(document) == "wrong_document_type"


# --- rotation ----------------------------------------------------------------------------------

OLD, NEW = KEY, OTHER_KEY
EXPIRED_TS = NOW + HOUR


def _rotation_document() -> dict[str, Any]:
    return build_key_document(
        ORIGIN,
        NEW,
        old_keys=[OldVerifyKey(OLD.key_id, OLD.public_raw, EXPIRED_TS)],
        now_ms=NOW,
        seq=2,
        co_signing_key=OLD,
    )


def test_rotation_document_is_co_signed_and_verifies_with_both_keys() -> None:
    document = _rotation_document()
    assert set(document["signatures"][ORIGIN]) == {OLD.key_id, NEW.key_id}
    verify_envelope_signature(document, ORIGIN, NEW.key_id, NEW.public_raw)
    verify_envelope_signature(document, ORIGIN, OLD.key_id, OLD.public_raw)
    keydoc = verify_key_document(document, ORIGIN, NOW)
    assert sorted(keydoc.signed_by) == sorted([NEW.key_id, OLD.key_id])
    assert keydoc.verify_keys == {NEW.key_id: NEW.public_raw}
    assert keydoc.old_verify_keys[OLD.key_id].expired_ts == EXPIRED_TS


def test_rotation_co_signature_must_be_valid() -> None:
    document = _rotation_document()
    document["signatures"][ORIGIN][OLD.key_id] = b64encode_unpadded(bytes(64))
    assert _key_document_code(document) == "bad_signature"


def test_old_key_refuses_documents_created_after_expiry() -> None:
    keydoc = verify_key_document(_rotation_document(), ORIGIN, NOW)
    assert key_valid_at(keydoc, OLD.key_id, EXPIRED_TS - 1)
    assert not key_valid_at(keydoc, OLD.key_id, EXPIRED_TS)
    assert not key_valid_at(keydoc, OLD.key_id, EXPIRED_TS + HOUR)
    assert key_valid_at(keydoc, NEW.key_id, EXPIRED_TS + HOUR)
    assert not key_valid_at(keydoc, "ed25519:unknown", NOW)

    def lookup(origin: str, key_id: str, created_ts: int) -> bytes | None:
        return keydoc.public_key_for(key_id, created_ts) if origin == ORIGIN else None

    before = sign_envelope(_envelope(created_ts=EXPIRED_TS - 1, key_id=OLD.key_id), ORIGIN, OLD)
    assert verify_envelope(before, lookup) == [(ORIGIN, OLD.key_id)]
    after = sign_envelope(_envelope(created_ts=EXPIRED_TS, key_id=OLD.key_id), ORIGIN, OLD)
    with pytest.raises(SignatureError) as info:
        verify_envelope(after, lookup)
    assert info.value.code == "unknown_key"


@settings(max_examples=examples(200), deadline=None)
@given(st.integers(0, 2**53 - 1), st.integers(0, 2**53 - 1))
def test_old_key_validity_property(created_ts: int, expired_ts: int) -> None:
    keydoc = verify_key_document(_rotation_document(), ORIGIN, NOW)
    rotated = type(keydoc)(
        origin=keydoc.origin,
        seq=keydoc.seq,
        created_ts=keydoc.created_ts,
        valid_until_ts=keydoc.valid_until_ts,
        verify_keys=keydoc.verify_keys,
        old_verify_keys={OLD.key_id: OldVerifyKey(OLD.key_id, OLD.public_raw, expired_ts)},
    )
    assert key_valid_at(rotated, OLD.key_id, created_ts) is (created_ts < expired_ts)


def test_co_signing_with_an_already_expired_old_key_is_refused() -> None:
    with pytest.raises(KeyDocumentError):
        build_key_document(
            ORIGIN,
            NEW,
            old_keys=[OldVerifyKey(OLD.key_id, OLD.public_raw, NOW)],
            now_ms=NOW,
            co_signing_key=OLD,
        )


def test_co_signing_key_not_yet_retired_is_listed_as_current() -> None:
    document = build_key_document(ORIGIN, NEW, now_ms=NOW, co_signing_key=OLD)
    assert set(document["payload"]["verify_keys"]) == {NEW.key_id, OLD.key_id}
    keydoc = verify_key_document(document, ORIGIN, NOW)
    assert sorted(keydoc.signed_by) == sorted([NEW.key_id, OLD.key_id])


def test_canonical_error_is_not_leaked_from_envelope_functions() -> None:
    with pytest.raises(EnvelopeError):
        envelope_signing_bytes({"payload": {"x": float("nan")}})
    with pytest.raises(EnvelopeError):
        envelope_signing_bytes("not a mapping")  # type: ignore[arg-type]


def test_signature_count_is_bounded() -> None:
    envelope = _signed()
    envelope["signatures"]["network-secretariat"] = {
        f"ed25519:k{index}": b64encode_unpadded(bytes(64)) for index in range(16)
    }
    assert _verify_code(envelope) == "too_many_signatures"


def test_build_key_document_defaults_to_the_current_time() -> None:
    before = int(time.time() * 1000)
    document = build_key_document(ORIGIN, KEY)
    assert before <= document["created_ts"] <= int(time.time() * 1000)
    assert verify_key_document(document, ORIGIN, document["created_ts"]).signed_by == [KEY.key_id]
