"""Exact decimals: values never pass through binary floating point."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from node.disaggregation import disaggregation_key, normalize, parse_key
from schemas.fields import format_decimal, parse_decimal


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12.5", "12.5"),
        ("12.50", "12.50"),
        ("0.1", "0.1"),
        ("-0", "0"),
        ("007", "7"),
        (".5", "0.5"),
        ("+3", "3"),
        (42, "42"),
        ("1234567890123456789.123456789", None),
    ],
)
def test_decimal_text_is_kept_exactly(text: object, expected: str | None) -> None:
    assert format_decimal(parse_decimal(text)) == (expected or text)


@pytest.mark.parametrize(
    "bad",
    [
        1.5,
        True,
        None,
        "",
        "abc",
        "1e5",
        "NaN",
        "Infinity",
        "1,5",
        "1_000",
        "0x10",
        "1." + "1" * 13,
        "9" * 29,
        ["1"],
    ],
)
def test_bad_values_are_refused(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_decimal(bad)


@given(
    st.decimals(
        allow_nan=False,
        allow_infinity=False,
        places=4,
        min_value=Decimal("-1e12"),
        max_value=Decimal("1e12"),
    )
)
def test_decimal_round_trip(number: Decimal) -> None:
    text = format_decimal(number)
    assert parse_decimal(text) == number
    assert format_decimal(parse_decimal(text)) == text


codes = st.from_regex(r"[A-Z][A-Z_]{0,10}", fullmatch=True)


@given(st.dictionaries(codes, st.one_of(st.just("_T"), codes), max_size=6))
def test_disaggregation_key_round_trips_and_ignores_order_and_totals(
    breakdown: dict[str, str],
) -> None:
    key = disaggregation_key(breakdown)
    assert parse_key(key) == normalize(breakdown)
    reordered = dict(reversed(list(breakdown.items())))
    assert disaggregation_key(reordered) == key
    assert disaggregation_key({**breakdown, "ZZZ_TOTAL": "_T"}) == key


def test_total_is_the_empty_key() -> None:
    assert disaggregation_key({}) == "" == disaggregation_key({"SEX": "_T"})
    assert disaggregation_key({"SEX": "F", "AGE_GROUP": "Y_LT18"}) == "AGE_GROUP=Y_LT18|SEX=F"


def test_catalogue_versions_compare_as_numbers() -> None:
    from node.services.catalogue import version_key

    versions = ["0.9.0", "0.10.0", "0.2.0", "1.0.0", "0.10.1"]
    assert max(versions, key=version_key) == "1.0.0"
    assert sorted(versions, key=version_key) == ["0.2.0", "0.9.0", "0.10.0", "0.10.1", "1.0.0"]
