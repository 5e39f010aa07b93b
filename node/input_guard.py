"""Hostile-input guards shared by every way data enters the node (API, pages, import, CLI).

Two kinds of input crash parsers or databases instead of being refused, so they are refused
here, before anything else looks at them:

- **JSON nested too deep.** Python's ``json`` module recurses once per ``[``/``{``: 100,000 of
  them raise ``RecursionError`` (an HTTP 500). :func:`json_nesting_exceeds` finds that out
  with a linear scan made of C-level bytes operations (no Python loop per character) *before*
  any parser runs; :func:`parse_json_text` adds a last-resort guard turning a ``RecursionError``
  into the same refusal. The limit is :data:`MAX_JSON_DEPTH` (64, the federation's limit too).
- **Text no database can store.** A JSON escape ``"\\ud800"`` decodes to a lone UTF-16
  surrogate, which has no UTF-8 encoding (SQLite and PostgreSQL drivers fail when storing it);
  PostgreSQL refuses the NUL character (``\\u0000``, ``%00``) in any text column while SQLite
  stores it. Both are refused on every input (:func:`find_invalid_text`), so both databases
  behave the same and nothing half-stored remains.

Refusals are :class:`~node.errors.InvalidInputError` subclasses (422, codes ``too_deep`` and
``invalid_text``): problem+json on the API, a readable page on pages, a message in the CLI.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from federation.canonical import MAX_NESTING_DEPTH, nesting_exceeds
from node.errors import InvalidInputError

__all__ = [
    "INVALID_TEXT",
    "MAX_JSON_DEPTH",
    "InvalidTextError",
    "TooDeepError",
    "check_text",
    "check_text_fields",
    "find_invalid_text",
    "invalid_text_reason",
    "json_nesting_exceeds",
    "parse_json_text",
]

# Arrays/objects nested deeper than this are refused before parsing. 64 is the federation's
# limit (docs/protocol.md §3.2) and far beyond any document the node reads (profiles nest 4).
MAX_JSON_DEPTH = MAX_NESTING_DEPTH

# NUL (PostgreSQL refuses it in text) and lone surrogates (no UTF-8 form; only reachable
# through JSON "\udXXX" escapes, since decoding UTF-8 bytes never yields them).
# The pre-scan lives beside the federation's strict parser (both apply the same bound).
json_nesting_exceeds = nesting_exceeds

INVALID_TEXT = re.compile("[\x00\ud800-\udfff]")


class TooDeepError(InvalidInputError):
    """JSON input nested deeper than :data:`MAX_JSON_DEPTH` levels (refused unparsed)."""

    code = "too_deep"
    title = "Input nested too deeply"


class InvalidTextError(InvalidInputError):
    """Text holding a NUL character or a lone UTF-16 surrogate."""

    code = "invalid_text"
    title = "Invalid characters in the input"


def invalid_text_reason(text: str) -> str | None:
    """Why ``text`` cannot be accepted (NUL or lone surrogate), or None when it is fine."""
    found = INVALID_TEXT.search(text)
    if found is None:
        return None
    if found.group() == "\x00":
        return "contains a NUL character (\\u0000), which cannot be stored."
    return "contains a lone UTF-16 surrogate (e.g. \\ud800), which is not valid text."


def find_invalid_text(value: Any, path: str = "") -> tuple[str, str] | None:
    """The first string (value or member name) of a decoded JSON value that is not valid text.

    Returns ``(path, reason)`` with a dotted path (``items.0.note``; empty for the whole
    document), or None. Iterative: the depth of ``value`` does not matter.
    """
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            reason = invalid_text_reason(item)
            if reason:
                return where, reason
        elif isinstance(item, Mapping):
            for key, child in item.items():
                child_path = f"{where}.{key}" if where else str(key)
                if isinstance(key, str):
                    reason = invalid_text_reason(key)
                    if reason:
                        return where, f"has a member name that {reason}"
                stack.append((child, child_path))
        elif isinstance(item, list | tuple):
            stack.extend(
                (child, f"{where}.{index}" if where else str(index))
                for index, child in enumerate(item)
            )
    return None


def check_text(value: Any, field: str = "") -> None:
    """Raise :class:`InvalidTextError` naming the field when ``value`` holds invalid text."""
    found = find_invalid_text(value, field)
    if found is not None:
        where, reason = found
        name = where or "body"
        raise InvalidTextError(
            f"The field '{name[:200]}' {reason}", errors={name[:200]: [f"Text {reason}"]}
        )


def check_text_fields(fields: Mapping[str, Any]) -> None:
    """:func:`check_text` over form or query fields (a multi-dict's lists included)."""
    getlist = getattr(fields, "getlist", None)
    for name in fields:
        values = getlist(name) if getlist else [fields[name]]
        check_text(name, "field name")
        for value in values:
            check_text(value, str(name))


def parse_json_text(data: bytes | bytearray | str, *, what: str = "body") -> Any:
    """Parse JSON from an untrusted source, refusing hostile nesting and invalid text.

    Raises :class:`TooDeepError`, :class:`InvalidTextError`, or ``ValueError`` (including
    ``json.JSONDecodeError``) for text that is not JSON at all.
    """
    if nesting_exceeds(data):
        raise TooDeepError(
            f"The {what} nests arrays or objects more than {MAX_JSON_DEPTH} levels deep.",
            errors={what: [f"nested more than {MAX_JSON_DEPTH} levels deep"]},
        )
    text = bytes(data).decode("utf-8") if isinstance(data, bytes | bytearray) else data
    try:
        value = json.loads(text)
    except RecursionError:
        # Last resort: the pre-scan should have caught it; never let the parser's stack
        # overflow become a 500.
        raise TooDeepError(
            f"The {what} nests arrays or objects too deeply.",
            errors={what: [f"nested more than {MAX_JSON_DEPTH} levels deep"]},
        ) from None
    found = find_invalid_text(value)
    if found is not None:
        where, reason = found
        name = f"{what}.{where}" if where and what != "body" else (where or what)
        raise InvalidTextError(
            f"The {what} is refused: '{name[:200]}' {reason}",
            errors={name[:200]: [f"Text {reason}"]},
        )
    return value
