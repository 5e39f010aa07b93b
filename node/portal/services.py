"""What the public portal reads: published figures only, and the signed summaries carrying them.

Every function here answers for an anonymous visitor. Drafts are never read (the queries ask
for ``status == "published"`` or go through the core's ``published_only`` services); a signed
summary is public only when every figure it carries is published (:func:`is_public_summary`):
a summary also carries *validated* figures (shared with twins before the city publishes them),
and serving such an envelope verbatim would publish those values early.
"""

from __future__ import annotations

import json
import re
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from node.config import NodeConfig
from node.disaggregation import disaggregation_key
from node.models import Indicator, LatestResult, Result
from node.network.port import OutEnvelope, own_summaries

__all__ = [
    "SHA256_RE",
    "Licence",
    "Provenance",
    "figure_provenance",
    "is_public_summary",
    "licence_of",
    "public_summaries",
    "public_summary",
    "published_indicators",
    "published_years",
]

SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
SUMMARY_TYPE = "hrc.summary"


@dataclass(frozen=True)
class Licence:
    """The licence the city chose for its published data (config ``data_licence*``)."""

    spdx: str
    name: str
    url: str


def licence_of(config: NodeConfig) -> Licence:
    """The data licence from the configuration (default CC BY 4.0)."""
    values = config.values
    return Licence(
        spdx=values.get("data_licence", "CC-BY-4.0"),
        name=values.get(
            "data_licence_name", "Creative Commons Attribution 4.0 International (CC BY 4.0)"
        ),
        url=values.get("data_licence_url", "https://creativecommons.org/licenses/by/4.0/"),
    )


def _value_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True)
class _Read:
    """What the portal needs of one summary: whether it is public, and the figures it carries."""

    public: bool
    period: str
    figures: tuple[tuple[str, str, str], ...]  # (indicator, breakdown key, value text)


# Envelopes never change (their hash names their signed bytes), so what was read of one is kept:
# a page does not parse every summary again. Bounded; keyed by hash *and* type, oldest dropped.
_READ: OrderedDict[str, _Read] = OrderedDict()
_READ_MAX = 4096


def _read(envelope: OutEnvelope) -> _Read:
    known = _READ.get(envelope.sha256)
    if known is not None:
        return known
    payload = dict(json.loads(envelope.raw).get("payload") or {})
    figures = []
    statuses = []
    for indicator in payload.get("indicators") or []:
        for figure in indicator.get("results") or []:
            statuses.append(figure.get("status"))
            figures.append(
                (
                    str(indicator.get("code")),
                    disaggregation_key(figure.get("disaggregation") or {}),
                    _value_text(figure.get("value")),
                )
            )
    # A summary with a validated (not yet published) figure stays between the city and its
    # twins: the envelope is signed as a whole, so it cannot be served with that figure cut out.
    public = (
        envelope.type == SUMMARY_TYPE
        and bool(statuses)
        and all(status == "published" for status in statuses)
    )
    read = _Read(public, str(payload.get("period")), tuple(figures))
    _READ[envelope.sha256] = read
    while len(_READ) > _READ_MAX:
        _READ.popitem(last=False)
    return read


def is_public_summary(envelope: OutEnvelope) -> bool:
    """Whether anyone may fetch this envelope: a summary whose every figure is published."""
    return envelope.type == SUMMARY_TYPE and _read(envelope).public


def public_summaries(session: Session) -> list[OutEnvelope]:
    """Our public signed summaries, oldest first (see :func:`is_public_summary`)."""
    return [envelope for envelope in own_summaries(session) if is_public_summary(envelope)]


def public_summary(session: Session, sha256: str) -> OutEnvelope | None:
    """The public summary with this envelope hash; None when unknown, malformed or not public."""
    if not SHA256_RE.fullmatch(sha256):
        return None  # never reaches the database with arbitrary text
    envelope = session.scalar(select(OutEnvelope).where(OutEnvelope.sha256 == sha256))
    if envelope is None or not is_public_summary(envelope):
        return None
    return envelope


@dataclass(frozen=True)
class Provenance:
    """Where a published figure was published: the signed summary that carries that value."""

    sha256: str
    period: str
    revision: int | None
    created_ts: int


FigureKey = tuple[str, str, str]  # (indicator, period, breakdown key)


def figure_provenance(
    session: Session, envelopes: Iterable[OutEnvelope] | None = None
) -> dict[tuple[str, str, str, str], Provenance]:
    """(indicator, period, breakdown key, value text) → the newest public summary carrying it.

    Keyed by the value too: a figure corrected after its summary is linked only to a summary
    that carries the corrected value (the old summary would not verify the figure shown).
    """
    out: dict[tuple[str, str, str, str], Provenance] = {}
    for envelope in public_summaries(session) if envelopes is None else envelopes:
        read = _read(envelope)
        where = Provenance(envelope.sha256, read.period, envelope.revision, envelope.created_ts)
        for code, key, value in read.figures:
            out[(code, read.period, key, value)] = where  # oldest first: the newest wins
    return out


def provenance_for(
    index: Mapping[tuple[str, str, str, str], Provenance],
    indicator: str,
    period: str,
    breakdown: Mapping[str, str],
    value: Any,
) -> Provenance | None:
    """The signed summary of one published figure, if one carries exactly that value."""
    return index.get((indicator, period, disaggregation_key(dict(breakdown)), _value_text(value)))


def published_indicators(session: Session) -> list[Indicator]:
    """Indicators with at least one published figure, in code order."""
    # Read from results_latest (issue 14, seventh round): a breakdown has a "published" row
    # there exactly when it has a published figure (node.services.results.refresh_latest keeps
    # it so with every write), so the indicators with one are the same, found among ~8,000 rows
    # instead of the figures themselves (a scan of a million rows on PostgreSQL, and on SQLite
    # once ix_results_latest no longer held the status).
    codes = select(LatestResult.indicator_code).where(LatestResult.scope == "published").distinct()
    return list(
        session.scalars(select(Indicator).where(Indicator.code.in_(codes)).order_by(Indicator.code))
    )


def published_years(session: Session) -> list[int]:
    """The calendar years in which published figures' periods end, newest first."""

    # min() and max() as two scalar subqueries: each walks ix_results_period_end from its end
    # to the first published row (a few rows). Asked together in one SELECT, SQLite cannot
    # serve them from the index and scanned the table (160-190 ms at a million results).
    def published(end: Any) -> Any:
        return select(end(Result.period_end)).where(Result.status == "published").scalar_subquery()

    first, last = session.execute(select(published(func.min), published(func.max))).one()
    if first is None or last is None:
        return []
    return list(range(last.year, first.year - 1, -1))
