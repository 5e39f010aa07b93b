"""The mentoring wire contract (schemas.mentoring): the examples of docs/protocol.md §8.6.8 are
golden vectors (they verify, load and hash as the page says), and malformed payloads fail."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
from marshmallow import ValidationError

from federation.canonical import canonical_bytes, loads_strict
from federation.envelope import envelope_sha256, verify_envelope
from federation.keys import SigningKey
from peer_review.mentoring.acting import content_sha256
from schemas.mentoring import (
    MENTORING_STREAM,
    PAYLOAD_SCHEMAS,
    AgreementContentSchema,
    MetadataPayloadSchema,
    ProposedPayloadSchema,
    TransitionPayloadSchema,
    schema_name,
)

PROTOCOL = Path(__file__).resolve().parents[3] / "docs" / "protocol.md"
KEYS = {  # docs/protocol.md §4.8
    "be-gent": SigningKey.from_seed(bytes(range(32))),
    "it-padova": SigningKey.from_seed(bytes(range(1, 33))),
}


def examples() -> list[tuple[str, dict[str, Any]]]:
    """(stated envelope_sha256, envelope) of every example in §8.6.8."""
    text = PROTOCOL.read_text(encoding="utf-8")
    section = text[text.index("#### 8.6.8 Examples") : text.index("## 9. Replay")]
    found = re.findall(
        r"`envelope_sha256` = `([0-9a-f]{64})`:\n\n```json\n(.*?)\n```", section, re.S
    )
    return [(sha, loads_strict(body)) for sha, body in found]


def test_the_documented_examples_are_golden_vectors() -> None:
    found = examples()
    assert [e["type"] for _sha, e in found] == [
        "hrc.mentoring.proposed",
        "hrc.mentoring.transition",
        "hrc.mentoring.document",
        "hrc.mentoring.signature",
        "hrc.mentoring.metadata",
    ]
    for stated, envelope in found:
        assert envelope_sha256(envelope) == stated
        signers = verify_envelope(
            envelope,
            lambda signer, key_id, _ts: (
                KEYS[signer].public_raw if key_id == KEYS[signer].key_id else None
            ),
        )
        assert signers == [(envelope["origin"], KEYS[envelope["origin"]].key_id)]
        assert (envelope["stream"], envelope["schema"]) == (
            MENTORING_STREAM,
            schema_name(envelope["type"]),
        )
        PAYLOAD_SCHEMAS[envelope["type"]]().load(envelope["payload"])
    document = found[2][1]["payload"]
    signature = found[3][1]["payload"]
    assert document["sha256"] == content_sha256(document["content"]) == signature["sha256"]
    text = PROTOCOL.read_text(encoding="utf-8")
    stated_bytes = re.search(r"its JCS form\):\n\n```\n(.*?)\n```", text, re.S)
    assert stated_bytes is not None
    assert canonical_bytes(document["content"]).decode() == stated_bytes[1]


def _payload(index: int) -> dict[str, Any]:
    return copy.deepcopy(examples()[index][1]["payload"])


@pytest.mark.parametrize(
    ("index", "change"),
    [
        (0, {"mentee": "be-gent"}),  # mentor and mentee are the same city
        (0, {"relationship_id": "XYZ"}),
        (0, {"actor_role": "chair"}),
        (1, {"state": "archived"}),
        (1, {"state_version": 0}),
        (1, {"state_version": "2"}),
        (2, {"sha256": "F" * 64}),
        (2, {"version": 2}),  # content says version 1
        (2, {"kind": "closure_report"}),  # the content is an agreement
        (3, {"kind": "action_plan"}),  # the action plan is never signed
        (4, {"notes": "anything"}),  # metadata only: RAISE on unknown members
        (4, {"state": "new"}),
        (4, {"changed_at": 2**53 - 1}),  # a valid integer, but no calendar date
    ],
)
def test_malformed_payloads_fail(index: int, change: dict[str, Any]) -> None:
    envelope = examples()[index][1]
    payload = {**copy.deepcopy(envelope["payload"]), **change}
    with pytest.raises(ValidationError):
        PAYLOAD_SCHEMAS[envelope["type"]]().load(payload)


def test_agreement_content_rules() -> None:
    content = _payload(2)["content"]
    AgreementContentSchema().load(content)
    for change in (
        {"ends_on": "2025-12-31"},  # before starts_on
        {"goals": content["goals"] * 2},  # two goals with one id
        {"starts_on": "2026-02-30"},
    ):
        with pytest.raises(ValidationError):
            AgreementContentSchema().load({**content, **change})
    goal = content["goals"][0]
    for broken in (
        {**goal, "text": "short"},
        {**goal, "indicators": ["not a code!"]},
        {**goal, "measure": {**goal["measure"], "baseline": 12.5}},
        {**goal, "measure": {**goal["measure"], "target_source": "guessed"}},
    ):
        with pytest.raises(ValidationError):
            AgreementContentSchema().load({**content, "goals": [broken]})


def test_unknown_members_are_ignored_except_in_metadata() -> None:
    proposed = {**_payload(0), "future": 1}
    assert "future" not in ProposedPayloadSchema().load(proposed)
    transition = {**_payload(1), "future": 1}
    assert "future" not in TransitionPayloadSchema().load(transition)
    with pytest.raises(ValidationError):
        MetadataPayloadSchema().load({**_payload(4), "future": 1})
