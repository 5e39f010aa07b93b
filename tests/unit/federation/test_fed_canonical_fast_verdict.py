"""``loads_federated`` decides the payload rules without walking the tree when the text proves
them (issue 14); its answer must stay exactly the walk's.

The rule: ``loads_federated(data)`` returns what ``loads_strict(data)`` returns, with the verdict
``_scan_tree(value, forbid_floats=True, forbid_nul=True)`` gives on it (``FAST_JCS``,
``REFERENCE_JCS`` or ``INVALID``), and raises exactly what ``loads_strict`` raises. Checked on
random JSON texts written both ways (``\\u`` escapes or raw characters), as text and as bytes,
holding what each shortcut of the fast path relies on: floats, integers at the safe range's
edges, NUL, lone surrogates, characters beyond U+FFFF in keys and in values, escaped
backslashes, nesting around the limit.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from federation.canonical import (
    FAST_JCS,
    INVALID,
    MAX_NESTING_DEPTH,
    MAX_SAFE_INTEGER,
    REFERENCE_JCS,
    CanonicalJSONError,
    _scan_tree,
    loads_federated,
    loads_strict,
)
from tests.support import examples

FUZZ = settings(max_examples=examples(600), deadline=None)

# Characters chosen to reach every branch: plain ASCII, a backslash and a quote (escapes), NUL
# and another control character, Latin-1 and BMP text, characters beyond U+FFFF (which JCS
# sorts differently when they are in keys), and "u" (after a backslash: not an escape).
SPECIAL = ["a", "\\", '"', "\x00", "\x1f", "é", "\u20ac", "\U0001f600", "u"]
texts = st.text(st.sampled_from(SPECIAL) | st.characters(max_codepoint=0x7F), max_size=6)
# Refused whatever else the document holds: kept to a few of the leaves so that they do not
# hide the other rules (a lone surrogate of each half).
refused_texts = st.sampled_from(["\ud800", "x\udfff"])
integers = (
    st.integers(min_value=-MAX_SAFE_INTEGER - 2, max_value=-MAX_SAFE_INTEGER + 2)
    | st.integers(min_value=MAX_SAFE_INTEGER - 2, max_value=MAX_SAFE_INTEGER + 2)
    | st.integers(min_value=-1000, max_value=1000)
)
floats = st.floats(allow_nan=False, allow_infinity=False)


@st.composite
def scalars(draw: st.DrawFn) -> Any:
    """Mostly plain JSON scalars; one in 10 a float, one in 20 a refused text."""
    roll = draw(st.integers(0, 19))
    if roll == 7:
        return draw(refused_texts)
    if roll in (3, 13):
        return draw(floats)
    return draw(st.none() | st.booleans() | integers | texts)


@st.composite
def keys(draw: st.DrawFn) -> str:
    """Mostly keys of the characters above; one in 20 a lone surrogate."""
    return draw(refused_texts if draw(st.integers(0, 19)) == 7 else texts)


values = st.recursive(
    scalars(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys(), children, max_size=4),
    max_leaves=10,
)


def _nest(value: Any, levels: int) -> Any:
    for level in range(levels):
        value = {"k": value} if level % 2 else [value]
    return value


def _expected(data: str | bytes, max_depth: int) -> tuple[str, Any]:
    """The plain definition: the strict parse, then the walk's verdict on the whole value."""
    try:
        value = loads_strict(data, max_depth=max_depth)
    except CanonicalJSONError as exc:
        return "refused", (type(exc), exc.code, str(exc))
    return "parsed", (value, _scan_tree(value, max_depth, forbid_floats=True, forbid_nul=True))


def _actual(data: str | bytes, max_depth: int) -> tuple[str, Any]:
    try:
        value, verdict = loads_federated(data, max_depth=max_depth)
    except CanonicalJSONError as exc:
        return "refused", (type(exc), exc.code, str(exc))
    return "parsed", (value, verdict)


def _same(expected: tuple[str, Any], actual: tuple[str, Any]) -> None:
    assert expected[0] == actual[0]
    if expected[0] == "refused":
        assert expected[1] == actual[1]
        return
    (value, verdict), (got_value, got_verdict) = expected[1], actual[1]
    assert got_verdict == verdict
    # NaN cannot appear (json refuses it), so == compares the trees exactly; json's own dump
    # tells 1 from 1.0 and True from 1, which == does not.
    assert json.dumps(got_value, sort_keys=True) == json.dumps(value, sort_keys=True)


@FUZZ
@given(
    values,
    st.integers(min_value=0, max_value=6),
    st.integers(min_value=3, max_value=12),
    st.booleans(),
    st.booleans(),
)
def test_the_fast_verdict_is_the_walks(
    value: Any, levels: int, max_depth: int, ensure_ascii: bool, as_bytes: bool
) -> None:
    text = json.dumps(_nest(value, levels), ensure_ascii=ensure_ascii)
    data: str | bytes = text.encode("utf-8", "surrogatepass") if as_bytes else text
    _same(_expected(data, max_depth), _actual(data, max_depth))


@pytest.mark.parametrize(
    ("text", "verdict"),
    [
        ('{"a":1}', FAST_JCS),
        ('{"a":"\\\\u0041"}', FAST_JCS),  # an escaped backslash before "u": the walk decides
        ('{"a":"\\u0041"}', FAST_JCS),
        ('{"a":"\\u0000"}', INVALID),  # NUL, only writable as an escape
        ('{"a":1.0}', INVALID),  # a float
        ('{"a":1e2}', INVALID),
        (f'{{"a":{MAX_SAFE_INTEGER}}}', FAST_JCS),  # the safe range's edges
        (f'{{"a":{MAX_SAFE_INTEGER + 1}}}', INVALID),
        (f'{{"a":{-MAX_SAFE_INTEGER}}}', FAST_JCS),
        (f'{{"a":{-MAX_SAFE_INTEGER - 1}}}', INVALID),
        ('{"\U0001f600":1}', REFERENCE_JCS),  # beyond U+FFFF in a key, written raw
        ('{"\\ud83d\\ude00":1}', REFERENCE_JCS),  # the same key written as two escapes
        ('{"a":"\U0001f600"}', FAST_JCS),  # in a value it changes nothing
        ('{"é":"\u20ac"}', FAST_JCS),
    ],
)
def test_verdicts_at_each_shortcut(text: str, verdict: int) -> None:
    for data in (text, text.encode("utf-8")):
        assert loads_federated(data)[1] == verdict
        _same(_expected(data, MAX_NESTING_DEPTH), _actual(data, MAX_NESTING_DEPTH))


@pytest.mark.parametrize("depth", [MAX_NESTING_DEPTH - 1, MAX_NESTING_DEPTH, MAX_NESTING_DEPTH + 1])
def test_nesting_at_the_limit_is_decided_as_before(depth: int) -> None:
    text = json.dumps(_nest("x", depth))
    _same(_expected(text, MAX_NESTING_DEPTH), _actual(text, MAX_NESTING_DEPTH))


def test_a_lone_surrogate_in_a_str_is_refused_as_before() -> None:
    for text in ('["\ud800"]', '{"\udfff":1}'):
        expected = _expected(text, MAX_NESTING_DEPTH)
        assert expected[0] == "refused"
        _same(expected, _actual(text, MAX_NESTING_DEPTH))
