"""The worked examples of docs/protocol.md are real (its introduction says so, and other teams
use them as test vectors): every signed JSON example verifies with the example keys of §4.8,
and every key document follows §4.3 (it verifies as a key document, and its ``seq`` is the time
of the last key change: the examples' keys were made, or rotated, at the document's time)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from federation.envelope import verify_envelope, verify_key_document
from federation.keys import SigningKey

PROTOCOL = Path(__file__).resolve().parents[3] / "docs" / "protocol.md"
KEYS = {  # §4.8: seeds 00..1f, 01..20, 02..21
    key.key_id: key.public_raw
    for key in (SigningKey.from_seed(bytes(range(start, start + 32))) for start in (0, 1, 2))
}


def signed_examples() -> list[dict[str, Any]]:
    found = []
    for block in re.findall(r"```json\n(.*?)```", PROTOCOL.read_text(encoding="utf-8"), re.S):
        try:
            document = json.loads(block)
        except ValueError:
            continue  # a fragment (a payload alone, a problem document…)
        if isinstance(document, dict) and "signatures" in document and "origin" in document:
            found.append(document)
    return found


def _lookup(origin: str, key_id: str, created_ts: int) -> bytes | None:
    return KEYS.get(key_id)


def test_every_signed_example_verifies_with_the_example_keys() -> None:
    examples = signed_examples()
    assert len(examples) >= 8  # keys, rotation, summary, twinning ×3, mentoring…
    for document in examples:
        signers = verify_envelope(document, _lookup)
        assert signers[0][0] == document["origin"]


def test_every_example_key_document_follows_section_4_3() -> None:
    key_documents = [d for d in signed_examples() if d["type"] == "hrc.keys"]
    key_documents += [
        d["payload"]["key_document"]
        for d in signed_examples()
        if isinstance(d.get("payload"), dict) and d["payload"].get("key_document")
    ]
    assert len(key_documents) == 4  # §4.3, §4.8 rotation, inside the request and the accept
    for document in key_documents:
        verify_key_document(document, document["origin"], document["created_ts"])
        assert document["seq"] == document["created_ts"]  # made at the key change
