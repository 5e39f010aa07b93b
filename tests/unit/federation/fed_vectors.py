"""Locate and load the shared test vectors; a missing folder is an error, never a skip."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# tests/unit/federation/<file> -> parents[3] is the repository root (/work/main).
VECTORS_DIR = (Path(__file__).resolve().parents[3] / ".." / "shared" / "vectors").resolve()


def vector_path(*parts: str) -> Path:
    """Path of a vector file; raises (failing collection) if it is absent."""
    path = VECTORS_DIR.joinpath(*parts)
    if not path.exists():
        raise FileNotFoundError(f"test vector missing: {path} (expected ../shared/vectors)")
    return path


def load_vector_json(*parts: str) -> Any:
    """Load a JSON vector file with the standard library parser."""
    return json.loads(vector_path(*parts).read_text(encoding="utf-8"))
