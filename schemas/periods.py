"""The one period grammar of hrcnet: ``2025``, ``2025-H1``, ``2025-Q3``, ``2025-07``.

Periods are part of the wire contract (results, summaries, benchmarks all carry them), so the
grammar lives here, free of Flask and SQLAlchemy. A period is ordered by its end date first, then
by its start date: ``2025-Q1`` < ``2025-H1`` < ``2025`` (all start on 1 January, the shorter one
ends first), which is the order in which figures become known.
"""

from __future__ import annotations

import calendar
import functools
import re
from dataclasses import dataclass
from datetime import date
from typing import Literal

PERIOD_PATTERN = (
    r"^(?P<year>[0-9]{4})(?:-(?:H(?P<half>[12])|Q(?P<quarter>[1-4])|(?P<month>0[1-9]|1[0-2])))?$"
)
_PERIOD_RE = re.compile(PERIOD_PATTERN)

MIN_YEAR = 1900
MAX_YEAR = 2200

PeriodKind = Literal["year", "half", "quarter", "month"]


class PeriodError(ValueError):
    """Not a period of the grammar ``YYYY``, ``YYYY-H1``, ``YYYY-Q3``, ``YYYY-MM``.

    ``variant`` says which rule refused (``period_not_text``, ``period_malformed``,
    ``period_year_range``) and ``params`` the values the message quotes, so that a page can say
    it in its reader's language (``node.refusals``).
    """

    def __init__(
        self,
        message: str,
        *,
        variant: str | None = None,
        params: dict[str, object] | None = None,
    ) -> None:
        super().__init__(message)
        self.variant = variant
        self.params = params or {}


@dataclass(frozen=True, slots=True)
class Period:
    """A calendar period: a year, a half, a quarter or a month."""

    year: int
    kind: PeriodKind
    index: int  # 1 for a year, 1-2 for halves, 1-4 for quarters, 1-12 for months

    @property
    def start(self) -> date:
        """First day of the period."""
        return _bounds(self.year, self.kind, self.index)[0]

    @property
    def end(self) -> date:
        """Last day of the period (inclusive)."""
        return _bounds(self.year, self.kind, self.index)[1]

    @property
    def sort_key(self) -> tuple[date, date]:
        """Order by end date, then start date (see the module docstring)."""
        return (self.end, self.start)

    def __str__(self) -> str:
        if self.kind == "year":
            return f"{self.year:04d}"
        if self.kind == "half":
            return f"{self.year:04d}-H{self.index}"
        if self.kind == "quarter":
            return f"{self.year:04d}-Q{self.index}"
        return f"{self.year:04d}-{self.index:02d}"

    def __lt__(self, other: Period) -> bool:
        return self.sort_key < other.sort_key

    def __le__(self, other: Period) -> bool:
        return self.sort_key <= other.sort_key

    def __gt__(self, other: Period) -> bool:
        return self.sort_key > other.sort_key

    def __ge__(self, other: Period) -> bool:
        return self.sort_key >= other.sort_key

    def previous(self) -> Period:
        """The period of the same kind just before this one (``2025-Q1`` → ``2024-Q4``)."""
        per_year = {"year": 1, "half": 2, "quarter": 4, "month": 12}[self.kind]
        if self.index > 1:
            return Period(self.year, self.kind, self.index - 1)
        return Period(self.year - 1, self.kind, per_year)

    def following(self) -> Period:
        """The period of the same kind just after this one (``2024-Q4`` → ``2025-Q1``): the one
        whose :meth:`previous` this is."""
        per_year = {"year": 1, "half": 2, "quarter": 4, "month": 12}[self.kind]
        if self.index < per_year:
            return Period(self.year, self.kind, self.index + 1)
        return Period(self.year + 1, self.kind, 1)


@functools.lru_cache(maxsize=16_384)
def _bounds(year: int, kind: str, index: int) -> tuple[date, date]:
    """(first day, last day) of a period; cached: progress and exports compare periods often,
    and ``calendar.monthrange`` was most of their time (a few thousand periods exist at most)."""
    first_month = {
        "year": 1,
        "half": 1 + 6 * (index - 1),
        "quarter": 1 + 3 * (index - 1),
        "month": index,
    }[kind]
    months = {"year": 12, "half": 6, "quarter": 3, "month": 1}[kind]
    last_month = first_month + months - 1
    return date(year, first_month, 1), date(
        year, last_month, calendar.monthrange(year, last_month)[1]
    )


def parse_period(text: object) -> Period:
    """Parse a period string; raise :class:`PeriodError` with a readable message otherwise."""
    if not isinstance(text, str):
        raise PeriodError(
            "A period must be a string such as 2025, 2025-H1, 2025-Q3 or 2025-07.",
            variant="period_not_text",
        )
    match = _PERIOD_RE.match(text)
    if match is None:
        raise PeriodError(
            f"'{text[:40]}' is not a period: use 2025, 2025-H1, 2025-Q3 or 2025-07.",
            variant="period_malformed",
            params={"period": text[:40]},
        )
    year = int(match["year"])
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise PeriodError(
            f"Year {year} is outside {MIN_YEAR}-{MAX_YEAR}.",
            variant="period_year_range",
            params={"year": year, "min": MIN_YEAR, "max": MAX_YEAR},
        )
    if match["half"]:
        return Period(year, "half", int(match["half"]))
    if match["quarter"]:
        return Period(year, "quarter", int(match["quarter"]))
    if match["month"]:
        return Period(year, "month", int(match["month"]))
    return Period(year, "year", 1)


def is_period(text: object) -> bool:
    """True when ``text`` follows the period grammar."""
    try:
        parse_period(text)
    except PeriodError:
        return False
    return True
