"""What the portal shows that other features own: the extension points the composition root wires.

The portal is a feature: it may read the core (results, targets, our signed summaries through
``node.network.port``) but not another feature's tables. Recommendations and their follow-up
belong to the peer reviews (``peer_review.reviews``); community-report counts will belong to the
community package (``node/community/``, not merged yet). Each is read through a function the
composition root (``node/features.py``) hands to :func:`node.portal.init_app` in a
:class:`PortalSources`; a source left out shows nothing (never an error).

Whatever a source returns is shown to anonymous visitors: a source must return only what is
already public (adopted outcomes of public reviews; counts by district and month, never an
individual report).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

__all__ = [
    "CommunityCount",
    "FollowUp",
    "PortalSources",
    "PublicRecommendation",
]


@dataclass(frozen=True)
class FollowUp:
    """One follow-up report on a recommendation (the city's or a peer's assessment)."""

    kind: str  # report | assessment
    author_city: str
    status: str
    note: str
    at: datetime


@dataclass(frozen=True)
class PublicRecommendation:
    """An adopted recommendation of a public review of this city, with its follow-up."""

    id: str
    review_title: str
    text: str
    issuing_cities: tuple[str, ...]
    position: str | None  # supported | noted | None (not answered yet)
    status: str  # latest follow-up status ("not_started" when none)
    indicators: tuple[str, ...]
    created_at: datetime
    follow_ups: tuple[FollowUp, ...] = ()


@dataclass(frozen=True)
class CommunityCount:
    """How many verified community reports a district had in a month (never one report)."""

    category: str
    district: str
    month: str  # YYYY-MM
    count: int


RecommendationSource = Callable[[Session, str], list[PublicRecommendation]]
CommunityCountSource = Callable[[Session], list[CommunityCount]]


def _none_recommendations(session: Session, city_id: str) -> list[PublicRecommendation]:
    return []


def _none_counts(session: Session) -> list[CommunityCount]:
    return []


@dataclass(frozen=True)
class PortalSources:
    """The other features' public data, as functions (wired by the composition root).

    ``recommendations(session, city_id)``: adopted recommendations of public reviews of
    ``city_id``, oldest first. ``community_counts(session)``: verified community-report counts
    by category, district and month (the extension point for ``node/community/``).
    """

    recommendations: RecommendationSource = field(default=_none_recommendations)
    community_counts: CommunityCountSource = field(default=_none_counts)
