"""docs/peer_review.md shows the tables the code enforces, not an older copy."""

from __future__ import annotations

from pathlib import Path

from peer_review.tables_doc import render

DOC = Path(__file__).resolve().parents[2] / "docs" / "peer_review.md"


def test_the_documented_tables_are_the_code() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert render() in text, "regenerate with: python -m peer_review.tables_doc"
    assert "`respond` | `awaiting_response` | `responded` | validating_authority" in text
