"""A twin's figures beside ours: same indicator (directly or through ``maps_to``), same period,
same breakdown. Only the twin's current revision counts."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from node import disaggregation as disagg
from node.models import Indicator, Result
from node.network.models import ReceivedSummary
from schemas.periods import parse_period


def _comparable(code: str, maps_to: str | None) -> str:
    """Local indicators compare through the core code they map to."""
    return maps_to or code


def comparison(session: Session, city_id: str, period: str | None = None) -> list[dict[str, Any]]:
    """Rows of (indicator, period, breakdown) with our value and the twin's, where both exist."""
    query = (
        select(ReceivedSummary)
        .where(ReceivedSummary.origin == city_id, ReceivedSummary.current.is_(True))
        .options(selectinload(ReceivedSummary.figures))
    )
    if period:
        query = query.where(ReceivedSummary.period == str(parse_period(period)))
    theirs: dict[tuple[str, str, str], tuple[str, int]] = {}
    theirs_direct: set[tuple[str, str, str]] = set()
    for summary in session.scalars(query):
        for figure in summary.figures:
            key = (
                _comparable(figure.indicator, figure.maps_to),
                summary.period,
                figure.disaggregation_key,
            )
            # A city's own figure for the core code wins over its local indicators mapped to
            # that code (a count and a rate can both map to one core code); among mapped ones
            # the first is kept, so the row never depends on which came last.
            direct = figure.maps_to is None
            if key not in theirs or (direct and key not in theirs_direct):
                theirs[key] = (figure.value_text, summary.revision)
            if direct:
                theirs_direct.add(key)
    if not theirs:
        return []
    indicators = {i.code: i for i in session.scalars(select(Indicator))}
    periods = {p for _, p, _ in theirs}
    ours: dict[tuple[str, str, str], str] = {}
    ours_direct: set[tuple[str, str, str]] = set()
    for row in session.scalars(
        select(Result)
        .where(Result.period.in_(periods), Result.status.in_(("validated", "published")))
        .order_by(Result.indicator_code)
    ):
        indicator = indicators[row.indicator_code]
        key = (
            _comparable(row.indicator_code, indicator.maps_to),
            row.period,
            row.disaggregation_key,
        )
        direct = indicator.maps_to is None  # same rule as for the twin's figures above
        if key not in ours or (direct and key not in ours_direct):
            ours[key] = row.value_text
        if direct:
            ours_direct.add(key)
    rows = []
    for key in sorted(
        set(theirs) & set(ours), key=lambda k: (k[0], parse_period(k[1]).sort_key, k[2])
    ):
        code, row_period, breakdown = key
        core = indicators.get(code)
        rows.append(
            {
                "indicator": code,
                "name": core.name if core else code,
                "unit": core.unit_label if core else None,
                "direction": core.direction if core else None,
                "period": row_period,
                "disaggregation": disagg.parse_key(breakdown),
                "ours": _value(ours[key]),
                "theirs": _value(theirs[key][0]),
                "their_revision": theirs[key][1],
            }
        )
    return rows


def _value(text: str) -> Any:
    return text == "true" if text in ("true", "false") else text
