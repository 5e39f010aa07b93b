"""``hrc.summary/1``: a city's signed summary of its validated results for one period.

Aggregates only, never personal data; small cells are suppressed before signing. Values are
decimal strings (or booleans for yes/no indicators), never JSON numbers.
"""

from __future__ import annotations

import re
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from schemas.fields import CITY_ID_RE, CODE_RE, CityId, Code, PeriodString, parse_decimal
from schemas.periods import PeriodError, parse_period

SUMMARY_TYPE = "hrc.summary"
SUMMARY_SCHEMA = "hrc.summary/1"
SUMMARY_STREAM = "summaries"


class FigureValue(fields.Field):
    """A decimal string or a boolean, kept as given (the signature covers the exact text)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, bool):
            return value
        if not isinstance(value, str):
            raise ValidationError("a decimal string or a boolean")
        try:
            parse_decimal(value)
        except ValueError as exc:
            raise ValidationError(str(exc)) from exc
        return value


class CitySchema(Schema):
    class Meta:
        unknown = EXCLUDE

    city_id = CityId(required=True)
    name = fields.String(required=True, validate=validate.Length(1, 200))
    country = fields.String(required=True, validate=validate.Regexp(r"^[A-Z]{2}$"))
    region = fields.String(required=True, validate=validate.Length(1, 100))


class SummaryPointSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    period = PeriodString(required=True)
    value = FigureValue(required=True)


class SummaryFigureSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    disaggregation = fields.Dict(
        keys=Code(), values=Code(), required=True, validate=validate.Length(max=20)
    )
    value = FigureValue(required=True)
    status = fields.String(validate=validate.OneOf(("validated", "published")))


class SummaryIndicatorSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    code = Code(required=True)
    name = fields.String(required=True, validate=validate.Length(1, 500))
    right = fields.String(required=True, validate=validate.Length(1, 300))
    type = fields.String(
        required=True, validate=validate.OneOf(("structural", "process", "outcome"))
    )
    value_type = fields.String(
        required=True, validate=validate.OneOf(("number", "boolean", "ordinal"))
    )
    unit = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    direction = fields.String(
        required=True, validate=validate.OneOf(("good_up", "good_down", "context"))
    )
    core = fields.Boolean(required=True)
    maps_to = Code(allow_none=True, load_default=None)
    results = fields.List(
        fields.Nested(SummaryFigureSchema), required=True, validate=validate.Length(max=5000)
    )
    baseline = fields.Nested(SummaryPointSchema, allow_none=True, load_default=None)
    target = fields.Nested(SummaryPointSchema, allow_none=True, load_default=None)


class SummaryPayloadSchema(Schema):
    """Payload of an ``hrc.summary`` envelope (unknown members tolerated: newer versions)."""

    class Meta:
        unknown = EXCLUDE

    city = fields.Nested(CitySchema, required=True)
    period = PeriodString(required=True)
    revision = fields.Integer(required=True, strict=True, validate=validate.Range(1, 1_000_000))
    supersedes = fields.String(
        allow_none=True, load_default=None, validate=validate.Regexp(r"^[0-9a-f]{64}$")
    )
    catalogue_version = fields.String(allow_none=True, load_default=None)
    themes = fields.List(fields.String(), allow_none=True, load_default=None)
    suppressed_cells = fields.Integer(
        strict=True, load_default=0, validate=validate.Range(0, 10_000_000)
    )
    small_cell_threshold = fields.Integer(strict=True, load_default=0)
    indicators = fields.List(
        fields.Nested(SummaryIndicatorSchema), required=True, validate=validate.Length(max=2000)
    )
    # Where the figures come from; "sample" = generated sample data, not a city's real figures
    # (the demo's cities). Optional: summaries without it (all before it existed) stay valid.
    source = fields.String(allow_none=True, load_default=None, validate=validate.Length(1, 100))


# --- the fast path -------------------------------------------------------------------------------
#
# ``SummaryPayloadSchema().load`` was about half of an inbox ingest (issue 14): marshmallow builds
# a field context, error dicts and validator calls for each of the ~350 figures. The function
# below takes the same decisions with plain Python over the same rules (same regexes, same
# period and decimal parsers, marshmallow's own boolean sets), and a Hypothesis property test
# (tests/unit/federation/test_summary_fast_load.py) checks on random valid and invalid
# documents that it accepts exactly what the schema accepts and returns exactly what the
# schema returns. It never has to explain a refusal: the caller then runs the schema, whose
# error messages stay the ones peers see.

_COUNTRY_RE = re.compile(r"^[A-Z]{2}$")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_TYPES = frozenset(("structural", "process", "outcome"))
_VALUE_TYPES = frozenset(("number", "boolean", "ordinal"))
_DIRECTIONS = frozenset(("good_up", "good_down", "context"))
_FIGURE_STATUSES = frozenset(("validated", "published"))
_TRUTHY = fields.Boolean.truthy
_FALSY = fields.Boolean.falsy


class _Refused(Exception):
    """The fast path refuses; the schema will say why."""


def _text(value: Any, low: int = 0, high: int | None = None) -> str:
    if type(value) is not str or len(value) < low or (high is not None and len(value) > high):
        raise _Refused
    return value


def _code(value: Any) -> str:
    if type(value) is not str or not CODE_RE.match(value):
        raise _Refused
    return value


def _period(value: Any) -> str:
    if type(value) is not str:
        raise _Refused
    known = _PERIODS.get(value)
    if known is not None:
        return known
    try:
        normalised = str(parse_period(value))
    except PeriodError as exc:
        raise _Refused from exc
    if len(_PERIODS) < _PERIODS_KEPT:
        _PERIODS[value] = normalised
    return normalised


# Period texts already normalised (a summary repeats its baseline and target periods): a
# pure function of the text, kept for the process, bounded so that hostile texts cannot grow it.
_PERIODS: dict[str, str] = {}
_PERIODS_KEPT = 4096


def _strict_int(value: Any, low: int | None = None, high: int | None = None) -> int:
    # marshmallow's strict Integer: an int, never a bool (JSON has no other integer type).
    if type(value) is not int:
        raise _Refused
    if (low is not None and value < low) or (high is not None and value > high):
        raise _Refused
    return value


# Decimal texts ``parse_decimal`` certainly accepts: no sign but "-", no space, ASCII digits,
# at most 16 before the point and 12 after it (so at most 28 significant digits and 12
# places, its two limits). Anything else is decided by ``parse_decimal`` itself.
_PLAIN_DECIMAL = re.compile(r"-?[0-9]{1,16}(?:\.[0-9]{1,12})?")
_plain_decimal = _PLAIN_DECIMAL.fullmatch


def _figure_value(value: Any) -> Any:
    if value is True or value is False:
        return value
    if type(value) is not str:
        raise _Refused
    if _plain_decimal(value) is None:
        try:
            parse_decimal(value)
        except ValueError as exc:
            raise _Refused from exc
    return value


def _boolean(value: Any) -> bool:
    try:
        if value in _TRUTHY:
            return True
        if value in _FALSY:
            return False
    except TypeError as exc:  # an unhashable value (list, dict): marshmallow refuses it too
        raise _Refused from exc
    raise _Refused


def _point(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if type(value) is not dict or "period" not in value or "value" not in value:
        raise _Refused
    return {"period": _period(value["period"]), "value": _figure_value(value["value"])}


def _figure(value: Any, codes: set[str]) -> dict[str, Any]:
    """One figure; ``codes`` holds the codes of this document already found valid."""
    if type(value) is not dict:
        raise _Refused
    breakdown = value.get("disaggregation", _Refused)
    if type(breakdown) is not dict or len(breakdown) > 20 or "value" not in value:
        raise _Refused
    for dimension, code in breakdown.items():
        # A JSON key is a str; a code may be anything, so its type is checked before the set.
        if dimension not in codes:
            codes.add(_code(dimension))
        if type(code) is not str or code not in codes:
            codes.add(_code(code))
    figure: dict[str, Any] = {"disaggregation": dict(breakdown), "value": value["value"]}
    _figure_value(figure["value"])
    if "status" in value:
        if type(value["status"]) is not str or value["status"] not in _FIGURE_STATUSES:
            raise _Refused
        figure["status"] = value["status"]
    return figure


def _indicator(value: Any, codes: set[str]) -> dict[str, Any]:
    if type(value) is not dict:
        raise _Refused
    get = value.get
    unit, results = get("unit"), get("results")
    if type(unit) is not dict or type(results) is not list or len(results) > 5000:
        raise _Refused
    for key, text in unit.items():
        _text(key)
        _text(text)
    for name in ("type", "value_type", "direction"):
        if type(get(name)) is not str:
            raise _Refused
    if (
        value["type"] not in _TYPES
        or value["value_type"] not in _VALUE_TYPES
        or value["direction"] not in _DIRECTIONS
        or "core" not in value
    ):
        raise _Refused
    maps_to = get("maps_to")
    return {
        "code": _code(get("code")),
        "name": _text(get("name"), 1, 500),
        "right": _text(get("right"), 1, 300),
        "type": value["type"],
        "value_type": value["value_type"],
        "unit": dict(unit),
        "direction": value["direction"],
        "core": _boolean(value["core"]),
        "maps_to": None if maps_to is None else _code(maps_to),
        "results": [_figure(figure, codes) for figure in results],
        "baseline": _point(get("baseline")),
        "target": _point(get("target")),
    }


def fast_load_summary(payload: Any) -> dict[str, Any] | None:
    """``SummaryPayloadSchema().load(payload)`` without marshmallow, or None where the schema
    would refuse (proven equal by a property test; see the comment above)."""
    try:
        return _fast_load(payload)
    except _Refused:
        return None


def _fast_load(payload: Any) -> dict[str, Any]:
    if type(payload) is not dict:
        raise _Refused
    get = payload.get
    city, indicators, themes = get("city"), get("indicators"), get("themes")
    if type(city) is not dict or type(indicators) is not list or len(indicators) > 2000:
        raise _Refused
    city_id = city.get("city_id")
    if type(city_id) is not str or not CITY_ID_RE.match(city_id):
        raise _Refused
    country = city.get("country")
    if type(country) is not str or not _COUNTRY_RE.match(country):
        raise _Refused
    supersedes = get("supersedes")
    if supersedes is not None and (type(supersedes) is not str or not _SHA256_RE.match(supersedes)):
        raise _Refused
    catalogue_version = get("catalogue_version")
    if catalogue_version is not None:
        _text(catalogue_version)
    if themes is not None:
        if type(themes) is not list:
            raise _Refused
        themes = [_text(theme) for theme in themes]
    source = get("source")
    if source is not None:
        _text(source, 1, 100)
    codes: set[str] = set()
    loaded: dict[str, Any] = {
        "city": {
            "city_id": city_id,
            "name": _text(city.get("name"), 1, 200),
            "country": country,
            "region": _text(city.get("region"), 1, 100),
        },
        "period": _period(get("period")),
        "revision": _strict_int(get("revision"), 1, 1_000_000),
        "supersedes": supersedes,
        "catalogue_version": catalogue_version,
        "themes": themes,
        "suppressed_cells": _strict_int(get("suppressed_cells", 0), 0, 10_000_000),
        "small_cell_threshold": _strict_int(get("small_cell_threshold", 0)),
        "indicators": [_indicator(indicator, codes) for indicator in indicators],
        "source": source,
    }
    return loaded


class FastSummaryPayloadSchema:
    """A drop-in for ``SummaryPayloadSchema()`` where only ``load`` is needed (the inbox).

    Accepted documents come from :func:`fast_load_summary`; a refused one goes through the
    marshmallow schema, which raises its usual ``ValidationError`` with its usual messages.
    """

    def __init__(self) -> None:
        self._schema = SummaryPayloadSchema()

    def load(self, payload: Any) -> dict[str, Any]:
        """The loaded payload, or marshmallow's ``ValidationError``."""
        loaded = fast_load_summary(payload)
        if loaded is None:
            loaded = self._schema.load(payload)  # raises, with the schema's own messages
        return loaded
