"""Canonical JSON (RFC 8785, JCS) and a strict JSON parser for federation documents.

Everything that crosses between nodes is parsed with :func:`loads_strict` and serialised for
signing with :func:`canonical_bytes`. Payloads must also satisfy :func:`check_payload_rules`
(no floats, integers within the IEEE 754 safe range).

All failures raise a subclass of :class:`CanonicalJSONError` carrying a stable machine ``code``;
no other exception escapes these functions, whatever bytes a peer sends us.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import rfc8785

__all__ = [
    "MAX_NESTING_DEPTH",
    "MAX_SAFE_INTEGER",
    "CanonicalJSONError",
    "DuplicateKeyError",
    "FloatNotAllowedError",
    "IntegerOutOfRangeError",
    "InvalidJSONError",
    "InvalidStringError",
    "InvalidUTF8Error",
    "NestingTooDeepError",
    "NonFiniteNumberError",
    "UnsupportedTypeError",
    "canonical_bytes",
    "check_payload_rules",
    "loads_payload",
    "loads_strict",
    "nesting_exceeds",
]

# Largest integer an IEEE 754 double holds exactly; beyond it, JavaScript (and JCS) peers would
# silently round, so two nodes could sign/verify different numbers.
MAX_SAFE_INTEGER = 2**53 - 1

# Bounded nesting keeps every recursive walk (ours and rfc8785's) far below Python's recursion
# limit, so a hostile "[[[[...]]]]" document is rejected instead of crashing the worker.
MAX_NESTING_DEPTH = 64

# Lone UTF-16 surrogates (reachable through "\ud800" escapes) are not Unicode scalar values:
# I-JSON (RFC 7493), which JCS requires, forbids them and they have no UTF-8 encoding.
_SURROGATE = re.compile("[\ud800-\udfff]")


# After strings are removed, keep only brackets; objects and arrays count alike for depth.
_ONLY_BRACKETS = bytes(byte for byte in range(256) if byte not in b"[]{}")
_OBJECTS_AS_ARRAYS = bytes.maketrans(b"{}", b"[]")
_BRACKET_RUNS = re.compile(rb"\[+|\]+")
_OPEN = ord("[")
_PRESCAN_PASSES = 4


def nesting_exceeds(
    data: bytes | bytearray | memoryview | str, max_depth: int = MAX_NESTING_DEPTH
) -> bool:
    """Whether JSON text nests arrays/objects deeper than ``max_depth`` (checked unparsed).

    Linear and cheap (C-level bytes operations, then one step per *run* of brackets): string
    literals are removed (brackets inside strings do not nest), every other byte but brackets
    is dropped, a few passes remove the innermost ``[]`` pairs (each lowers the depth by exactly
    one), and the depth of what is left is summed run by run. Unbalanced input counts its
    unmatched openers (the parser would recurse into them before finding the syntax error).
    """
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else bytes(data)
    if raw.count(b"[") + raw.count(b"{") <= max_depth:
        return False  # the common case: a small document cannot be deep
    if b"\\" in raw:
        # Escape pairs go first, read left to right as a parser reads them: escaped
        # backslashes, then escaped quotes; every quote left then opens or closes a string.
        raw = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    # Outside strings = every other piece between quotes (C-level split and join).
    outside = b"".join(raw.split(b'"')[::2])
    brackets = outside.translate(_OBJECTS_AS_ARRAYS, _ONLY_BRACKETS)
    if brackets.count(b"[") <= max_depth:
        return False
    if b"[" * (max_depth + 1) in brackets:
        return True  # the usual attack, "[[[[...", found by one substring search
    # A few passes remove every innermost pair ("[]"): each pass lowers the deepest chain by
    # exactly one level and removes the shallow noise (sibling leaves) in C.
    passes = 0
    while passes < _PRESCAN_PASSES:
        reduced = brackets.replace(b"[]", b"")
        if len(reduced) == len(brackets):
            break
        brackets, passes = reduced, passes + 1
    # Then the exact depth of what is left, run by run ("[[[" then "]]"...), so the work is
    # per run of brackets, not per byte.
    depth = deepest = 0
    for run in _BRACKET_RUNS.findall(brackets):
        if run[0] == _OPEN:
            depth += len(run)
            if depth > deepest:
                deepest = depth
        else:
            depth -= len(run)
    return deepest + passes > max_depth


class CanonicalJSONError(ValueError):
    """Base class of every canonical-JSON / strict-parsing failure.

    ``code`` is a stable machine-readable identifier (safe to put in API problem documents);
    ``path`` locates the offending value as a JSON-Pointer-like string when known.
    """

    code = "canonical_json_error"

    def __init__(self, message: str, *, path: str = "") -> None:
        super().__init__(f"{message} at {path}" if path else message)
        self.message = message
        self.path = path


class InvalidJSONError(CanonicalJSONError):
    """The input is not syntactically valid JSON text (or is not bytes/str at all)."""

    code = "invalid_json"


class InvalidUTF8Error(InvalidJSONError):
    """The input bytes are not valid UTF-8 (RFC 8259 section 8.1 requires UTF-8)."""

    code = "invalid_utf8"


class DuplicateKeyError(CanonicalJSONError):
    """An object contains the same member name twice."""

    code = "duplicate_key"


class NonFiniteNumberError(CanonicalJSONError):
    """NaN, Infinity, -Infinity, or a literal that overflows to infinity (e.g. ``1e400``)."""

    code = "non_finite_number"


class FloatNotAllowedError(CanonicalJSONError):
    """A JSON number with a fraction or exponent appeared where payload rules forbid floats."""

    code = "float_not_allowed"


class IntegerOutOfRangeError(CanonicalJSONError):
    """An integer lies outside ±(2**53 - 1)."""

    code = "integer_out_of_range"


class InvalidStringError(CanonicalJSONError):
    """A string (or member name) contains a lone surrogate, which I-JSON/JCS forbid."""

    code = "invalid_string"


class NestingTooDeepError(CanonicalJSONError):
    """Arrays/objects are nested deeper than the allowed maximum."""

    code = "nesting_too_deep"


class UnsupportedTypeError(CanonicalJSONError):
    """A Python value has no JSON representation (e.g. bytes, set, tuple, non-string key)."""

    code = "unsupported_type"


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Duplicate member names are rejected because parsers disagree on them (first wins, last
    # wins, error): a signer and a verifier could otherwise see two different documents.
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise DuplicateKeyError(f"duplicate object key {key!r}")
        result[key] = value
    return result


def _reject_constant(name: str) -> Any:
    # NaN/Infinity are not JSON (RFC 8259) and JCS cannot serialise them.
    raise NonFiniteNumberError(f"non-finite number {name} is not JSON")


def _parse_finite_float(literal: str) -> float:
    value = float(literal)
    # "1e400" is syntactically valid JSON but overflows to inf; treat it like Infinity.
    if not math.isfinite(value):
        raise NonFiniteNumberError(f"number {literal[:40]!r} is not finite as a double")
    return value


def _pointer(path: str, token: str | int) -> str:
    escaped = str(token).replace("~", "~0").replace("/", "~1")
    return f"{path}/{escaped}"


INVALID, FAST_JCS, REFERENCE_JCS = 0, 1, 2


def _scan_tree(
    value: Any,
    max_depth: int,
    forbid_floats: bool,
    check_int_range: bool = True,
    forbid_nul: bool = False,
) -> int:
    """Fast check of the rules of :func:`_validate_tree`, building no paths.

    Returns ``INVALID`` (let the slow walker word the error), ``FAST_JCS`` (no floats and no
    object key beyond U+FFFF: the C json encoder with sorted keys writes exactly RFC 8785), or
    ``REFERENCE_JCS`` (valid, but only the ``rfc8785`` package may serialise it).

    Signing and verifying walk every node of a document; building a JSON pointer for each node
    cost more than the signature itself.
    """
    result = FAST_JCS
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        kind = type(item)
        if kind is str:
            if not item.isascii() and _SURROGATE.search(item):
                return INVALID
            if forbid_nul and "\x00" in item:
                return INVALID
        elif kind is int:
            if check_int_range and not -MAX_SAFE_INTEGER <= item <= MAX_SAFE_INTEGER:
                return INVALID
        elif kind is dict:
            if depth >= max_depth:
                return INVALID
            for key, child in item.items():
                if type(key) is not str:
                    return INVALID
                if forbid_nul and "\x00" in key:
                    return INVALID
                if not key.isascii():
                    if _SURROGATE.search(key):
                        return INVALID
                    if max(key) > "\uffff":
                        # JCS sorts keys by UTF-16 code units, Python by code points: they differ
                        # only for characters beyond the BMP.
                        result = REFERENCE_JCS
                stack.append((child, depth + 1))
        elif kind is list:
            if depth >= max_depth:
                return INVALID
            stack.extend((child, depth + 1) for child in item)
        elif item is None or kind is bool:
            continue
        elif kind is float:
            if forbid_floats or not math.isfinite(item):
                return INVALID
            result = REFERENCE_JCS  # ECMAScript number formatting: only the reference does it
        else:
            return INVALID  # subclasses and other types: the slow walker decides
    return result


def _tree_is_valid(
    value: Any, max_depth: int, forbid_floats: bool, check_int_range: bool = True
) -> bool:
    return _scan_tree(value, max_depth, forbid_floats, check_int_range) != INVALID


def fast_canonical_bytes(obj: Any) -> bytes:
    """RFC 8785 for documents without floats and without astral-plane keys (caller checked).

    With ``ensure_ascii=False`` Python escapes exactly what JCS escapes (``"``, ``\\``, and
    control characters, as ``\\b \\t \\n \\f \\r`` or lowercase ``\\u00xx``), integers
    print the same, and BMP keys sort identically by code point and by UTF-16 unit. Property
    tests check it byte for byte against the ``rfc8785`` package.
    """
    return _FAST_ENCODER.encode(obj).encode("utf-8")


_FAST_ENCODER = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), sort_keys=True, allow_nan=False
)


def _validate_tree(
    value: Any,
    *,
    path: str,
    depth: int,
    max_depth: int,
    forbid_floats: bool,
    check_int_range: bool,
    forbid_nul: bool = False,
) -> None:
    """Walk a decoded JSON value and enforce the structural rules (recursion depth is bounded)."""
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, int):
        if check_int_range and not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            raise IntegerOutOfRangeError("integer outside ±(2**53-1)", path=path or "/")
        return
    if isinstance(value, float):
        if forbid_floats:
            # Payload rule: measured values travel as decimal strings. A float such as
            # 4.412998543430453e16 is written by JCS as an integer and reparsed as an int,
            # so its canonical bytes would not survive a round trip between nodes.
            raise FloatNotAllowedError("floats are not allowed; use a decimal string", path=path)
        if not math.isfinite(value):
            raise NonFiniteNumberError("non-finite float", path=path or "/")
        return
    if isinstance(value, str):
        if _SURROGATE.search(value):
            raise InvalidStringError("string contains a lone surrogate", path=path or "/")
        if forbid_nul and "\x00" in value:
            raise InvalidStringError("string contains a NUL character", path=path or "/")
        return
    if isinstance(value, (list, dict)):
        if depth >= max_depth:
            raise NestingTooDeepError(f"nesting deeper than {max_depth}", path=path or "/")
        if isinstance(value, list):
            for index, item in enumerate(value):
                _validate_tree(
                    item,
                    path=_pointer(path, index),
                    depth=depth + 1,
                    max_depth=max_depth,
                    forbid_floats=forbid_floats,
                    check_int_range=check_int_range,
                    forbid_nul=forbid_nul,
                )
            return
        for key, item in value.items():
            if not isinstance(key, str):
                raise UnsupportedTypeError(
                    f"object key {type(key).__name__} is not a string", path=path or "/"
                )
            if _SURROGATE.search(key):
                raise InvalidStringError("object key contains a lone surrogate", path=path or "/")
            if forbid_nul and "\x00" in key:
                raise InvalidStringError("object key contains a NUL character", path=path or "/")
            _validate_tree(
                item,
                path=_pointer(path, key),
                depth=depth + 1,
                max_depth=max_depth,
                forbid_floats=forbid_floats,
                check_int_range=check_int_range,
                forbid_nul=forbid_nul,
            )
        return
    # Tuples, sets, bytes, Decimals, enums...: refuse rather than guess a JSON mapping, so the
    # signed bytes are always exactly what a peer will parse back.
    raise UnsupportedTypeError(f"{type(value).__name__} is not a JSON value", path=path or "/")


def loads_strict(
    data: bytes | bytearray | memoryview | str, *, max_depth: int = MAX_NESTING_DEPTH
) -> Any:
    """Parse JSON text strictly; raise only :class:`CanonicalJSONError` subclasses.

    Rejects: invalid UTF-8 (and a byte-order mark), syntax errors, duplicate object keys,
    ``NaN``/``Infinity``/``-Infinity`` and literals overflowing to infinity, lone surrogates in
    strings, and nesting deeper than ``max_depth``. Floats and large integers are still
    accepted here (generic JSON, e.g. the JCS vectors); apply :func:`check_payload_rules` to
    federation payloads, or use :func:`loads_payload`.
    """
    value = _decode(data, max_depth)
    if not _tree_is_valid(value, max_depth, forbid_floats=False, check_int_range=False):
        _validate_tree(
            value,
            path="",
            depth=0,
            max_depth=max_depth,
            forbid_floats=False,
            check_int_range=False,
        )
    return value


class _NumberWatch:
    """Number hooks for ``json.loads`` that note what the payload rules would refuse.

    ``json.loads`` calls ``parse_float`` for every literal with a fraction or an exponent (a
    float: the rules forbid it) and ``parse_int`` for every other number; both return what
    the default parsing returns, and raise what it raises.
    """

    __slots__ = ("breaks_rules",)

    def __init__(self) -> None:
        self.breaks_rules = False

    def parse_float(self, literal: str) -> float:
        value = _parse_finite_float(literal)
        self.breaks_rules = True
        return value

    def parse_int(self, literal: str) -> int:
        value = int(literal)
        if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            self.breaks_rules = True
        return value


# Characters after which a parsed tree needs the full walk: a lone surrogate (only in a str
# given to the parser: decoded UTF-8 has none) or a character beyond U+FFFF (a key holding one
# makes the document REFERENCE_JCS). Searched only in text that is not plain ASCII.
_NEEDS_WALK = re.compile("[\ud800-\udfff\U00010000-\U0010ffff]")


def _decode(
    data: bytes | bytearray | memoryview | str, max_depth: int, numbers: _NumberWatch | None = None
) -> Any:
    """The strict parse of :func:`loads_strict` without its tree walk (``numbers``: hooks
    noting floats and unsafe integers, see :func:`loads_federated`)."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        try:
            # Decode ourselves: json.loads(bytes) would also guess UTF-16/32, which the
            # federation protocol does not allow (one encoding, one byte form).
            text = bytes(data).decode("utf-8", errors="strict")
        except UnicodeDecodeError as exc:
            raise InvalidUTF8Error(f"invalid UTF-8 at byte {exc.start}") from None
    elif isinstance(data, str):
        text = data
    else:
        raise InvalidJSONError(f"expected bytes or str, got {type(data).__name__}")
    if nesting_exceeds(text, max_depth):
        # Refused before parsing: json.loads recurses once per bracket (a linear pre-scan
        # costs milliseconds on a mebibyte; the parser's stack overflow would cost far more).
        raise NestingTooDeepError(f"nesting deeper than {max_depth}")
    try:
        value = json.loads(
            text,
            object_pairs_hook=_reject_duplicate_keys,
            parse_constant=_reject_constant,
            parse_float=_parse_finite_float if numbers is None else numbers.parse_float,
            parse_int=None if numbers is None else numbers.parse_int,
        )
    except CanonicalJSONError:
        raise
    except RecursionError:
        raise NestingTooDeepError("JSON nesting exceeds the parser's recursion limit") from None
    except json.JSONDecodeError as exc:
        raise InvalidJSONError(
            f"invalid JSON: {exc.msg} (line {exc.lineno} col {exc.colno})"
        ) from None
    except ValueError as exc:
        # e.g. an integer literal longer than sys.get_int_max_str_digits().
        raise InvalidJSONError(f"invalid JSON number: {str(exc)[:120]}") from None
    return value


def loads_federated(
    data: bytes | bytearray | memoryview | str, *, max_depth: int = MAX_NESTING_DEPTH
) -> tuple[Any, int]:
    """:func:`loads_strict`, with the payload rules' stricter test decided once.

    Returns the value and the verdict of the payload rules: ``FAST_JCS`` or ``REFERENCE_JCS``
    when the whole document already satisfies :func:`check_payload_rules` (so any part of it
    does too, and a ``FAST_JCS`` part may be serialised with :func:`fast_canonical_bytes`),
    ``INVALID`` when it does not (then the caller applies :func:`check_payload_rules`, which
    says why). Raises exactly what :func:`loads_strict` raises: the strict walk accepts a
    subset of what the loose one accepts, and on a strict failure the loose walk runs as before.

    Most documents need no walk at all (issue 14: the walk cost more than the parse). The
    verdict is ``FAST_JCS`` without one when the text proves what the walk would check:

    - no number literal broke the rules (no float; every integer within ±(2**53-1)): the
      parser's own number hooks saw every number (:class:`_NumberWatch`);
    - no ``\\u`` escape: the only way JSON text writes a NUL (a raw control character is a
      syntax error) or a lone surrogate (decoded UTF-8 holds none), or pairs two escapes
      into a character beyond U+FFFF;
    - no lone surrogate and no character beyond U+FFFF written as such (``_NEEDS_WALK``),
      searched only when the text is not ASCII;
    - nesting within ``max_depth``: the pre-scan (:func:`nesting_exceeds`, exact, and already
      run by the parse) refused anything deeper;
    - only JSON types and string keys: what the parser builds.

    Anything else takes the walk, as before. A property test checks the verdict against the
    walk's on random texts (tests/unit/federation/test_fed_canonical_fast_verdict.py).
    """
    numbers = _NumberWatch()
    value = _decode(data, max_depth, numbers)
    if not numbers.breaks_rules:
        # _decode refused anything that is not UTF-8; decoding again is cheaper than
        # threading the text out of it (a copy, for ASCII).
        text = data if isinstance(data, str) else bytes(data).decode("utf-8")
        if "\\u" not in text and (text.isascii() or not _NEEDS_WALK.search(text)):
            return value, FAST_JCS
    verdict = _scan_tree(value, max_depth, forbid_floats=True, forbid_nul=True)
    if verdict == INVALID and not _tree_is_valid(
        value, max_depth, forbid_floats=False, check_int_range=False
    ):
        _validate_tree(
            value,
            path="",
            depth=0,
            max_depth=max_depth,
            forbid_floats=False,
            check_int_range=False,
        )
    return value, verdict


def check_payload_rules(obj: Any, *, max_depth: int = MAX_NESTING_DEPTH) -> None:
    """Enforce the federation payload rules on a decoded JSON value.

    No floats anywhere (values travel as decimal strings), integers within ±(2**53-1), only
    JSON types (dict with str keys, list, str, int, bool, None), no lone surrogates and no NUL
    character in strings or member names, bounded nesting. Raises a
    :class:`CanonicalJSONError` subclass on the first violation.
    """
    # NUL ("\u0000") is valid JSON, but PostgreSQL refuses it in text columns while SQLite
    # stores it: a peer's document holding one would be a 500 (retried forever by the sender)
    # on one database and stored on the other. Refused as invalid_string (422, permanent).
    if _scan_tree(obj, max_depth, forbid_floats=True, forbid_nul=True) != INVALID:
        return
    _validate_tree(
        obj,
        path="",
        depth=0,
        max_depth=max_depth,
        forbid_floats=True,
        check_int_range=True,
        forbid_nul=True,
    )


def loads_payload(data: bytes | bytearray | memoryview | str) -> Any:
    """Parse with :func:`loads_strict` and then apply :func:`check_payload_rules`."""
    value = loads_strict(data)
    check_payload_rules(value)
    return value


def canonical_bytes(obj: Any) -> bytes:
    """Serialise ``obj`` as RFC 8785 (JCS) canonical JSON, UTF-8 encoded.

    Floats are allowed here (JCS defines their form) but must be finite; integers must lie
    within ±(2**53-1) as JCS requires. Raises :class:`CanonicalJSONError` subclasses only.
    """
    verdict = _scan_tree(obj, MAX_NESTING_DEPTH, forbid_floats=False)
    if verdict == FAST_JCS:
        return fast_canonical_bytes(obj)
    if verdict == INVALID:
        _validate_tree(
            obj,
            path="",
            depth=0,
            max_depth=MAX_NESTING_DEPTH,
            forbid_floats=False,
            check_int_range=True,
        )
    try:
        return rfc8785.dumps(obj)
    except rfc8785.IntegerDomainError as exc:
        raise IntegerOutOfRangeError(str(exc)) from None
    except rfc8785.FloatDomainError as exc:
        raise NonFiniteNumberError(str(exc)) from None
    except (rfc8785.CanonicalizationError, UnicodeError) as exc:
        # Unreachable after _validate_tree; kept so the "only our errors" contract holds even
        # if the library's checks change.
        raise CanonicalJSONError(f"cannot canonicalise: {exc}") from None
