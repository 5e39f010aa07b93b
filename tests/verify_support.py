"""Verifying a published figure as anyone would, with code written here (issue 16): RFC 8785
through ``rfc8785`` and Ed25519 through ``cryptography``, never the project's own
``federation`` package, so that a bug there cannot hide itself from the test.

Also the official SDMX-JSON 2.1.0 data schema the downloads are validated against.

The contract (docs/portal.md, "Verifying a figure"): the signed bytes are the RFC 8785 form of
the envelope without ``signatures`` and ``unsigned``; their SHA-256 is the hash in the public
link; the signature is ``signatures[origin][key_id]``, standard base64 without padding.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

# The official schema (sdmx-twg/sdmx-json, 2.1.0), kept in the shared vectors.
SDMX_SCHEMA = (
    Path(__file__).resolve().parents[1].parent
    / "shared"
    / "vectors"
    / "sdmx"
    / "schemas"
    / "sdmx-json-data-schema-2.1.0.json"
)


def unb64(text: str) -> bytes:
    """Standard base64, padding put back (the wire leaves it out)."""
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def signed_bytes(envelope: dict[str, Any]) -> bytes:
    """RFC 8785 of the envelope without ``signatures`` and ``unsigned`` (the contract)."""
    return rfc8785.dumps({k: v for k, v in envelope.items() if k not in ("signatures", "unsigned")})


def check_signature(envelope: dict[str, Any], public_key: bytes) -> None:
    """Raise ``cryptography.exceptions.InvalidSignature`` unless the origin's signature holds."""
    signature = envelope["signatures"][envelope["origin"]][envelope["key_id"]]
    Ed25519PublicKey.from_public_bytes(public_key).verify(unb64(signature), signed_bytes(envelope))
