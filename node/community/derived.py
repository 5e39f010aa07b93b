"""Derived counts: verified community reports per category, district and month, as results.

Each category counts in its own local indicator ``CR-<code>`` ("community reports of …"),
never in the official indicator it relates to: a city's official figure and what residents
report are different statements and are never merged. A cell (category × month × district, and
the whole city) is recomputed from the reports themselves whenever a report enters or leaves
``verified`` (:func:`node.community.services.moderate`, same transaction): the value is always
the plain count of verified reports of that cell, or that count per 10,000 households when the
node configures ``community_households`` (then districts without a household figure get no rate).

The results are ``validated`` (a moderator vouched for every report they count) and their
``source`` says "community reports"; publishing them is an official's act like any figure.
``cases`` carries the count, so small cells are suppressed in summaries like any other figure.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from node import data_version
from node import disaggregation as disagg
from node.community.categories import Category
from node.community.models import CommunityReport
from node.config import NodeConfig
from node.models import Dimension, Indicator, IndicatorDimension, Result
from node.services import catalogue, results
from schemas.periods import parse_period

SOURCE = "community reports (verified by moderators)"
COUNT_UNIT = ("COUNT", "verified community reports")
RATE_UNIT = ("PER_10K_HH", "verified community reports per 10,000 households")


# The reason a derived figure's history gives for every change.
RECOUNT_REASON = "recounted from the verified community reports"


def _households(config: NodeConfig) -> dict[str, int] | None:
    raw = config.values.get("community_households")
    return {str(k): int(v) for k, v in raw.items() if int(v) > 0} if raw else None


def ensure_indicator(
    session: Session, category: Category, config: NodeConfig, *, now: datetime
) -> Indicator:
    """The category's local indicator, created at its first verified report."""
    code = category.derived_indicator
    indicator = session.get(Indicator, code)
    if indicator is not None:
        return indicator
    unit = RATE_UNIT if _households(config) else COUNT_UNIT
    indicator = Indicator(
        code=code,
        name=f"Community reports: {category.label}",
        definition=(
            f"Verified community reports of the category {category.code}, by month of the "
            "incident and district."
        ),
        translations={},
        right=category.right,
        attribute="Community reports",
        type="outcome",
        value_type="number",
        unit_code=unit[0],
        unit_label=unit[1],
        direction="good_down",
        core=False,
        periodicity="monthly",
        method="Count of reports verified by the node's moderators (CSO partners or officials).",
        source_type=["community reports"],
        sdg=[],
        notes="Related indicators: " + ", ".join(category.indicators),
        maps_to=None,
        extra={},
        created_at=now,
    )
    session.add(indicator)
    if session.get(Dimension, "DISTRICT") is not None:
        indicator.dimensions.append(IndicatorDimension(dimension_code="DISTRICT", position=0))
    session.flush()
    return indicator


def _value(count: int, households: int | None, rate: bool) -> Decimal | None:
    if not rate:
        return Decimal(count)
    if not households:
        return None
    return (Decimal(count) * 10_000 / households).quantize(Decimal("0.01"), ROUND_HALF_UP)


def recompute(
    session: Session, category: Category, period: str, config: NodeConfig, *, now: datetime
) -> dict[str, Decimal]:
    """Rewrite the category's figures of one month from its verified reports; flushes.

    Returns the values written, by disaggregation key (``""``: the whole city). A cell whose
    count fell to zero loses its figure (no report is not "zero incidents").
    """
    indicator = ensure_indicator(session, category, config, now=now)
    rate = indicator.unit_code == RATE_UNIT[0]
    households = _households(config) or {}
    districts = Counter(
        session.scalars(
            select(CommunityReport.district).where(
                CommunityReport.category == category.code,
                CommunityReport.period == period,
                CommunityReport.state == "verified",
            )
        )
    )
    cells: dict[str, tuple[dict[str, str], int, int | None]] = {}
    for district, count in districts.items():
        if district != disagg.TOTAL_CODE:
            breakdown = {"DISTRICT": district}
            cells[disagg.disaggregation_key(breakdown)] = (
                breakdown,
                count,
                households.get(district),
            )
    # The whole city: every verified report (also those placed only "in the city"); as a rate,
    # over the districts with a household figure (and only their reports).
    total = sum(districts.values())
    if rate:
        known = {d: n for d, n in districts.items() if d in households}
        total = sum(known.values())
    cells[""] = ({}, total, sum(households.values()) if households else None)
    prepared, written, empty = [], {}, []
    for key, (breakdown, count, base) in cells.items():
        value = _value(count, base, rate) if count > 0 else None
        if value is None:
            empty.append(key)
            continue
        written[key] = value
        prepared.append(
            results.PreparedResult(
                indicator=indicator.code,
                period=str(parse_period(period)),
                key=key,
                disaggregation=breakdown,
                value=value,
                status="validated",
                cases=count,
                source=SOURCE,
                method=indicator.method,
                note=None,
            )
        )
    existing_keys = set(
        session.scalars(
            select(Result.disaggregation_key).where(
                Result.indicator_code == indicator.code, Result.period == period
            )
        )
    )
    stale = (existing_keys - set(written)) | (existing_keys & set(empty))
    if stale:
        # The figures deleted are this indicator's alone (node.data_version).
        with data_version.indicator_writes(session, {indicator.code}):
            session.execute(
                delete(Result).where(
                    Result.indicator_code == indicator.code,
                    Result.period == period,
                    Result.disaggregation_key.in_(sorted(stale)),
                )
            )
            results.refresh_latest(session, {(indicator.code, key) for key in stale})
            results.refresh_group_counts(session, {(indicator.code, key, period) for key in stale})
    if prepared:
        # A recount is the moderators' decision, not a person typing a figure: it needs no
        # outlier confirmation (a district going from 1 to 9 reports is news, not a typo), and the
        # history says why each figure changed.
        plan, problems = results.plan_changes(
            session,
            prepared,
            catalogue.view(session),
            may_validate=True,
            reason=RECOUNT_REASON,
            confirm_outliers=True,
        )
        if problems:  # only a bug could get here: the values above pass the unit rules
            raise RuntimeError(f"derived community counts refused: {problems}")
        results.store_results(session, plan, user=None, now=now)
    return written
