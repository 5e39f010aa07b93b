"""The features this node runs, listed once (the composition root).

Every feature is a package that registers itself: ``register_inbound(registry)`` declares the
envelope types it handles (:mod:`node.network.registry`), ``init_app(app, api)`` adds its API
(in the one flask-smorest ``Api``, so the OpenAPI document describes it) and its pages. The app
factory (``node.app``), the jobs (``node.jobs``: the pull dispatches through the same table) and
the migrations' environment (``node/migrations/env.py``: every table on one metadata) read this
list; nothing else names a feature.

``inbound_registry()`` builds the node's one frozen handler registry. A second handler for an
envelope type is refused here, at start-up (:class:`DuplicateRegistration`), instead of silently
replacing the first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from node import community, portal, secretariat
from node import models as _city_models
from node.community import models as _community_models
from node.community import services as _community_services
from node.network import handlers as network_handlers
from node.network import models as _network_models
from node.network.registry import DuplicateRegistration, InboundRegistry
from node.runtime import runtime
from node.secretariat import models as _secretariat_models
from node.services import cso_carriage
from peer_review import mentoring, reviews
from peer_review import models as _peer_review_models
from peer_review.mentoring import models as _mentoring_models
from peer_review.reviews import models as _review_models

if TYPE_CHECKING:
    from flask import Flask
    from flask_smorest import Api
    from sqlalchemy.orm import Session

    from node.config import NodeConfig

__all__ = [
    "FEATURES",
    "MODEL_MODULES",
    "DuplicateRegistration",
    "Feature",
    "inbound_registry",
    "init_app",
    "portal_sources",
]

# Every module holding tables, imported above so that Base.metadata knows them all (Alembic's
# autogenerate and the models == migrations test compare against it).
MODEL_MODULES = (
    _city_models,
    _network_models,
    _secretariat_models,
    _peer_review_models,
    _review_models,
    _mentoring_models,
    _community_models,
)


def _no_pages(app: Flask, api: Api) -> None:
    """A feature that adds no API or page of its own."""


@dataclass(frozen=True)
class Feature:
    """A feature as the composition root sees it: its name, its inbound handlers, its web parts."""

    name: str
    register_inbound: Callable[[InboundRegistry], None]
    init_app: Callable[[Flask, Api], None] = _no_pages


def _portal_recommendations(
    session: Session, city_id: str
) -> list[portal.sources.PublicRecommendation]:
    """The reviews' adopted public recommendations to ``city_id``, as the portal shows them.

    The portal may not read the reviews' tables (features use the core only): the composition
    root reads them through the reviews' own query (public reviews in a public state only) and
    hands the portal plain values.
    """
    from peer_review.reviews.services import queries

    out = []
    for review, rec in queries.public_recommendations(session):
        if review.cur_city != city_id:
            continue  # another city's review held here (we chaired or sat on its panel)
        follow_ups = tuple(
            portal.sources.FollowUp(f.kind, f.author_city, f.status, f.note, f.created_at)
            for f in queries.follow_ups(session, review.id)
            if f.recommendation_id == rec.id
        )
        out.append(
            portal.sources.PublicRecommendation(
                id=rec.id,
                review_title=review.title,
                text=str(rec.content.get("text", "")),
                issuing_cities=tuple(rec.issuing_cities),
                position=rec.position,
                status=rec.status or "not_started",
                indicators=tuple(rec.content.get("indicators", [])),
                created_at=rec.created_at,
                follow_ups=follow_ups,
            )
        )
    return out


def _portal_community_counts(
    session: Session, threshold: int | None = None
) -> list[portal.sources.CommunityCount]:
    """Verified community reports counted by category, district and month, for the portal
    (cells smaller than ``threshold``, default the app's ``small_cell_threshold``, left out)."""
    if threshold is None:
        threshold = runtime().config.small_cell_threshold
    return [
        portal.sources.CommunityCount(category, district, month, count)
        for category, district, month, count in _community_services.verified_counts(
            session, min_count=threshold
        )
    ]


def portal_sources(config: NodeConfig | None = None) -> portal.PortalSources:
    """The other features' public data, as the portal reads it.

    With ``config`` (jobs, outside any request) the small-cell threshold is that config's;
    without, the app's at the time of the call.
    """
    counts: Callable[[Session], list[portal.sources.CommunityCount]] = (
        _portal_community_counts
        if config is None
        else partial(_portal_community_counts, threshold=config.small_cell_threshold)
    )
    return portal.PortalSources(recommendations=_portal_recommendations, community_counts=counts)


def _portal_init_app(app: Flask, api: Api) -> None:
    """The public portal, with the other features' public data it shows.

    Community-report counts come from ``node/community`` (verified reports only, by category,
    district and month, small cells left out): handed over as plain values, since one feature
    does not import another.
    """
    portal.init_app(app, api, portal_sources())


FEATURES: tuple[Feature, ...] = (
    Feature("network", network_handlers.register_inbound),  # summaries, twinning
    Feature("secretariat", secretariat.register_inbound, secretariat.init_app),
    Feature("reviews", reviews.register_inbound, reviews.init_app),
    Feature("mentoring", mentoring.register_inbound, mentoring.init_app),
    Feature("community", community.register_inbound, community.init_app),
    Feature("portal", portal.register_inbound, _portal_init_app),
    # Civil-society statements twins' CSOs agreed to share (the city's own CSO pages and API
    # are part of the core app; only the inbound side registers here).
    Feature("cso_statements", cso_carriage.register_inbound),
)


def inbound_registry(features: tuple[Feature, ...] | None = None) -> InboundRegistry:
    """The node's handler registry: every feature registered, then frozen."""
    registry = InboundRegistry()
    for feature in FEATURES if features is None else features:
        feature.register_inbound(registry)
    registry.freeze()
    return registry


def init_app(app: Flask, api: Api, features: tuple[Feature, ...] | None = None) -> None:
    """Let every feature add its API blueprints to ``api`` and its pages to ``app``."""
    for feature in FEATURES if features is None else features:
        feature.init_app(app, api)
