"""The configuration reference in docs/operations.md is the one generated from the schema, and
every key of the schema is described (a new key without a description fails here)."""

from __future__ import annotations

from pathlib import Path

from node.ops.configdoc import BEGIN, DESCRIPTIONS, END, reference
from schemas.config import NodeConfigSchema

DOC = Path(__file__).resolve().parents[2] / "docs" / "operations.md"


def test_every_config_key_is_described() -> None:
    assert set(DESCRIPTIONS) == set(NodeConfigSchema().fields)


def test_docs_hold_the_generated_reference() -> None:
    text = DOC.read_text(encoding="utf-8")
    start, end = text.index(BEGIN), text.index(END) + len(END)
    assert text[start:end] + "\n" == reference(), (
        "docs/operations.md's configuration reference is stale: replace the block between the "
        "config-reference markers with the output of `python -m node.ops.configdoc`"
    )
