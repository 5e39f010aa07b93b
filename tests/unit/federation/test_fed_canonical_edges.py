"""federation.canonical at its edges: where each refusal points, what it says, and the limits
of the slow walker that words the errors.

Each refusal carries a stable ``code``, a JSON-Pointer ``path`` to the offending value (RFC 6901:
``~`` written ``~0``, ``/`` written ``~1``; ``/`` for the whole document, empty when the
problem has no place, e.g. bytes that are not UTF-8) and a short ``message``; ``str(error)`` is
``"<message> at <path>"`` when there is a path. The expected values below are written from
those rules and from RFC 8785 / RFC 8259, not read from the code. Written to kill the mutants
``make mutate MODULE=federation/canonical.py`` found alive (docs/testing.md).

The fast scan (``_scan_tree``) accepts most documents without building paths; the slow walker
that words the error only runs once the scan has found something wrong. So several tests
below put a *first* problem that the walker must look past (a value that is fine) before the
real one, or a problem at exactly the nesting limit.
"""

from __future__ import annotations

from typing import Any

import pytest

from federation.canonical import (
    MAX_NESTING_DEPTH,
    MAX_SAFE_INTEGER,
    CanonicalJSONError,
    canonical_bytes,
    check_payload_rules,
    loads_strict,
)


def _refusal(call: Any, *args: Any, **kwargs: Any) -> CanonicalJSONError:
    with pytest.raises(CanonicalJSONError) as info:
        call(*args, **kwargs)
    return info.value


# --- where the refusal points, and what it says --------------------------------------------


@pytest.mark.parametrize(
    ("document", "code", "path", "message"),
    [
        # Pointer escaping (RFC 6901): "~" first becomes "~0", then "/" becomes "~1".
        (
            {"a": [1, {"b~/c": 1.5}]},
            "float_not_allowed",
            "/a/1/b~0~1c",
            "floats are not allowed; use a decimal string",
        ),
        ({"~1": 0.5}, "float_not_allowed", "/~01", "floats are not allowed; use a decimal string"),
        # The whole document is the offending value: path "/".
        (2**53, "integer_out_of_range", "/", "integer outside ±(2**53-1)"),
        ([[2**53]], "integer_out_of_range", "/0/0", "integer outside ±(2**53-1)"),
        ({"n": [-(2**53)]}, "integer_out_of_range", "/n/0", "integer outside ±(2**53-1)"),
        ("\ud800", "invalid_string", "/", "string contains a lone surrogate"),
        (["ok", "a\udfffb"], "invalid_string", "/1", "string contains a lone surrogate"),
        ("\x00", "invalid_string", "/", "string contains a NUL character"),
        ({"k": ["\x00"]}, "invalid_string", "/k/0", "string contains a NUL character"),
        ({"\ud800": 1}, "invalid_string", "/", "object key contains a lone surrogate"),
        ({"a": {"\ud800": 1}}, "invalid_string", "/a", "object key contains a lone surrogate"),
        ({"a\x00": 1}, "invalid_string", "/", "object key contains a NUL character"),
        ({"a": {"b\x00": 1}}, "invalid_string", "/a", "object key contains a NUL character"),
        ({1: "x"}, "unsupported_type", "/", "object key int is not a string"),
        ({"a": {None: "x"}}, "unsupported_type", "/a", "object key NoneType is not a string"),
        ((1, 2), "unsupported_type", "/", "tuple is not a JSON value"),
        ({"a": [b"x"]}, "unsupported_type", "/a/0", "bytes is not a JSON value"),
    ],
)
def test_payload_refusals_point_at_the_value_and_say_what_is_wrong(
    document: Any, code: str, path: str, message: str
) -> None:
    error = _refusal(check_payload_rules, document)
    assert (error.code, error.path, error.message) == (code, path, message)
    assert str(error) == f"{message} at {path}"


@pytest.mark.parametrize(
    ("document", "path", "message"),
    [
        (float("inf"), "/", "non-finite float"),
        ([1, {"x": float("nan")}], "/1/x", "non-finite float"),
    ],
)
def test_canonical_bytes_refuses_non_finite_floats_with_their_place(
    document: Any, path: str, message: str
) -> None:
    error = _refusal(canonical_bytes, document)
    assert (error.code, error.path, error.message) == ("non_finite_number", path, message)


def test_a_refusal_without_a_place_has_an_empty_path_and_a_bare_message() -> None:
    error = _refusal(loads_strict, b"\xff")
    assert (error.code, error.path, error.message) == (
        "invalid_utf8",
        "",
        "invalid UTF-8 at byte 0",
    )
    assert str(error) == "invalid UTF-8 at byte 0"  # no " at " suffix without a path


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_json_constants_are_named_in_the_refusal(constant: str) -> None:
    error = _refusal(loads_strict, f"[{constant}]")
    assert error.code == "non_finite_number"
    assert error.message == f"non-finite number {constant} is not JSON"


def test_an_overflowing_literal_is_quoted_in_the_refusal_cut_to_40_characters() -> None:
    literal = "1" + "0" * 50 + "e400"  # 55 characters, infinite as a double
    error = _refusal(loads_strict, f"[{literal}]")
    assert error.code == "non_finite_number"
    assert error.message == f"number {literal[:40]!r} is not finite as a double"
    short = _refusal(loads_strict, "-1e999")
    assert short.message == "number '-1e999' is not finite as a double"


# --- the slow walker must look past values that are fine -----------------------------------


def test_the_walker_looks_past_null_true_and_the_largest_safe_integers() -> None:
    # None, booleans and ±(2**53-1) are fine: the float after them is the problem.
    document = [None, True, False, MAX_SAFE_INTEGER, -MAX_SAFE_INTEGER, 1.5]
    error = _refusal(check_payload_rules, document)
    assert (error.code, error.path) == ("float_not_allowed", "/5")


def test_the_walker_looks_past_a_finite_float_where_floats_are_allowed() -> None:
    # canonical_bytes allows finite floats (JCS defines their form): the bytes are the problem.
    error = _refusal(canonical_bytes, [1.5, b"x"])
    assert (error.code, error.path) == ("unsupported_type", "/1")


def test_loads_strict_allows_nul_and_unsafe_integers_while_it_looks_for_the_problem() -> None:
    # NUL and integers beyond 2**53 are valid generic JSON (only payloads refuse them): the
    # lone surrogate after them is the problem.
    error = _refusal(loads_strict, '["\\u0000", {"a\\u0000": 9007199254740993}, "\\ud800"]')
    assert (error.code, error.path) == ("invalid_string", "/2")


# --- nesting exactly at the limit, through the walker --------------------------------------


@pytest.mark.parametrize("limit", [1, 3, MAX_NESTING_DEPTH])
def test_nesting_at_the_limit_is_allowed_one_deeper_is_refused_lists(limit: int) -> None:
    # ``limit`` nested arrays are allowed: the float at the bottom is the problem.
    at_limit: Any = 1.5
    for _ in range(limit):
        at_limit = [at_limit]
    error = _refusal(check_payload_rules, at_limit, max_depth=limit)
    assert (error.code, error.path) == ("float_not_allowed", "/0" * limit)
    # One more array: refused where the array too many starts (depth ``limit``).
    error = _refusal(check_payload_rules, [at_limit], max_depth=limit)
    assert (error.code, error.path) == ("nesting_too_deep", "/0" * limit)
    assert error.message == f"nesting deeper than {limit}"


@pytest.mark.parametrize("limit", [1, 3, MAX_NESTING_DEPTH])
def test_nesting_at_the_limit_is_allowed_one_deeper_is_refused_objects(limit: int) -> None:
    at_limit: Any = 1.5
    for _ in range(limit):
        at_limit = {"k": at_limit}
    error = _refusal(check_payload_rules, at_limit, max_depth=limit)
    assert (error.code, error.path) == ("float_not_allowed", "/k" * limit)
    error = _refusal(check_payload_rules, {"k": at_limit}, max_depth=limit)
    assert (error.code, error.path) == ("nesting_too_deep", "/k" * limit)


def test_with_no_nesting_allowed_the_whole_document_is_the_refused_value() -> None:
    check_payload_rules("a scalar", max_depth=0)  # depth 0: scalars only
    for document in ([], {}):
        error = _refusal(check_payload_rules, document, max_depth=0)
        assert (error.code, error.path, error.message) == (
            "nesting_too_deep",
            "/",
            "nesting deeper than 0",
        )
