"""Marshmallow fields shared by every schema: exact decimals, periods, city ids, codes.

Measured values never travel as JSON numbers: binary floats cannot hold 0.1 exactly, and a value
that changes on the way cannot be signed and verified. They travel as decimal strings and are held
as :class:`decimal.Decimal`.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from marshmallow import ValidationError, fields

from schemas.periods import PeriodError, parse_period

CITY_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{1,62}$"
CITY_ID_RE = re.compile(CITY_ID_PATTERN)
CODE_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,63}$"
CODE_RE = re.compile(CODE_PATTERN)

MAX_DECIMAL_DIGITS = 28
MAX_DECIMAL_PLACES = 12
_DECIMAL_TEXT_RE = re.compile(r"^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)$")


def parse_decimal(value: Any) -> Decimal:
    """Parse a measured value given as a decimal string (or an integer) into an exact Decimal.

    Floats are refused on purpose: by the time we see one the exact value is already lost.
    """
    if isinstance(value, bool):
        raise ValueError('expected a decimal string such as "12.5", not a boolean')
    if isinstance(value, int):
        text = str(value)
    elif isinstance(value, float):
        raise ValueError('send the value as a decimal string such as "12.5", not a JSON number')
    elif isinstance(value, str):
        text = value.strip().replace("_", "#")  # Decimal() would accept 1_000; we do not
    else:
        raise ValueError('expected a decimal string such as "12.5"')
    if not _DECIMAL_TEXT_RE.match(text):
        raise ValueError(
            f"'{text[:40]}' is not a decimal number (use digits and a point, e.g. 12.5)"
        )
    try:
        number = Decimal(text)
    except InvalidOperation as exc:  # pragma: no cover - the regex already excludes this
        raise ValueError(f"'{text[:40]}' is not a decimal number") from exc
    # The text has no exponent (the pattern above), so the exponent is minus the number of
    # digits after the point, and adjusted() = exponent + digits - 1 gives the digit count:
    # the same numbers as number.as_tuple() without building a tuple per value (an import
    # checks a million values).
    point = text.find(".")
    exponent = 0 if point < 0 else point + 1 - len(text)
    digits = number.adjusted() - exponent + 1
    if digits > MAX_DECIMAL_DIGITS:
        raise ValueError(f"at most {MAX_DECIMAL_DIGITS} significant digits")
    if -exponent > MAX_DECIMAL_PLACES:
        raise ValueError(f"at most {MAX_DECIMAL_PLACES} decimal places")
    return number


def format_decimal(number: Decimal) -> str:
    """Render a Decimal as plain positional text, keeping its precision (``12.50`` stays)."""
    if number == 0:
        number = abs(number)  # "-0" would be a second spelling of zero
    return format(number, "f")


class DecimalString(fields.Field):
    """A decimal carried as a string on the wire and as :class:`Decimal` in Python."""

    default_error_messages = {"invalid": "Not a valid decimal string: {reason}"}

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        if value is None:
            return None
        return format_decimal(value if isinstance(value, Decimal) else parse_decimal(value))

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Decimal:
        try:
            return parse_decimal(value)
        except ValueError as exc:
            raise self.make_error("invalid", reason=str(exc)) from exc


class DecimalText(fields.String):
    """A decimal number written as plain text and kept as text (e.g. a received statistic).

    Refuses what a page could not turn into a number: ``"abc"``, ``"nan"``, ``"inf"``,
    exponents, more than 28 significant digits or 12 decimal places (the rules of
    :func:`parse_decimal`). Optional ``minimum``/``maximum`` bound the value itself.
    """

    def __init__(
        self, *, minimum: Decimal | None = None, maximum: Decimal | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.minimum, self.maximum = minimum, maximum

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            number = parse_decimal(text)
        except ValueError as exc:
            raise ValidationError(f"Not a decimal number: {exc}") from exc
        if self.minimum is not None and number < self.minimum:
            raise ValidationError(f"Must be at least {self.minimum}.")
        if self.maximum is not None and number > self.maximum:
            raise ValidationError(f"Must be at most {self.maximum}.")
        return text.strip()


class PeriodString(fields.String):
    """A period of the grammar ``2025``, ``2025-H1``, ``2025-Q3``, ``2025-07`` (kept as text)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            return str(parse_period(text))
        except PeriodError as exc:
            raise ValidationError(str(exc)) from exc


class CityId(fields.String):
    """A city identifier such as ``be-gent``."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if not CITY_ID_RE.match(text):
            raise ValidationError(
                "A city id is 2-63 lowercase letters, digits or '-', e.g. be-gent."
            )
        return text


class Code(fields.String):
    """An identifier code (indicator, dimension, unit): letters, digits, ``_ . -``."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if not CODE_RE.match(text):
            raise ValidationError(
                "A code is 1-64 letters, digits, '_', '.' or '-' (not starting with '.' or '-')."
            )
        return text
