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
    KeyDocumentError,
    SignatureError,
    build_key_document,
    make_envelope,
    sign_envelope,
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
        "hrc.summary", "hrc.summary/1", ORIGIN, "summaries", 1, NOW, KEY.key_id, ["network"],
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
