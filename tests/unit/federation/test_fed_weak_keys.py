"""Small-order Ed25519 public keys are refused everywhere a key enters (federation.keys).

The list of refused encodings is checked against an independent computation: a few lines of
Edwards-curve arithmetic below find the whole torsion subgroup (the 8 points of small order)
from scratch, without using the constants of ``federation.keys``.
"""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from hypothesis import given
from hypothesis import strategies as st
from marshmallow import ValidationError

from federation.envelope import (
    KeyDocumentError,
    OldVerifyKey,
    build_key_document,
    make_envelope,
    sign_envelope,
    verify_key_document,
)
from federation.keys import (
    SMALL_ORDER_ENCODINGS,
    KeyFormatError,
    SigningKey,
    WeakPublicKeyError,
    b64encode_unpadded,
    check_public_key,
    is_weak_public_key,
    public_key_from_raw,
    verify_ed25519,
)
from schemas.keys import mentions_weak_key, validate_public_key_b64
from schemas.secretariat import DirectoryPayloadSchema
from tests.unit.federation.fed_vectors import load_vector_json

# --- an independent model of edwards25519 (affine coordinates, Python integers) ---------------

P = 2**255 - 19
D = -121665 * pow(121666, P - 2, P) % P
L = 2**252 + 27742317777372353535851937790883648493  # order of the prime subgroup
SQRT_M1 = pow(2, (P - 1) // 4, P)
IDENTITY = (0, 1)


def _add(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    (x1, y1), (x2, y2) = a, b
    t = D * x1 * x2 * y1 * y2 % P
    x3 = (x1 * y2 + y1 * x2) * pow(1 + t, P - 2, P) % P
    y3 = (y1 * y2 + x1 * x2) * pow(1 - t, P - 2, P) % P
    return x3, y3


def _times(n: int, point: tuple[int, int]) -> tuple[int, int]:
    result = IDENTITY
    while n:
        if n & 1:
            result = _add(result, point)
        point = _add(point, point)
        n >>= 1
    return result


def _x_for(y: int) -> int | None:
    """An x with (x, y) on the curve, or None (RFC 8032 5.1.3, without the sign bit)."""
    u, v = (y * y - 1) % P, (D * y * y + 1) % P
    x = u * pow(v, 3, P) * pow(u * pow(v, 7, P), (P - 5) // 8, P) % P
    if v * x * x % P == u:
        return x
    if v * x * x % P == -u % P:
        return x * SQRT_M1 % P
    return None


def _encode(point: tuple[int, int]) -> bytes:
    x, y = point
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def _torsion_subgroup() -> set[tuple[int, int]]:
    """All points of small order: the multiples of a point of order exactly 8, found by
    clearing the prime-order part ([L]Q) of points Q on the curve until one has order 8."""
    for y in range(2, 1000):
        x = _x_for(y)
        if x is None:
            continue
        torsion = _times(L, (x, y))
        if _times(4, torsion) != IDENTITY:  # order exactly 8
            return {_times(k, torsion) for k in range(8)}
    raise AssertionError("no point of order 8 found")


TORSION = _torsion_subgroup()

# --- the list -----------------------------------------------------------------------------------


def test_the_refused_encodings_are_exactly_the_small_order_points() -> None:
    assert len(TORSION) == 8
    assert all(_times(8, point) == IDENTITY for point in TORSION)
    canonical = {_encode(point) for point in TORSION}
    # Every small-order point, with either sign bit, and the non-canonical y + p forms.
    with_signs = {bytes(e[:31]) + bytes([e[31] ^ 0x80]) for e in canonical} | canonical
    y_values = {point[1] for point in TORSION}
    non_canonical = {
        ((y + P) | sign).to_bytes(32, "little")
        for y in y_values
        if y + P < 2**255
        for sign in (0, 1 << 255)
    }
    assert {y for y in y_values if y + P < 2**255} == {0, 1}
    assert with_signs | non_canonical == SMALL_ORDER_ENCODINGS
    assert len(SMALL_ORDER_ENCODINGS) == 14
    assert all(is_weak_public_key(e) for e in SMALL_ORDER_ENCODINGS)
    assert bytes(32) in SMALL_ORDER_ENCODINGS  # the all-zero key
    assert bytes([1]) + bytes(31) in SMALL_ORDER_ENCODINGS  # the identity


@given(st.binary(min_size=32, max_size=32))
def test_any_other_32_bytes_are_not_weak(raw: bytes) -> None:
    assert is_weak_public_key(raw) is (raw in SMALL_ORDER_ENCODINGS)


@given(st.binary(min_size=32, max_size=32))
def test_generated_keys_are_never_weak(seed: bytes) -> None:
    key = SigningKey.from_seed(seed)
    assert not is_weak_public_key(key.public_raw)
    assert check_public_key(key.public_raw) == key.public_raw


@pytest.mark.parametrize("raw", [b"", bytes(31), bytes(33), "0" * 32])
def test_wrong_lengths_are_a_format_error(raw: object) -> None:
    with pytest.raises(KeyFormatError) as info:
        is_weak_public_key(raw)  # type: ignore[arg-type]
    assert info.value.code == "invalid_public_key"


# --- why: a forgery that verifies for every message --------------------------------------------


def test_the_identity_key_verifies_anything_in_the_library_but_not_here() -> None:
    identity = bytes([1]) + bytes(31)
    forged = identity + bytes(32)  # R = identity, S = 0: no private key involved
    library_key = Ed25519PublicKey.from_public_bytes(identity)
    for message in (b"hrc.summary", b"any other message"):
        library_key.verify(forged, message)  # OpenSSL accepts it: it raises nothing
        assert not verify_ed25519(identity, forged, message)
    with pytest.raises(WeakPublicKeyError) as info:
        public_key_from_raw(identity)
    assert info.value.code == "weak_public_key"
    assert "small order" in str(info.value)


def test_no_conformance_vector_uses_a_weak_key() -> None:
    """Refusing small-order keys changes no RFC 8032 or Wycheproof result (those tests run in
    test_fed_vectors.py unchanged); this pins the reason."""
    wycheproof = load_vector_json("ed25519", "wycheproof_ed25519_test.json")
    keys = [bytes.fromhex(g["publicKey"]["pk"]) for g in wycheproof["testGroups"]]
    keys += [
        bytes.fromhex(v["public_key"])
        for v in load_vector_json("ed25519", "rfc8032.json")["vectors"]
    ]
    assert len(keys) == 78 + 5
    assert not any(is_weak_public_key(k) for k in keys)


# --- where keys enter ---------------------------------------------------------------------------

SIGNER = SigningKey.from_seed(bytes(range(32)))
NOW = 1_767_225_600_000


@pytest.mark.parametrize("weak", sorted(SMALL_ORDER_ENCODINGS))
def test_key_document_with_a_weak_old_key_is_refused(weak: bytes) -> None:
    document = build_key_document(
        "be-gent", SIGNER, [OldVerifyKey("ed25519:weak", weak, NOW + 1000)], now_ms=NOW
    )
    with pytest.raises(KeyDocumentError) as info:
        verify_key_document(document, "be-gent", NOW)
    assert info.value.code == "weak_public_key"
    assert "old_verify_keys[ed25519:weak]" in str(info.value)


def test_key_document_with_a_weak_current_key_is_refused() -> None:
    payload = {
        "verify_keys": {
            SIGNER.key_id: {"key": SIGNER.public_b64},
            "ed25519:zero": {"key": b64encode_unpadded(bytes(32))},
        },
        "old_verify_keys": {},
        "valid_until_ts": NOW + 86_400_000,
    }
    document = make_envelope(
        "hrc.keys", "hrc.keys/1", "be-gent", "keys", 1, NOW, SIGNER.key_id, ["network"], payload
    )
    document = sign_envelope(document, "be-gent", SIGNER)
    with pytest.raises(KeyDocumentError) as info:
        verify_key_document(document, "be-gent", NOW)
    assert info.value.code == "weak_public_key"


@pytest.mark.parametrize("weak", sorted(SMALL_ORDER_ENCODINGS))
def test_wire_schemas_refuse_weak_keys(weak: bytes) -> None:
    with pytest.raises(ValidationError) as info:
        validate_public_key_b64(b64encode_unpadded(weak))
    assert mentions_weak_key(info.value.messages)
    directory = {
        "members": [
            {
                "city_id": "be-gent",
                "name": "Gent",
                "base_url": "https://monitor.gent.example",
                "state": "active",
                "keys": [{"key_id": "ed25519:weak", "key": b64encode_unpadded(weak)}],
            }
        ],
        "valid_until_ts": NOW,
    }
    with pytest.raises(ValidationError) as info:
        DirectoryPayloadSchema().load(directory)
    assert mentions_weak_key(info.value.normalized_messages())
    directory["members"][0]["keys"][0]["key"] = SIGNER.public_b64
    assert DirectoryPayloadSchema().load(directory)["members"][0]["keys"][0]["key"]


def test_other_key_errors_are_not_reported_as_weak() -> None:
    with pytest.raises(ValidationError) as info:
        validate_public_key_b64("AAAA")
    assert not mentions_weak_key(info.value.messages)
    assert not mentions_weak_key({"a": [{"b": "something else"}], "c": 3})
