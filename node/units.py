"""What a figure's unit allows, and when a new figure is far enough from the last one to ask.

Pure rules (no database, no Flask), used by every way a figure comes in (the entry page, the API,
file imports and the CLI) through :func:`node.services.results.prepare_results`. The unit code is
the catalogue's ``unit.code`` (``../shared/data/indicator_catalogue.json``):

- ``PT`` (percent): between 0 and 100 inclusive;
- a count (``COUNT``, ``PERSONS``, ``N_…``; the same names the small-cell rule of
  ``node.network.summaries`` reads as counts of people or cases): a whole number, 0 or more;
- a rate ``PER_<base>`` (``PER_10K``, ``PER_1K_HH``, ``PER_100K``…): 0 or more and at most its
  base — more than one per resident or household means a count was typed where a rate belongs;
- booleans and ordinal scores are checked by their own value type; every other unit (months,
  µg/m³, euro per resident…) is taken as it is.

Outliers (:func:`outlier`): a new value is compared with the stored value of the same indicator and
breakdown for the period just before (``2025`` → ``2024``, ``2025-Q1`` → ``2024-Q4``). For a
percentage, a change of more than ``PERCENT_POINTS`` points; for any other number, more than
``FACTOR`` times or less than 1/``FACTOR`` of the previous value (from 0, any other value). Yes/no
answers and ordinal scores are never outliers (every change of them is a plain fact).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal

PERCENT_UNITS = ("PT",)
# The same hints as node.network.summaries' small-cell rule (kept equal by a unit test): a unit
# counted in people or cases is a whole number there and here.
COUNT_UNIT_HINTS = ("COUNT", "PERSONS", "PEOPLE", "CASES", "VICTIMS", "HOUSEHOLDS", "N")
_RATE_RE = re.compile(r"^PER_(\d+)([KM]?)(?:_[A-Z0-9]+)*$")
_MULTIPLIERS = {"": 1, "K": 1_000, "M": 1_000_000}

# The outlier rule's thresholds (docs/results.md): more than 10 points for a percentage, more than
# double or less than half for every other number.
PERCENT_POINTS = Decimal(10)
FACTOR = Decimal(2)


def is_count_unit(unit_code: str) -> bool:
    """Whether the unit counts people or cases (a whole number)."""
    code = unit_code.upper()
    return code in COUNT_UNIT_HINTS or code.startswith(("N_", "COUNT_", "NUM_"))


def rate_base(unit_code: str) -> int | None:
    """The base of a ``PER_<n>[K|M][_WHAT]`` rate (``PER_10K_HH`` → 10,000), else None."""
    match = _RATE_RE.match(unit_code.upper())
    if match is None:
        return None
    return int(match[1]) * _MULTIPLIERS[match[2]]


@dataclass(frozen=True)
class UnitProblem:
    """A value its unit does not allow: a problem ``code`` for programs, a message for people."""

    code: str  # value_out_of_range | value_not_whole_number
    message: str
    variant: str = ""  # which rule (a page translates it: node.refusals)
    params: dict[str, str] = field(default_factory=dict)


def check_unit(unit_code: str, value: Decimal) -> UnitProblem | None:
    """The problem of a numeric ``value`` in ``unit_code``, or None when the unit allows it."""
    if unit_code.upper() in PERCENT_UNITS:
        if not Decimal(0) <= value <= Decimal(100):
            return UnitProblem("value_out_of_range", "a percentage is between 0 and 100", "percent")
        return None
    if is_count_unit(unit_code):
        if value < 0:
            return UnitProblem("value_out_of_range", "a count cannot be negative", "count_negative")
        if value != value.to_integral_value():
            return UnitProblem(
                "value_not_whole_number", "a count of people or cases is a whole number", "count"
            )
        return None
    base = rate_base(unit_code)
    if base is not None:
        if value < 0:
            return UnitProblem("value_out_of_range", "a rate cannot be negative", "rate_negative")
        if value > base:
            return UnitProblem(
                "value_out_of_range",
                f"a rate per {base:,} cannot be more than {base:,} "
                "(is this a count rather than a rate?)",
                "rate_above_base",
                {"base": str(base)},
            )
    return None


@dataclass(frozen=True)
class Outlier:
    """Why a new value needs confirming: the previous period's value and the rule it breaks."""

    previous_period: str
    previous_value: str
    rule: str  # points | factor


def outlier(
    unit_code: str,
    value_type: str,
    new: Decimal | bool,
    previous: Decimal | bool | None,
    previous_period: str,
) -> Outlier | None:
    """Whether ``new`` is far from the previous period's value (see the module docstring)."""
    if value_type != "number" or previous is None:
        return None
    if isinstance(new, bool) or isinstance(previous, bool):
        return None
    shown = str(previous)
    if unit_code.upper() in PERCENT_UNITS:
        if abs(new - previous) > PERCENT_POINTS:
            return Outlier(previous_period, shown, "points")
        return None
    if previous == 0:
        return Outlier(previous_period, shown, "factor") if new != 0 else None
    ratio = new / previous
    if ratio > FACTOR or ratio < 1 / FACTOR:
        return Outlier(previous_period, shown, "factor")
    return None
