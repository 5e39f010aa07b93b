"""Strict JSON parsing, payload rules and canonical form (federation.canonical)."""

from __future__ import annotations

import contextlib
import json
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from federation import canonical
from federation.canonical import (
    MAX_NESTING_DEPTH,
    MAX_SAFE_INTEGER,
    CanonicalJSONError,
    InvalidStringError,
    NestingTooDeepError,
    canonical_bytes,
    check_payload_rules,
    loads_payload,
    loads_strict,
)
from tests.support import examples

FUZZ = settings(max_examples=examples(400), deadline=None)

# Payload text: any Unicode scalar value but NUL, which the payload rules refuse (PostgreSQL
# cannot store it); see test_payload_rules_refuse_nul.
payload_text = st.characters(exclude_categories=("Cs",), exclude_characters="\x00")

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-MAX_SAFE_INTEGER, max_value=MAX_SAFE_INTEGER)
    | st.text(payload_text, max_size=20)
)
payloads = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(st.text(payload_text, max_size=8), children, max_size=5)
    ),
    max_leaves=40,
)
payload_objects = st.dictionaries(st.text(payload_text, max_size=8), payloads, max_size=6)


def _code(data: Any) -> str:
    with pytest.raises(CanonicalJSONError) as info:
        loads_strict(data)
    return info.value.code


# --- strict parser -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        '{"a": 1, "a": 2}',
        '{"a": 1, "\\u0061": 2}',  # same key once unescaped
        '{"x": {"b": true, "b": true}}',
        '[{"k": 1}, {"k": 1, "k": 1}]',
    ],
)
def test_duplicate_keys_rejected(text: str) -> None:
    assert _code(text) == "duplicate_key"


@pytest.mark.parametrize("text", ["NaN", "[Infinity]", '{"a": -Infinity}', "1e400", "[-1E999]"])
def test_non_finite_numbers_rejected(text: str) -> None:
    assert _code(text) == "non_finite_number"


@pytest.mark.parametrize(
    "data", [b'{"a": "\xff"}', b"\xc3\x28", b"\xed\xa0\x80", '{"a": 1}'.encode("utf-16")]
)
def test_invalid_utf8_rejected(data: bytes) -> None:
    assert _code(data) == "invalid_utf8"


@pytest.mark.parametrize(
    "data", [b"", b"{", b"[1,]", b"{'a': 1}", b"\xef\xbb\xbf{}", b"01", b"[1] [2]", b'"\x01"']
)
def test_syntax_errors_rejected(data: bytes) -> None:
    assert _code(data) == "invalid_json"


def test_lone_surrogates_rejected() -> None:
    assert _code('"\\ud800"') == "invalid_string"
    assert _code('{"\\udfff": 1}') == "invalid_string"
    assert loads_strict('"\\ud83d\\ude00"') == "\U0001f600"  # a proper pair is fine


def test_nesting_depth_is_bounded() -> None:
    assert _code("[" * 100_000 + "]" * 100_000) == "nesting_too_deep"
    assert (
        _code("[" * (MAX_NESTING_DEPTH + 1) + "]" * (MAX_NESTING_DEPTH + 1)) == "nesting_too_deep"
    )
    depth_ok = "[" * MAX_NESTING_DEPTH + "]" * MAX_NESTING_DEPTH
    assert canonical_bytes(loads_strict(depth_ok)) == depth_ok.encode()


def test_huge_integer_literal_is_invalid_json_not_a_crash() -> None:
    assert _code("1" * 5000) == "invalid_json"


@pytest.mark.parametrize("value", [None, 42, 1.5, ["{}"], object()])
def test_non_text_input_rejected(value: Any) -> None:
    assert _code(value) == "invalid_json"


def test_loads_strict_accepts_generic_json() -> None:
    assert loads_strict(b'{"a": [1, 2.5, "x", null, true], "b": -0}') == {
        "a": [1, 2.5, "x", None, True],
        "b": 0,
    }
    assert loads_strict(bytearray(b"[]")) == []
    assert loads_strict(memoryview(b"7")) == 7


def test_error_codes_are_stable_and_distinct() -> None:
    classes = [
        obj
        for obj in vars(canonical).values()
        if isinstance(obj, type) and issubclass(obj, CanonicalJSONError)
    ]
    codes = [cls.code for cls in classes]
    assert len(codes) == len(set(codes))
    assert {
        "duplicate_key",
        "float_not_allowed",
        "integer_out_of_range",
        "invalid_json",
        "non_finite_number",
        "invalid_utf8",
    } <= set(codes)
    assert all(issubclass(cls, ValueError) for cls in classes)


# --- payload rules -----------------------------------------------------------------------------


def test_payload_floats_rejected_with_path() -> None:
    with pytest.raises(CanonicalJSONError) as info:
        check_payload_rules({"results": [{"value": 12.5}]})
    assert info.value.code == "float_not_allowed"
    assert info.value.path == "/results/0/value"
    # Even a float with an integral value: it is a float on the wire.
    with pytest.raises(CanonicalJSONError, match="float"):
        loads_payload(b'{"v": 1.0}')


@pytest.mark.parametrize("number", [2**53, -(2**53), 10**30])
def test_payload_integer_range(number: int) -> None:
    with pytest.raises(CanonicalJSONError) as info:
        check_payload_rules({"n": number})
    assert info.value.code == "integer_out_of_range"
    with pytest.raises(CanonicalJSONError) as info:
        loads_payload(json.dumps({"n": number}))
    assert info.value.code == "integer_out_of_range"


def test_payload_integer_bounds_accepted() -> None:
    check_payload_rules({"max": MAX_SAFE_INTEGER, "min": -MAX_SAFE_INTEGER, "flag": True})


@pytest.mark.parametrize(
    "value", [(1, 2), {1: "a"}, b"x", {1, 2}, {"a": object()}, {"k": float("nan")}]
)
def test_payload_non_json_values_rejected(value: Any) -> None:
    with pytest.raises(CanonicalJSONError):
        check_payload_rules(value)


# --- canonical form ----------------------------------------------------------------------------


def test_canonical_bytes_examples() -> None:
    assert (
        canonical_bytes({"b": 1, "a": [True, None, "é"]}) == '{"a":[true,null,"é"],"b":1}'.encode()
    )
    # Keys sort by UTF-16 code units, not code points (RFC 8785 3.2.3).
    assert canonical_bytes({"\ufb33": 2, "\U0001f600": 1}) == (
        '{"\U0001f600":1,"\ufb33":2}'.encode()
    )


def test_float_trap_is_why_payloads_have_no_floats() -> None:
    # JCS writes this float as an integer; parsed back it is an int, so the float did not
    # survive a round trip. Payload rules forbid floats to avoid exactly this.
    trap = 4.412998543430453e16
    encoded = canonical_bytes(trap)
    assert encoded == b"44129985434304530"
    assert isinstance(loads_strict(encoded), int)
    with pytest.raises(CanonicalJSONError):
        check_payload_rules({"x": trap})


@pytest.mark.parametrize("value", [2**53, float("inf"), float("nan"), {1, 2}, {"k": b"x"}])
def test_canonical_bytes_rejects_unrepresentable(value: Any) -> None:
    with pytest.raises(CanonicalJSONError):
        canonical_bytes(value)


def _reordered(value: Any, rng: random.Random) -> Any:
    if isinstance(value, dict):
        items = list(value.items())
        rng.shuffle(items)
        return {key: _reordered(item, rng) for key, item in items}
    if isinstance(value, list):
        return [_reordered(item, rng) for item in value]
    return value


@FUZZ
@given(payload_objects, st.randoms(use_true_random=False))
def test_canonical_form_ignores_key_order(payload: dict[str, Any], rng: random.Random) -> None:
    assert canonical_bytes(_reordered(payload, rng)) == canonical_bytes(payload)


@FUZZ
@given(payload_objects, st.sampled_from([None, 0, 2, "\t"]), st.booleans())
def test_canonical_form_survives_parse_round_trip(
    payload: dict[str, Any], indent: int | str | None, ensure_ascii: bool
) -> None:
    expected = canonical_bytes(payload)
    check_payload_rules(payload)
    assert canonical_bytes(loads_payload(expected)) == expected
    pretty = json.dumps(payload, indent=indent, ensure_ascii=ensure_ascii)
    assert canonical_bytes(loads_payload(pretty.encode("utf-8"))) == expected


@FUZZ
@given(st.binary(max_size=300))
def test_loads_strict_on_arbitrary_bytes_raises_only_its_errors(data: bytes) -> None:
    try:
        value = loads_strict(data)
    except CanonicalJSONError:
        return
    with contextlib.suppress(CanonicalJSONError):
        canonical_bytes(value)
        check_payload_rules(value)


_json_fragments = st.sampled_from(
    [
        "{",
        "}",
        "[",
        "]",
        ",",
        ":",
        '"a"',
        '"\\ud800"',
        '"\\u0061"',
        "1",
        "-0",
        "1.5",
        "1e999",
        "NaN",
        "Infinity",
        "-Infinity",
        "true",
        "null",
        " ",
        '"',
        "\\",
        "9007199254740993",
        "\xff",
    ]
)


@FUZZ
@given(st.lists(_json_fragments, max_size=40))
def test_loads_strict_on_json_like_text_raises_only_its_errors(fragments: list[str]) -> None:
    text = "".join(fragments)
    for data in (text, text.encode("utf-8", errors="surrogatepass")):
        try:
            value = loads_strict(data)
        except CanonicalJSONError:
            continue
        with contextlib.suppress(CanonicalJSONError):
            canonical_bytes(value)


# --- the fast serializer is byte-identical to the reference ------------------------------------

_json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**53 - 1), max_value=2**53 - 1),
    st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=20),
)
_json_values = st.recursive(
    _json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=6),
        st.dictionaries(
            st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=8),
            children,
            max_size=6,
        ),
    ),
    max_leaves=40,
)


@settings(max_examples=examples(600), deadline=None)
@given(_json_values)
def test_fast_canonical_form_is_byte_identical_to_rfc8785(value: object) -> None:
    import rfc8785

    from federation.canonical import canonical_bytes

    assert canonical_bytes(value) == rfc8785.dumps(value)


@pytest.mark.parametrize("key", ["\U0001f600", "\ue000", "a\U00010000", "\uffff"])
def test_astral_keys_sort_by_utf16_like_jcs(key: str) -> None:
    import rfc8785

    from federation.canonical import canonical_bytes

    document = {key: 1, "\ue000b": 2, "\U00010000": 3, "z": 4}
    assert canonical_bytes(document) == rfc8785.dumps(document)


@pytest.mark.parametrize(
    "document",
    [{"name": "a\x00b"}, {"a\x00": 1}, {"list": ["ok", ["\x00"]]}, {"deep": {"x": "\x00"}}],
)
def test_payload_rules_refuse_nul(document: dict[str, Any]) -> None:
    # Rule (docs/protocol.md §3.2): no NUL in payload strings or member names; loads_strict
    # (generic JSON, e.g. the JCS vectors) still accepts it.
    with pytest.raises(InvalidStringError) as caught:
        check_payload_rules(document)
    assert caught.value.code == "invalid_string"
    with pytest.raises(InvalidStringError):
        loads_payload(json.dumps(document))
    assert loads_strict(json.dumps(document)) == document


@pytest.mark.parametrize(
    ("depth", "refused"),
    [(MAX_NESTING_DEPTH - 1, False), (MAX_NESTING_DEPTH, False), (MAX_NESTING_DEPTH + 1, True)],
)
def test_loads_strict_nesting_edges(depth: int, refused: bool) -> None:
    text = "[" * depth + "]" * depth
    if refused:
        with pytest.raises(NestingTooDeepError):
            loads_strict(text)
    else:
        loads_strict(text)


def test_loads_strict_refuses_100000_levels_before_parsing() -> None:
    import time

    started = time.perf_counter()
    with pytest.raises(NestingTooDeepError):
        loads_strict(b"[" * 100_000 + b"]" * 100_000)
    assert time.perf_counter() - started < 1.0


def _depth(value: Any) -> int:
    """Reference: nesting depth of a decoded value, counted the slow obvious way."""
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


def _nest(value: Any, levels: int, as_object: bool) -> Any:
    for _ in range(levels):
        value = {"k[{": value} if as_object else [value, "]}["]
    return value


@FUZZ
@given(
    payloads,
    st.integers(min_value=0, max_value=80),
    st.booleans(),
    st.integers(min_value=1, max_value=80),
)
def test_nesting_prescan_agrees_with_the_parsed_depth(
    payload: Any, levels: int, as_object: bool, max_depth: int
) -> None:
    document = _nest(payload, levels, as_object)
    text = json.dumps(document)
    assert canonical.nesting_exceeds(text, max_depth) is (_depth(document) > max_depth)
