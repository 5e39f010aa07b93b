"""How a page shows a key fingerprint, computed from the rule (not from the code under test).

The rule (federation.keys, "How a fingerprint is shown"): the sha256 of the raw 32-byte public
key as 64 lowercase hex digits, in 4 lines (``<span class="fp-line">``) of 4 space-separated
groups of 4 digits, in order.
"""

from __future__ import annotations

import hashlib


def expected_lines(public_raw: bytes) -> list[str]:
    """The 4 lines a page must show for this key, built by hand from the rule."""
    digits = hashlib.sha256(public_raw).hexdigest()
    groups = [digits[i : i + 4] for i in range(0, 64, 4)]
    return [" ".join(groups[i : i + 4]) for i in range(0, 16, 4)]


def shows_fingerprint(page: str, public_raw: bytes) -> bool:
    """True when ``page`` shows the whole fingerprint of the key, as its 4 lines in order."""
    block = "".join(f'<span class="fp-line">{line}</span>' for line in expected_lines(public_raw))
    return f'<code class="fp">{block}</code>' in page
