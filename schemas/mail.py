"""E-mail addresses as the node accepts them in configuration and puts them in headers.

Deliberately narrower than RFC 5322: a bare ASCII ``local@domain`` (no comments, quoted local
parts, commas or angle brackets), so that an address can never smuggle a second recipient or a
header into a message.
"""

from __future__ import annotations

import re
from email.utils import parseaddr

_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
ADDRESS_RE = re.compile(rf"^{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})*$")


def valid_address(address: str) -> bool:
    """A bare ``local@domain`` address in ASCII, at most 254 characters."""
    return len(address) <= 254 and ADDRESS_RE.match(address) is not None


def parse_sender(mail_from: str) -> tuple[str, str]:
    """``(display name, address)`` of ``mail_from``, written ``addr`` or ``Name <addr>``.

    Raises ``ValueError`` with a readable reason when it is not acceptable.
    """
    raw = mail_from.strip()
    name, address = parseaddr(raw)
    # parseaddr forgives a lot ("a@x, b@y" gives a@x): accept only what it read completely.
    if not valid_address(address) or not (raw == address or raw.endswith(f"<{address}>")):
        raise ValueError(f"{mail_from!r} is not an e-mail address such as hrcnet@city.example")
    return name, address
