"""Progress against baseline and target, direction-aware. Pure functions, no database.

The rule is the one an official can explain in a sentence: draw a straight line from the baseline
to the target; a figure on or past that line (in the good direction) is *on track*, one behind it
is *off track*; a figure at or past the target is *achieved*. Without a target we say whether the
figure moved in the good direction since the baseline (*improving* / *worsening*).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from schemas.periods import Period

Status = Literal[
    "achieved",
    "on_track",
    "off_track",
    "improving",
    "worsening",
    "no_change",
    "no_data",
    "no_target",
    "not_assessed",
]
Value = Decimal | bool


@dataclass(frozen=True)
class Point:
    period: Period
    value: Value


@dataclass(frozen=True)
class Assessment:
    status: Status
    latest: Point | None
    baseline: Point | None
    target: Point | None
    expected: Decimal | None = None  # value the straight line asks for at the latest period
    share_of_way: Decimal | None = None  # 0 at baseline, 1 at target


def _as_number(value: Value) -> Decimal:
    if isinstance(value, bool):
        return Decimal(1) if value else Decimal(0)
    return value


def _better_or_equal(a: Decimal, b: Decimal, direction: str) -> bool:
    return a >= b if direction == "good_up" else a <= b


def assess(
    direction: str,
    latest: Point | None,
    baseline: Point | None = None,
    target: Point | None = None,
) -> Assessment:
    """Assess the latest figure of one indicator (or one breakdown of it)."""
    if latest is None:
        return Assessment("no_data", None, baseline, target)
    if direction not in ("good_up", "good_down"):
        return Assessment("not_assessed", latest, baseline, target)
    now = _as_number(latest.value)
    if target is not None:
        goal = _as_number(target.value)
        if _better_or_equal(now, goal, direction):
            return Assessment("achieved", latest, baseline, target, goal, Decimal(1))
        if baseline is None or baseline.period >= target.period:
            return Assessment("off_track", latest, baseline, target)
        start = _as_number(baseline.value)
        span_days = (target.period.end - baseline.period.end).days
        done_days = (latest.period.end - baseline.period.end).days
        elapsed = min(max(Decimal(done_days) / Decimal(span_days), Decimal(0)), Decimal(1))
        expected = start + (goal - start) * elapsed
        share = None if goal == start else (now - start) / (goal - start)
        status: Status = "on_track" if _better_or_equal(now, expected, direction) else "off_track"
        return Assessment(status, latest, baseline, target, expected, share)
    if baseline is None or baseline.period >= latest.period:
        return Assessment("no_target", latest, baseline, None)
    start = _as_number(baseline.value)
    if now == start:
        return Assessment("no_change", latest, baseline, None)
    improving = _better_or_equal(now, start, direction)
    return Assessment("improving" if improving else "worsening", latest, baseline, None)
