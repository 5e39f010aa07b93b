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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from node.config import NodeConfig
from node.disaggregation import disaggregation_key
from node.models import Indicator, Result
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


def _payload(envelope: OutEnvelope) -> dict[str, Any]:
    """The payload of one of our own stored envelopes (we signed it: it parses)."""
    return dict(json.loads(envelope.raw).get("payload") or {})


def is_public_summary(envelope: OutEnvelope) -> bool:
    """Whether anyone may fetch this envelope: a summary whose every figure is published.

    A summary with a validated (not yet published) figure stays between the city and its twins:
    the envelope is signed as a whole, so it cannot be served with that figure cut out.
    """
    if envelope.type != SUMMARY_TYPE:
        return False
    figures = [
        figure
        for indicator in _payload(envelope).get("indicators") or []
        for figure in indicator.get("results") or []
    ]
    return bool(figures) and all(figure.get("status") == "published" for figure in figures)


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


def _value_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def figure_provenance(
    session: Session, envelopes: Iterable[OutEnvelope] | None = None
) -> dict[tuple[str, str, str, str], Provenance]:
    """(indicator, period, breakdown key, value text) → the newest public summary carrying it.

    Keyed by the value too: a figure corrected after its summary is linked only to a summary
    that carries the corrected value (the old summary would not verify the figure shown).
    """
    out: dict[tuple[str, str, str, str], Provenance] = {}
    for envelope in public_summaries(session) if envelopes is None else envelopes:
        payload = _payload(envelope)
        period = str(payload.get("period"))
        where = Provenance(envelope.sha256, period, envelope.revision, envelope.created_ts)
        for indicator in payload.get("indicators") or []:
            for figure in indicator.get("results") or []:
                key = (
                    str(indicator.get("code")),
                    period,
                    disaggregation_key(figure.get("disaggregation") or {}),
                    _value_text(figure.get("value")),
                )
                out[key] = where  # oldest first: the newest summary wins
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
    codes = select(Result.indicator_code).where(Result.status == "published").distinct()
    return list(
        session.scalars(select(Indicator).where(Indicator.code.in_(codes)).order_by(Indicator.code))
    )


def published_years(session: Session) -> list[int]:
    """The calendar years in which published figures' periods end, newest first."""
    ends = session.execute(
        select(func.min(Result.period_end), func.max(Result.period_end)).where(
            Result.status == "published"
        )
    ).one()
    if ends[0] is None:
        return []
    return list(range(ends[1].year, ends[0].year - 1, -1))
