"""The equality gap: how far apart the best- and worst-off groups of a ground are, over time.

Pure functions, no database (like :mod:`node.progress`). A *ground* is one dimension of
breakdown (sex, disability, district...); its *groups* are the dimension's codes. Only figures
broken down by that ground alone count (``{"SEX": "F"}``, not ``{"SEX": "F", "AGE": "Y65"}``,
nor the total): a cross-breakdown is another population.

The rule, in the sentences the pages use:

- **Gap of a period.** Among the groups with a figure for the period, the *best-off* group is the
  one with the best value in the indicator's good direction (the highest for ``good_up``, the
  lowest for ``good_down``), the *worst-off* the one with the worst value. The gap is the
  distance between the two values, in the indicator's unit (``best - worst`` for ``good_up``,
  ``worst - best`` for ``good_down``): never negative, 0 when all groups are equal. Tied groups
  are all named (sorted by code). A period with figures for fewer than two groups has no gap
  (it is listed as skipped).
- **Context indicators** (no good direction) have no best- or worst-off group: the spread
  (highest - lowest) is shown, never judged.
- **Closing or widening.** The latest gap is compared with the previous period's gap (the
  latest earlier period that has one: periods without a gap are passed over) and with the
  first period's gap:

  ============  ===================================================================
  closing       narrower than the previous period's, and not wider than the first's
  widening      wider than the previous period's, and not narrower than the first's
  unchanged     the same as the previous period's
  mixed         narrower than the previous but wider than the first, or the reverse
  too_few       fewer than two periods with a gap: nothing to compare
  not_assessed  a context indicator
  ============  ===================================================================

  Values are exact decimals: 0.1 + 0.2 is compared as 0.3, so "unchanged" means unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from node.charts import ChartBlock
from node.disaggregation import TOTAL_CODE
from schemas.periods import parse_period

__all__ = [
    "GapBlock",
    "GAP_TRENDS",
    "GapPoint",
    "GapSeries",
    "gap_of_period",
    "gap_series",
    "gap_trend",
    "grounds_of",
    "groups_by_period",
]

GapTrendName = Literal["closing", "widening", "unchanged", "mixed", "too_few", "not_assessed"]
GAP_TRENDS: tuple[GapTrendName, ...] = (
    "closing",
    "widening",
    "unchanged",
    "mixed",
    "too_few",
    "not_assessed",
)
JUDGED_DIRECTIONS = ("good_up", "good_down")


@dataclass(frozen=True)
class GapPoint:
    """The gap of one period: its size and the groups at each end.

    ``best``/``worst`` name the best- and worst-off groups (all of them when tied); for a
    context indicator they are empty and ``highest``/``lowest`` say where the spread runs.
    """

    period: str
    gap: Decimal
    best: tuple[str, ...]
    worst: tuple[str, ...]
    best_value: Decimal
    worst_value: Decimal
    groups: int  # how many groups had a figure


@dataclass(frozen=True)
class GapSeries:
    """A ground's gap over time: the periods with a gap (oldest first), those without, the trend."""

    ground: str
    direction: str
    points: tuple[GapPoint, ...]
    skipped: tuple[str, ...]  # periods with a figure for fewer than two groups
    trend: GapTrendName

    @property
    def latest(self) -> GapPoint | None:
        """The newest period's gap, if any."""
        return self.points[-1] if self.points else None

    @property
    def previous(self) -> GapPoint | None:
        """The gap the latest is compared with: the latest earlier period that has one."""
        return self.points[-2] if len(self.points) >= 2 else None

    @property
    def first(self) -> GapPoint | None:
        """The oldest period's gap, if any."""
        return self.points[0] if self.points else None


def gap_of_period(period: str, values: Mapping[str, Decimal], direction: str) -> GapPoint | None:
    """The gap between the best- and worst-off groups among ``values`` (group → value).

    None with fewer than two groups. For ``context`` (or any direction without a good side)
    ``best``/``worst`` are empty and the gap is the spread between the highest and the lowest.
    """
    if len(values) < 2:
        return None
    high = max(values.values())
    low = min(values.values())
    at_high = tuple(sorted(code for code, value in values.items() if value == high))
    at_low = tuple(sorted(code for code, value in values.items() if value == low))
    if direction == "good_up":
        best, worst, best_value, worst_value = at_high, at_low, high, low
    elif direction == "good_down":
        best, worst, best_value, worst_value = at_low, at_high, low, high
    else:
        best, worst, best_value, worst_value = (), (), high, low
    return GapPoint(period, high - low, best, worst, best_value, worst_value, len(values))


def gap_trend(points: Iterable[GapPoint], direction: str) -> GapTrendName:
    """Closing, widening, unchanged or mixed: the latest gap against the previous and first."""
    if direction not in JUDGED_DIRECTIONS:
        return "not_assessed"
    gaps = [p.gap for p in points]
    if len(gaps) < 2:
        return "too_few"
    first, previous, latest = gaps[0], gaps[-2], gaps[-1]
    if latest == previous:
        return "unchanged"
    if latest < previous:
        return "closing" if latest <= first else "mixed"
    return "widening" if latest >= first else "mixed"


def gap_series(
    ground: str, by_period: Mapping[str, Mapping[str, Decimal]], direction: str
) -> GapSeries:
    """The gap of every period in ``by_period`` (period → group → value), oldest first."""
    periods = sorted(by_period, key=lambda text: parse_period(text).sort_key)
    points: list[GapPoint] = []
    skipped: list[str] = []
    for period in periods:
        point = gap_of_period(period, by_period[period], direction)
        if point is None:
            skipped.append(period)
        else:
            points.append(point)
    return GapSeries(ground, direction, tuple(points), tuple(skipped), gap_trend(points, direction))


def _single_ground(breakdown: Mapping[str, str]) -> tuple[str, str] | None:
    """(ground, group) of a breakdown by one dimension alone; None for totals and crosses."""
    real = {dim: code for dim, code in breakdown.items() if code != TOTAL_CODE}
    if len(real) != 1:
        return None
    return next(iter(real.items()))


def grounds_of(figures: Iterable[tuple[str, Mapping[str, str], object]]) -> list[str]:
    """The grounds that have figures broken down by them alone, sorted."""
    return sorted(
        {single[0] for _, breakdown, _ in figures if (single := _single_ground(breakdown))}
    )


def groups_by_period(
    figures: Iterable[tuple[str, Mapping[str, str], object]], ground: str
) -> dict[str, dict[str, Decimal]]:
    """``(period, breakdown, value)`` figures → period → group → value, for one ``ground``.

    Only figures broken down by ``ground`` alone are kept, and only numbers: a yes/no figure
    (``bool``) or anything else that is not a finite :class:`~decimal.Decimal` has no size to
    compare, so it is left out.
    """
    out: dict[str, dict[str, Decimal]] = {}
    for period, breakdown, value in figures:
        single = _single_ground(breakdown)
        if single is None or single[0] != ground:
            continue
        if isinstance(value, bool) or not isinstance(value, Decimal) or not value.is_finite():
            continue
        out.setdefault(str(period), {})[single[1]] = value
    return out


@dataclass(frozen=True)
class GapBlock:
    """An equality-gap chart with its table, and the sentence saying whether it is closing."""

    chart: ChartBlock
    series: GapSeries
    trend: str
    verdict: str
