"""The inbox's fast summary loader takes exactly the decisions of ``SummaryPayloadSchema``.

``schemas.summary.fast_load_summary`` replaces marshmallow on the inbox's hot path (issue 14).
The rule it must keep is the schema itself: on random documents, valid and invalid, it accepts
exactly what ``SummaryPayloadSchema().load`` accepts and returns exactly what it returns.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError

from schemas.summary import FastSummaryPayloadSchema, SummaryPayloadSchema, fast_load_summary
from tests.support import examples

FUZZ = settings(max_examples=examples(500), deadline=None)
SCHEMA = SummaryPayloadSchema()

# Values a hostile or buggy peer might put anywhere: wrong types, edge strings, near misses.
JUNK: list[Any] = [
    None,
    True,
    False,
    0,
    1,
    -1,
    2,
    1_000_000,
    1_000_001,
    10_000_001,
    1.0,
    0.0,
    "",
    " ",
    "x",
    "yes",
    "on",
    "true",
    "False",
    "0",
    "1",
    "12.5",
    " 12.5 ",
    "1e3",
    "1_000",
    "nan",
    "-.5",
    "5.",
    "0.1234567890123",
    "12345678901234567890123456789",
    "2025",
    "2025-13",
    "2025-07",
    "2025-Q3",
    "2025-H2",
    "2025-07\n",
    "be-gent",
    "be-gent\n",
    "BE",
    "BE\n",
    "be",
    "ABC",
    "a" * 64,
    "0" * 64,
    "0" * 64 + "\n",
    "a" * 201,
    "a" * 501,
    "IND.1",
    ".IND",
    "-x",
    "validated",
    "published",
    "draft",
    "structural",
    "number",
    "good_up",
    [],
    ["x"],
    [1],
    {},
    {"a": "b"},
    {"a": 1},
    {"period": "2025", "value": "1"},
]
junk = st.sampled_from(JUNK)
# JSON object keys are always strings.
junk_keys = st.sampled_from([value for value in JUNK if isinstance(value, str)])


def mostly(valid: st.SearchStrategy[Any], *near_misses: Any) -> st.SearchStrategy[Any]:
    """Usually ``valid``, now and then one of the ``near_misses`` (values at an edge)."""

    @st.composite
    def draw_value(draw: st.DrawFn) -> Any:
        # One draw in 8 (3 rather than 0 or 7, which Hypothesis favours as bounds).
        if draw(st.integers(0, 7)) == 3:
            return draw(st.sampled_from(near_misses))
        return draw(valid)

    return draw_value()


codes = mostly(
    st.from_regex(r"\A[A-Za-z0-9_][A-Za-z0-9_.\-]{0,8}\Z") | st.sampled_from(["SEX", "F", "X.1"]),
    ".X",
    "-X",
    "X\n",
    "",
    "A" * 65,
)
decimals = mostly(
    st.from_regex(r"\A[+-]?[0-9]{1,6}(\.[0-9]{0,4})?\Z") | st.sampled_from(["0", "-0", ".5"]),
    "1e3",
    "abc",
    "1_0",
    " 12.5",
    "12.5\n",
)
periods = mostly(
    st.sampled_from(["2025", "2025-H1", "2025-Q4", "2025-07"]),
    "1899",
    "2025-7",
    "2025-Q5",
    "2025-07\n",
)
texts = mostly(st.text(min_size=1, max_size=6), "", "a" * 101, "a" * 201, "a" * 301, "a" * 501)


def document(
    required: dict[str, st.SearchStrategy[Any]], optional: dict[str, st.SearchStrategy[Any]]
) -> st.SearchStrategy[dict[str, Any]]:
    """A JSON object with the ``required`` members and some of the ``optional`` ones."""
    return st.fixed_dictionaries(required, optional=optional)


values = decimals | st.booleans()
points = st.none() | document({"period": periods, "value": values}, {})
figures = document(
    {"disaggregation": st.dictionaries(codes, codes, max_size=3), "value": values},
    {"status": st.sampled_from(["validated", "published"])},
)
indicators = document(
    {
        "code": codes,
        "name": texts,
        "right": texts,
        "type": st.sampled_from(["structural", "process", "outcome"]),
        "value_type": st.sampled_from(["number", "boolean", "ordinal"]),
        "unit": st.dictionaries(texts, texts, max_size=2),
        "direction": st.sampled_from(["good_up", "good_down", "context"]),
        "core": st.booleans(),
        "results": st.lists(figures, max_size=4),
    },
    {"maps_to": st.none() | codes, "baseline": points, "target": points},
)
# Nearly valid documents: texts may be empty, integers one past their limits.
nearly_valid = document(
    {
        "city": document(
            {
                "city_id": mostly(
                    st.sampled_from(["be-gent", "it-padova"]), "x", "Be-gent", "be-gent\n"
                ),
                "name": texts,
                "country": mostly(st.sampled_from(["BE", "IT"]), "be", "BEL", "BE\n"),
                "region": texts,
            },
            {},
        ),
        "period": periods,
        "revision": mostly(st.integers(1, 1_000_000), 0, 1_000_001),
        "indicators": st.lists(indicators, max_size=3),
    },
    {
        "supersedes": mostly(
            st.none() | st.sampled_from(["a" * 64, "f0" * 32]), "g" * 64, "a" * 63
        ),
        "catalogue_version": st.none() | texts,
        "themes": st.none() | st.lists(texts, max_size=3),
        "suppressed_cells": mostly(st.integers(0, 10_000_000), -1, 10_000_001),
        "small_cell_threshold": st.integers(-1, 10),
        "source": st.none() | texts,
    },
)


def _places(node: Any, out: list[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    """Every (container, key or index) of a document, to be broken by a mutation."""
    if isinstance(node, dict):
        for key, value in node.items():
            out.append((node, key))
            _places(value, out)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out.append((node, index))
            _places(value, out)
    return out


@st.composite
def payloads(draw: st.DrawFn) -> Any:
    """A nearly valid document, then up to three breakages (junk value, member removed,
    stray member added), or junk as a whole."""
    if draw(st.integers(0, 30)) == 0:
        return draw(junk)
    payload = draw(nearly_valid)
    for _ in range(draw(st.integers(0, 3))):
        places = _places(payload, [])
        container, key = draw(st.sampled_from(places))
        action = draw(st.sampled_from(["junk", "junk", "remove", "stray"]))
        if action == "junk":
            container[key] = draw(junk)
        elif action == "remove" and isinstance(container, dict):
            del container[key]
        elif isinstance(container[key], dict):
            container[key][draw(junk_keys)] = draw(junk)
    return payload


def schema_decision(payload: Any) -> tuple[bool, Any]:
    try:
        return True, SCHEMA.load(copy.deepcopy(payload))
    except ValidationError:
        return False, None


@FUZZ
@given(payloads())
def test_fast_load_takes_the_schemas_decision_and_returns_its_data(payload: Any) -> None:
    accepted, expected = schema_decision(payload)
    loaded = fast_load_summary(copy.deepcopy(payload))
    assert (loaded is not None) == accepted
    if accepted:
        assert loaded == expected


def _valid() -> dict[str, Any]:
    return {
        "city": {"city_id": "be-gent", "name": "Gent", "country": "BE", "region": "eu"},
        "period": "2025-07",
        "revision": 1,
        "indicators": [
            {
                "code": "IND-1",
                "name": "n",
                "right": "housing",
                "type": "outcome",
                "value_type": "number",
                "unit": {"code": "PCT", "label": "%"},
                "direction": "good_up",
                "core": True,
                "results": [{"disaggregation": {"SEX": "F"}, "value": "12.5"}],
            }
        ],
    }


def test_a_valid_document_is_loaded_with_its_defaults() -> None:
    loaded = fast_load_summary(_valid())
    assert loaded == SCHEMA.load(_valid())
    assert loaded is not None and loaded["suppressed_cells"] == 0 and loaded["source"] is None


@pytest.mark.parametrize(
    "edit",
    [
        lambda d: d.update(revision=True),  # a bool is not a strict integer
        lambda d: d.update(revision=1_000_001),  # Range(1, 1_000_000), one past its edge
        lambda d: d["indicators"][0]["results"][0].update(value=12.5),  # a JSON number
        lambda d: d["indicators"][0]["results"][0].update(
            disaggregation={f"D{i}": "X" for i in range(21)}  # Length(max=20) + 1
        ),
    ],
)
def test_refusals_keep_the_schemas_messages(edit: Any) -> None:
    payload = _valid()
    edit(payload)
    with pytest.raises(ValidationError) as fast:
        FastSummaryPayloadSchema().load(payload)
    with pytest.raises(ValidationError) as slow:
        SCHEMA.load(payload)
    assert fast.value.normalized_messages() == slow.value.normalized_messages()


def test_edges_of_the_limits() -> None:
    for revision, ok in [(0, False), (1, True), (1_000_000, True), (1_000_001, False)]:
        payload = _valid()
        payload["revision"] = revision
        assert (fast_load_summary(payload) is not None) == ok, revision
    for size, ok in [(19, True), (20, True), (21, False)]:
        payload = _valid()
        payload["indicators"][0]["results"][0]["disaggregation"] = {
            f"D{i}": "X" for i in range(size)
        }
        assert (fast_load_summary(payload) is not None) == ok, size


@pytest.mark.parametrize(
    ("where", "name", "limit"),
    [
        ("city", "name", 200),
        ("city", "region", 100),
        ("indicator", "name", 500),
        ("indicator", "right", 300),
        ("payload", "source", 100),
    ],
)
def test_text_lengths_at_their_edges(where: str, name: str, limit: int) -> None:
    for size in (0, 1, limit, limit + 1):
        payload = _valid()
        target = {"city": payload["city"], "indicator": payload["indicators"][0]}.get(
            where, payload
        )
        target[name] = "a" * size
        accepted, expected = schema_decision(payload)
        assert accepted == (1 <= size <= limit), (name, size)  # the rule: Length(1, limit)
        assert fast_load_summary(payload) == expected, (name, size)


def test_periods_are_normalised_as_the_schema_does() -> None:
    payload = _valid()
    payload["indicators"][0]["baseline"] = {"period": "2025-07\n", "value": "1"}
    assert fast_load_summary(payload) == SCHEMA.load(
        _valid() | {"indicators": payload["indicators"]}
    )


@pytest.mark.parametrize(
    "value",
    [
        "1234567890123456.123456789012",  # the plain form's edges: 16 + 12 digits, accepted
        "12345678901234567.12345678901",  # 17 before the point: 28 digits, parse_decimal's call
        "1234567890123456.1234567890123",  # 13 places: refused
        "12345678901234567.123456789012",  # 29 digits: refused
        "-0",
        "-0.000000000000",
        "0000000000000000.5",
        "+1",
        "1.",
        ".5",
        "-.5",
        " 1",
        "1 ",
        "١",  # an Arabic-Indic digit: not ASCII
        "1\n",
    ],
)
def test_decimal_values_at_the_plain_forms_edges(value: str) -> None:
    payload = _valid()
    payload["indicators"][0]["results"][0]["value"] = value
    payload["indicators"][0]["baseline"] = {"period": "2025", "value": value}
    accepted, expected = schema_decision(payload)
    assert fast_load_summary(payload) == (expected if accepted else None), value


def test_codes_found_valid_once_are_still_checked_in_every_place() -> None:
    # The loader remembers the codes it already found valid in a document; a code that is
    # valid as a dimension must not let an invalid value (or a non-string) through elsewhere.
    payload = _valid()
    payload["indicators"][0]["results"] = [
        {"disaggregation": {"SEX": "F"}, "value": "1"},
        {"disaggregation": {"SEX": ["F"]}, "value": "1"},
    ]
    assert fast_load_summary(payload) is None
    payload["indicators"][0]["results"][1]["disaggregation"] = {"F": ".bad"}
    assert fast_load_summary(payload) is None
    payload["indicators"][0]["results"][1]["disaggregation"] = {"F": "SEX"}
    assert fast_load_summary(payload) == SCHEMA.load(payload)
