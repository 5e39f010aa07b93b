"""Envelope and key-document verification: edges that mutation testing found unpinned.

Every refusal is checked by its machine-readable ``code`` (the codes listed in the docstrings
of :mod:`federation.envelope` and in docs/protocol.md), and the revoked-keys section of a key
document is read back exactly as it was written.
"""

from __future__ import annotations

from typing import Any

import pytest

from federation.envelope import (
    KEYS_SCHEMA,
    KEYS_STREAM,
    KEYS_TYPE,
    EnvelopeError,
    KeyDocumentError,
    OldVerifyKey,
    SignatureError,
    build_key_document,
    envelope_sha256,
    envelope_signing_bytes,
    make_envelope,
    sign_envelope,
    validate_envelope,
    verify_envelope,
    verify_envelope_signature,
    verify_key_document,
)
from federation.keys import SigningKey, b64encode_unpadded

NOW = 1_767_225_600_000
HOUR = 3_600_000
ORIGIN = "be-gent"
KEY = SigningKey.from_seed(bytes(range(32)))
OLD = SigningKey.from_seed(bytes(range(5, 37)))


def _key_document(revoked_section: Any) -> dict[str, Any]:
    """A properly self-signed key document whose payload carries ``revoked_section``."""
    payload = {
        "verify_keys": {KEY.key_id: {"key": KEY.public_b64}},
        "old_verify_keys": {},
        "valid_until_ts": NOW + HOUR,
        "revoked_keys": revoked_section,
    }
    envelope = make_envelope(
        KEYS_TYPE, KEYS_SCHEMA, ORIGIN, KEYS_STREAM, 1, NOW, KEY.key_id, ["network"], payload
    )
    return sign_envelope(envelope, ORIGIN, KEY)


def test_revoked_keys_are_read_back_with_their_times() -> None:
    doc = build_key_document(ORIGIN, KEY, now_ms=NOW, revoked={OLD.key_id: NOW - HOUR})
    keydoc = verify_key_document(doc, ORIGIN, NOW)
    assert keydoc.revoked == {OLD.key_id: NOW - HOUR}
    assert keydoc.public_key_for(OLD.key_id, NOW - 2 * HOUR) is None


def test_a_key_document_without_revoked_keys_revokes_nothing() -> None:
    keydoc = verify_key_document(build_key_document(ORIGIN, KEY, now_ms=NOW), ORIGIN, NOW)
    assert keydoc.revoked == {}


@pytest.mark.parametrize(
    "section",
    [
        ["k1"],  # not an object
        {OLD.key_id: NOW},  # an entry that is not an object
        {OLD.key_id: {}},  # no revoked_ts
        {OLD.key_id: {"revoked_ts": True}},  # a boolean is not a time
        {OLD.key_id: {"revoked_ts": "1767225600000"}},
        {"not a key id!": {"revoked_ts": NOW}},
    ],
)
def test_malformed_revoked_keys_are_refused(section: Any) -> None:
    with pytest.raises(KeyDocumentError) as refused:
        verify_key_document(_key_document(section), ORIGIN, NOW)
    assert refused.value.code == "invalid_key_document"


def test_a_well_formed_revoked_section_in_a_hand_built_document_is_accepted() -> None:
    keydoc = verify_key_document(_key_document({OLD.key_id: {"revoked_ts": NOW}}), ORIGIN, NOW)
    assert keydoc.revoked == {OLD.key_id: NOW}


# --- signatures: each failure by its code --------------------------------------------------------


def _signed_summary() -> dict[str, Any]:
    envelope = make_envelope(
        "hrc.summary",
        "hrc.summary/1",
        ORIGIN,
        "summaries",
        1,
        NOW,
        KEY.key_id,
        ["network"],
        {"period": "2025"},
    )
    return sign_envelope(envelope, ORIGIN, KEY)


def _with_signature(value: Any) -> dict[str, Any]:
    envelope = _signed_summary()
    envelope["signatures"] = {ORIGIN: {KEY.key_id: value}}
    return envelope


@pytest.mark.parametrize(
    ("value", "code"),
    [
        (12345, "malformed_signature"),  # not a string
        ("!!not base64!!", "malformed_signature"),
        (b64encode_unpadded(bytes(63)), "malformed_signature"),  # one byte short
        (b64encode_unpadded(bytes(65)), "malformed_signature"),  # one byte too many
        (b64encode_unpadded(bytes(64)), "bad_signature"),  # the right size, the wrong bytes
    ],
)
def test_signature_refusals_carry_their_code(value: Any, code: str) -> None:
    with pytest.raises(SignatureError) as refused:
        verify_envelope_signature(_with_signature(value), ORIGIN, KEY.key_id, KEY.public_raw)
    assert refused.value.code == code


@pytest.mark.parametrize(
    "signatures",
    [{}, {ORIGIN: {}}, {"it-padova": {KEY.key_id: "AAAA"}}, {ORIGIN: "not an object"}, []],
)
def test_a_missing_signature_is_missing(signatures: Any) -> None:
    envelope = _signed_summary()
    envelope["signatures"] = signatures
    with pytest.raises(SignatureError) as refused:
        verify_envelope_signature(envelope, ORIGIN, KEY.key_id, KEY.public_raw)
    assert refused.value.code == "missing_signature"


def test_the_right_signature_verifies() -> None:
    verify_envelope_signature(_signed_summary(), ORIGIN, KEY.key_id, KEY.public_raw)


# --- shape limits at their edges -----------------------------------------------------------

MAX_SAFE = 2**53 - 1


def _shape(**changes: Any) -> dict[str, Any]:
    envelope = _signed_summary()
    envelope.update(changes)
    return envelope


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"seq": MAX_SAFE}, None),
        ({"seq": MAX_SAFE + 1}, "invalid_field"),
        ({"created_ts": 0}, None),
        ({"created_ts": -1}, "invalid_field"),
        ({"type": "t" * 200}, None),
        ({"type": "t" * 201}, "invalid_field"),
        ({"stream": ""}, "invalid_field"),
        ({"v": 2}, "unsupported_version"),
        ({"signatures": {ORIGIN: {f"ed25519:k{i}": "AAAA" for i in range(16)}}}, None),
        (
            {"signatures": {ORIGIN: {f"ed25519:k{i}": "AAAA" for i in range(17)}}},
            "too_many_signatures",
        ),
        ({"signatures": {ORIGIN: {KEY.key_id: 5}}}, "invalid_field"),
        ({"signatures": {ORIGIN: "AAAA"}}, "invalid_field"),
    ],
)
def test_shape_limits(changes: dict[str, Any], code: str | None) -> None:

    if code is None:
        validate_envelope(_shape(**changes))
    else:
        with pytest.raises(EnvelopeError) as refused:
            validate_envelope(_shape(**changes))
        assert refused.value.code == code


def test_a_non_object_is_not_an_envelope() -> None:

    for bad in ([], "x", 1):
        with pytest.raises(EnvelopeError) as refused:
            validate_envelope(bad)
        assert refused.value.code == "invalid_envelope"
        assert str(refused.value) == "envelope must be a JSON object"
    with pytest.raises(EnvelopeError) as refused:
        envelope_sha256(b"[1, 2]")
    assert refused.value.code == "invalid_envelope"
    assert str(refused.value) == "envelope must be a JSON object"


def test_wrapped_errors_keep_the_underlying_code() -> None:

    with pytest.raises(EnvelopeError) as refused:
        envelope_sha256(b'{"a": 1, "a": 2}')  # duplicate member: the strict parser's code
    assert refused.value.code not in ("invalid_envelope", None)
    doc = build_key_document(ORIGIN, KEY, now_ms=NOW)
    doc["v"] = 2
    with pytest.raises(KeyDocumentError) as refused_doc:
        verify_key_document(doc, ORIGIN, NOW)
    assert refused_doc.value.code == "unsupported_version"


# --- key documents: validity edges --------------------------------------------------------------


def test_a_current_key_verifies_up_to_and_including_valid_until() -> None:
    keydoc = verify_key_document(
        build_key_document(ORIGIN, KEY, now_ms=NOW, valid_for_ms=HOUR), ORIGIN, NOW
    )
    assert keydoc.valid_until_ts == NOW + HOUR
    assert keydoc.public_key_for(KEY.key_id, NOW + HOUR) == KEY.public_raw
    assert keydoc.public_key_for(KEY.key_id, NOW + HOUR + 1) is None
    assert (keydoc.seq, keydoc.created_ts) == (0, NOW)


@pytest.mark.parametrize(
    ("valid_for_ms", "ok"),
    [(0, False), (1, True), (7 * 86_400_000, True), (7 * 86_400_000 + 1, False), (-1, False)],
)
def test_key_document_validity_window(valid_for_ms: int, ok: bool) -> None:
    if ok:
        build_key_document(ORIGIN, KEY, now_ms=NOW, valid_for_ms=valid_for_ms)
    else:
        with pytest.raises(KeyDocumentError) as refused:
            build_key_document(ORIGIN, KEY, now_ms=NOW, valid_for_ms=valid_for_ms)
        assert refused.value.code == "invalid_key_document"


@pytest.mark.parametrize(("now_ms", "ok"), [(1, True), (0, False), (-1, False)])
def test_key_document_creation_time_must_be_positive(now_ms: int, ok: bool) -> None:
    if ok:
        assert build_key_document(ORIGIN, KEY, now_ms=now_ms)["created_ts"] == now_ms
    else:
        with pytest.raises(KeyDocumentError):
            build_key_document(ORIGIN, KEY, now_ms=now_ms)


def test_a_revoked_key_cannot_be_listed_as_a_verify_key() -> None:
    with pytest.raises(KeyDocumentError):
        build_key_document(ORIGIN, KEY, now_ms=NOW, revoked={KEY.key_id: NOW})
    old = OldVerifyKey(OLD.key_id, OLD.public_raw, NOW + HOUR)
    with pytest.raises(KeyDocumentError):
        build_key_document(ORIGIN, KEY, [old], now_ms=NOW, revoked={OLD.key_id: NOW})
    # A key in neither list may be revoked.
    other = SigningKey.from_seed(bytes(range(9, 41)))
    doc = build_key_document(ORIGIN, KEY, [old], now_ms=NOW, revoked={other.key_id: NOW})
    assert verify_key_document(doc, ORIGIN, NOW).revoked == {other.key_id: NOW}


def test_an_old_key_with_a_malformed_public_key_is_refused() -> None:
    with pytest.raises(KeyDocumentError):
        build_key_document(
            ORIGIN, KEY, [OldVerifyKey(OLD.key_id, bytes(31), NOW + HOUR)], now_ms=NOW
        )
    with pytest.raises(KeyDocumentError):
        build_key_document(
            ORIGIN, KEY, [OldVerifyKey(KEY.key_id, KEY.public_raw, NOW + HOUR)], now_ms=NOW
        )


# --- signing and co-signatures --------------------------------------------------------------

NOTARY = SigningKey.from_seed(bytes(range(2, 34)))
NOTARY_2 = SigningKey.from_seed(bytes(range(3, 35)))


def test_a_signer_must_be_a_city_id() -> None:
    with pytest.raises(EnvelopeError) as refused:
        sign_envelope(_signed_summary(), "Not A City", KEY)
    assert refused.value.code == "invalid_field"


def test_the_payload_is_copied_deeply_when_the_envelope_is_made() -> None:
    payload = {"period": "2025", "figures": [{"value": "1"}]}
    envelope = make_envelope(
        "hrc.summary",
        "hrc.summary/1",
        ORIGIN,
        "summaries",
        1,
        NOW,
        KEY.key_id,
        ["network"],
        payload,
    )
    payload["figures"][0]["value"] = "2"
    assert envelope["payload"]["figures"] == [{"value": "1"}]


def test_every_known_co_signature_is_verified_and_listed() -> None:
    # The origin signs with its key and, rotating, with a second key; a notary signs with two
    # keys of which the lookup knows only the second.
    envelope = sign_envelope(_signed_summary(), ORIGIN, OLD)
    envelope = sign_envelope(envelope, "hrc-secretariat", NOTARY)
    envelope = sign_envelope(envelope, "hrc-secretariat", NOTARY_2)
    known = {
        (ORIGIN, KEY.key_id): KEY.public_raw,
        (ORIGIN, OLD.key_id): OLD.public_raw,
        ("hrc-secretariat", NOTARY_2.key_id): NOTARY_2.public_raw,
    }
    asked: list[tuple[str, str]] = []

    def lookup(signer: str, key_id: str, created_ts: int) -> bytes | None:
        asked.append((signer, key_id))
        return known.get((signer, key_id))

    verified = verify_envelope(envelope, lookup)
    assert sorted(verified) == sorted(known)
    assert ("hrc-secretariat", NOTARY.key_id) in asked


def test_junk_signer_names_are_never_looked_up() -> None:
    envelope = _signed_summary()
    envelope["signatures"]["Bad Name"] = {KEY.key_id: envelope["signatures"][ORIGIN][KEY.key_id]}
    envelope["signatures"]["it-padova"] = {"not-a-key-id": "AAAA"}
    asked: list[tuple[str, str]] = []

    def lookup(signer: str, key_id: str, created_ts: int) -> bytes | None:
        asked.append((signer, key_id))
        return KEY.public_raw

    assert verify_envelope(envelope, lookup) == [(ORIGIN, KEY.key_id)]
    assert asked == [(ORIGIN, KEY.key_id)]


def test_an_envelope_without_signatures_is_refused_as_unsigned() -> None:
    envelope = _signed_summary()
    del envelope["signatures"]
    with pytest.raises(SignatureError) as refused:
        verify_envelope(envelope, lambda *_: KEY.public_raw)
    assert refused.value.code == "missing_signature"


# --- hand-built key documents ---------------------------------------------------------------


def _key_document_with(payload: dict[str, Any]) -> dict[str, Any]:
    envelope = make_envelope(
        KEYS_TYPE, KEYS_SCHEMA, ORIGIN, KEYS_STREAM, 1, NOW, KEY.key_id, ["network"], payload
    )
    return sign_envelope(envelope, ORIGIN, KEY)


def test_old_verify_keys_may_be_left_out() -> None:
    doc = _key_document_with(
        {"verify_keys": {KEY.key_id: {"key": KEY.public_b64}}, "valid_until_ts": NOW + HOUR}
    )
    keydoc = verify_key_document(doc, ORIGIN, NOW)
    assert keydoc.old_verify_keys == {} and keydoc.revoked == {}


def test_a_key_both_revoked_and_old_is_refused() -> None:
    doc = _key_document_with(
        {
            "verify_keys": {KEY.key_id: {"key": KEY.public_b64}},
            "old_verify_keys": {OLD.key_id: {"key": OLD.public_b64, "expired_ts": NOW + HOUR}},
            "valid_until_ts": NOW + HOUR,
            "revoked_keys": {OLD.key_id: {"revoked_ts": NOW}},
        }
    )
    with pytest.raises(KeyDocumentError) as refused:
        verify_key_document(doc, ORIGIN, NOW)
    assert refused.value.code == "invalid_key_document"
    old_key = verify_key_document(
        _key_document_with(
            {
                "verify_keys": {KEY.key_id: {"key": KEY.public_b64}},
                "old_verify_keys": {OLD.key_id: {"key": OLD.public_b64, "expired_ts": NOW + 5}},
                "valid_until_ts": NOW + HOUR,
            }
        ),
        ORIGIN,
        NOW,
    ).old_verify_keys[OLD.key_id]
    assert (old_key.key_id, old_key.public_raw, old_key.expired_ts) == (
        OLD.key_id,
        OLD.public_raw,
        NOW + 5,
    )


def test_a_junk_key_id_does_not_hide_the_signer_s_next_signature() -> None:
    envelope = sign_envelope(_signed_summary(), "hrc-secretariat", NOTARY)
    by_key = envelope["signatures"]["hrc-secretariat"]
    envelope["signatures"]["hrc-secretariat"] = {"not-a-key-id": "AAAA", **by_key}

    def lookup(signer: str, key_id: str, created_ts: int) -> bytes | None:
        return {KEY.key_id: KEY.public_raw, NOTARY.key_id: NOTARY.public_raw}.get(key_id)

    assert verify_envelope(envelope, lookup) == [
        (ORIGIN, KEY.key_id),
        ("hrc-secretariat", NOTARY.key_id),
    ]


def test_signing_bytes_refuse_what_cannot_be_canonicalised_with_its_code() -> None:
    with pytest.raises(EnvelopeError) as refused:
        envelope_signing_bytes([])  # type: ignore[arg-type]
    assert (refused.value.code, str(refused.value)) == (
        "invalid_envelope",
        "envelope must be a JSON object",
    )
    with pytest.raises(EnvelopeError) as refused:
        envelope_signing_bytes({"payload": {"x": 1.5}})
    assert refused.value.code not in (None, "invalid_envelope")
    assert "float" in str(refused.value)


# --- what a refusal says (the detail a peer reads in the problem document) ------------------------


def _message(call: Any) -> str:
    with pytest.raises(EnvelopeError) as refused:
        call()
    return str(refused.value)


def _verify_with(value: Any) -> Any:
    return lambda: verify_envelope_signature(
        _with_signature(value), ORIGIN, KEY.key_id, KEY.public_raw
    )


def test_signature_refusals_say_what_is_wrong() -> None:
    assert _message(_verify_with(12345)) == "signature must be a base64 string"
    assert _message(_verify_with(b64encode_unpadded(bytes(63)))) == (
        "an Ed25519 signature is 64 bytes"
    )
    assert _message(_verify_with("!!not base64!!")).startswith("signature is not base64: ")
    assert _message(_verify_with(b64encode_unpadded(bytes(64)))) == (
        f"signature by {ORIGIN} with {KEY.key_id} does not verify"
    )
    envelope = _signed_summary()
    envelope["signatures"] = {}
    assert (
        _message(lambda: verify_envelope_signature(envelope, ORIGIN, KEY.key_id, KEY.public_raw))
        == f"no signature by {ORIGIN} with {KEY.key_id}"
    )


def test_shape_refusals_say_what_is_wrong() -> None:
    assert _message(lambda: validate_envelope(_shape(seq=-1))) == "seq must be within 0..2**53-1"
    assert _message(lambda: validate_envelope(_shape(type=""))) == (
        "type must be a non-empty string"
    )
    assert _message(lambda: validate_envelope(_shape(v=2))) == "unsupported envelope version 2"
    many = {ORIGIN: {f"ed25519:k{i}": "AAAA" for i in range(17)}}
    assert _message(lambda: validate_envelope(_shape(signatures=many))) == (
        "more than 16 signatures"
    )
    assert _message(lambda: validate_envelope(_shape(signatures={ORIGIN: "x"}))) == (
        "signatures must map signer -> key_id -> string"
    )
    assert _message(lambda: sign_envelope(_signed_summary(), "Bad", KEY)) == (
        "signer 'Bad' is not a valid city id"
    )


def test_key_document_refusals_say_what_is_wrong() -> None:
    assert _message(lambda: build_key_document(ORIGIN, KEY, now_ms=0)) == (
        "now_ms must be a positive millisecond timestamp"
    )
    assert _message(lambda: build_key_document(ORIGIN, KEY, now_ms=NOW, valid_for_ms=0)) == (
        "valid_for_ms must be within (0, 7 days]"
    )
    assert (
        _message(lambda: build_key_document(ORIGIN, KEY, now_ms=NOW, revoked={KEY.key_id: NOW}))
        == "a revoked key cannot also be listed as a verify key"
    )
    old = OldVerifyKey(OLD.key_id, bytes(31), NOW + HOUR)
    assert _message(lambda: build_key_document(ORIGIN, KEY, [old], now_ms=NOW)) == (
        f"old key {OLD.key_id} is current or malformed"
    )
    assert _message(lambda: verify_key_document(_key_document(["x"]), ORIGIN, NOW)) == (
        "revoked_keys must be an object"
    )
    assert _message(lambda: verify_key_document(_key_document({OLD.key_id: {}}), ORIGIN, NOW)) == (
        f"revoked_keys[{OLD.key_id!r}] needs an integer revoked_ts"
    )
    assert (
        _message(
            lambda: verify_key_document(
                build_key_document(ORIGIN, KEY, now_ms=NOW), "it-padova", NOW
            )
        )
        == "key document is for 'be-gent', expected 'it-padova'"
    )
    no_keys = _key_document_with({"verify_keys": {}, "valid_until_ts": NOW + HOUR})
    assert _message(lambda: verify_key_document(no_keys, ORIGIN, NOW)) == (
        "verify_keys must be a non-empty object"
    )
    bad_old = _key_document_with(
        {
            "verify_keys": {KEY.key_id: {"key": KEY.public_b64}},
            "old_verify_keys": [],
            "valid_until_ts": NOW + HOUR,
        }
    )
    assert _message(lambda: verify_key_document(bad_old, ORIGIN, NOW)) == (
        "old_verify_keys must be an object"
    )
    no_until = _key_document_with({"verify_keys": {KEY.key_id: {"key": KEY.public_b64}}})
    assert _message(lambda: verify_key_document(no_until, ORIGIN, NOW)) == (
        "valid_until_ts must be an integer"
    )
