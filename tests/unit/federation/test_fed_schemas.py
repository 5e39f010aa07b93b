"""Marshmallow schemas of the envelope and key document (schemas.envelope, schemas.keys)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from marshmallow import ValidationError

from federation.envelope import (
    OldVerifyKey,
    build_key_document,
    make_envelope,
    sign_envelope,
)
from federation.keys import SigningKey
from schemas.envelope import EnvelopeSchema
from schemas.keys import KeyDocumentPayloadSchema, KeyDocumentSchema

NOW = 1_767_225_600_000
KEY = SigningKey.from_seed(bytes(range(32)))
OLD = SigningKey.from_seed(bytes(range(1, 33)))


def _signed_envelope() -> dict[str, Any]:
    envelope = make_envelope(
        "hrc.summary",
        "hrc.summary/1",
        "be-gent",
        "summaries",
        42,
        NOW,
        KEY.key_id,
        ["it-padova"],
        {"period": "2025", "value": "12.5"},
    )
    return sign_envelope(envelope, "be-gent", KEY)


def test_envelope_schema_loads_a_signed_envelope() -> None:
    envelope = _signed_envelope()
    envelope["unsigned"] = {"hop": 1}
    assert EnvelopeSchema().load(envelope) == envelope


def test_envelope_schema_excludes_unknown_members() -> None:
    envelope = {**_signed_envelope(), "future_member": "x"}
    loaded = EnvelopeSchema().load(envelope)
    assert "future_member" not in loaded


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("v",), 2),
        (("v",), True),
        (("seq",), 2**53),
        (("seq",), -1),
        (("seq",), 4.0),
        (("created_ts",), "1767225600000"),
        (("origin",), "Be_Gent"),
        (("key_id",), "ed25519:a b"),
        (("audience",), "network"),
        (("payload",), []),
        (("payload", "value"), 12.5),
        (("payload", "n"), 2**53),
        (("signatures",), {"be-gent": {"ed25519:1": 5}}),
        (("signatures",), {"BAD ORIGIN": {}}),
        (("future_member",), 0.5),  # unknown but signed: payload rules still apply
    ],
)
def test_envelope_schema_rejects(path: tuple[str, ...], value: Any) -> None:
    envelope = copy.deepcopy(_signed_envelope())
    target = envelope
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(ValidationError):
        EnvelopeSchema().load(envelope)


@pytest.mark.parametrize("member", ["v", "type", "origin", "seq", "signatures", "payload"])
def test_envelope_schema_requires(member: str) -> None:
    envelope = _signed_envelope()
    del envelope[member]
    with pytest.raises(ValidationError) as info:
        EnvelopeSchema().load(envelope)
    assert member in info.value.messages


def test_key_document_schema_loads_built_documents() -> None:
    document = build_key_document(
        "be-gent",
        KEY,
        [OldVerifyKey(OLD.key_id, OLD.public_raw, NOW + 1)],
        now_ms=NOW,
        co_signing_key=OLD,
    )
    loaded = KeyDocumentSchema().load(document)
    assert loaded["payload"]["verify_keys"] == {KEY.key_id: {"key": KEY.public_b64}}
    assert loaded["payload"]["old_verify_keys"][OLD.key_id]["expired_ts"] == NOW + 1


@pytest.mark.parametrize(
    "payload",
    [
        {"verify_keys": {}, "valid_until_ts": NOW},
        {"verify_keys": {KEY.key_id: {"key": "AAAA"}}, "valid_until_ts": NOW},
        {"verify_keys": {KEY.key_id: {"key": KEY.public_b64[:-2]}}, "valid_until_ts": NOW},
        {"verify_keys": {"rsa:1": {"key": KEY.public_b64}}, "valid_until_ts": NOW},
        {"verify_keys": {KEY.key_id: {"key": KEY.public_b64}}, "valid_until_ts": 1.5},
        {
            "verify_keys": {KEY.key_id: {"key": KEY.public_b64}},
            "old_verify_keys": {KEY.key_id: {"key": KEY.public_b64, "expired_ts": NOW}},
            "valid_until_ts": NOW,
        },
        {
            "verify_keys": {KEY.key_id: {"key": KEY.public_b64}},
            "old_verify_keys": {OLD.key_id: {"key": OLD.public_b64}},
            "valid_until_ts": NOW,
        },
    ],
)
def test_key_document_payload_schema_rejects(payload: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        KeyDocumentPayloadSchema().load(payload)


def test_key_document_schema_rejects_other_types() -> None:
    document = build_key_document("be-gent", KEY, now_ms=NOW)
    document["type"] = "hrc.summary"
    with pytest.raises(ValidationError) as info:
        KeyDocumentSchema().load(document)
    assert "type" in info.value.messages
