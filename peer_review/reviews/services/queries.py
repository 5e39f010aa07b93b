"""Reading a review's tables: the objects of one review, the roles a user holds in it, and the
figures and comments shown to them (the one place both the API and the pages read from)."""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from federation.canonical import loads_strict
from node.config import NodeConfig
from node.errors import NotFoundError
from node.network.port import is_pinned_secretariat
from node.permissions import Actor
from peer_review import visibility
from peer_review.reviews.models import (
    Assignment,
    FollowUpEntry,
    Recommendation,
    Review,
    ReviewComment,
    ReviewEvent,
    ReviewSummary,
)
from peer_review.workflow import review_roles_of

PANEL_STATES = ("invited", "accepted", "submitted", "acknowledged", "declined", "cancelled")


def new_id() -> str:
    """A fresh review id: 64 random bits in hex (also used for comments, recommendations)."""
    return secrets.token_hex(8)


def get_review(session: Session, review_id: str) -> Review:
    """The review with this id on this node, or 404 ``no_such_review``."""
    review = session.get(Review, review_id) if isinstance(review_id, str) else None
    if review is None:
        raise NotFoundError(f"No review {review_id!s:.40}.", code="no_such_review")
    return review


def assignments(session: Session, review_id: str) -> list[Assignment]:
    """The review's panel, in invitation order."""
    return list(
        session.scalars(
            select(Assignment).where(Assignment.review_id == review_id).order_by(Assignment.id)
        )
    )


def assignment_of(session: Session, review_id: str, city: str) -> Assignment | None:
    """``city``'s place on the review's panel, or None when it was never invited."""
    return session.scalar(
        select(Assignment).where(Assignment.review_id == review_id, Assignment.city_id == city)
    )


def panel_cities(session: Session, review_id: str) -> set[str]:
    """Cities invited to the panel at some point (they stay participants and keep the log)."""
    return {a.city_id for a in assignments(session, review_id)}


def submitted_cities(session: Session, review_id: str) -> set[str]:
    """Panel cities that submitted a review (and were not cancelled since)."""
    return {
        a.city_id
        for a in assignments(session, review_id)
        if a.submitted_round is not None and a.state != "cancelled"
    }


def recommendations(session: Session, review_id: str) -> list[Recommendation]:
    """The review's recommendations, oldest first."""
    return list(
        session.scalars(
            select(Recommendation)
            .where(Recommendation.review_id == review_id)
            .order_by(Recommendation.created_at, Recommendation.id)
        )
    )


def home_is_secretariat(session: Session, config: NodeConfig, review: Review) -> bool:
    """Whether the review's home node is the network secretariat (this node, or the pinned one)."""
    if review.home_city == config.city_id:
        return bool(config.role == "secretariat")
    # The pinned secretariat only (node.network.trust, through the port): a twin's claimed role
    # counts for nothing.
    return is_pinned_secretariat(session, review.home_city)


def user_roles(
    session: Session, config: NodeConfig, user: Actor | None, review: Review
) -> set[str]:
    """The review roles of a user of this node in ``review`` (empty for the public)."""
    if user is None or not user.active:
        return set()
    return review_roles_of(
        user.role,
        this_city=config.city_id,
        node_role=config.role,
        review_home=review.home_city,
        review_cur=review.cur_city,
        panel=config.city_id in panel_cities(session, review.id),
    )


def summary_values(session: Session, review: Review) -> list[dict[str, Any]]:
    """The pinned summaries with their figures, newest round last (for the workspace)."""
    out = []
    for row in session.scalars(
        select(ReviewSummary)
        .where(ReviewSummary.review_id == review.id)
        .order_by(ReviewSummary.round, ReviewSummary.period)
    ):
        payload = loads_strict(row.envelope)["payload"]
        scope = review.scope or {}
        indicators = [
            i
            for i in payload["indicators"]
            if not scope.get("indicators")
            and not scope.get("themes")
            or i["code"] in scope.get("indicators", [])
            or i["right"] in scope.get("themes", [])
        ]
        out.append(
            {
                "sha256": row.sha256,
                "period": row.period,
                "revision": row.revision,
                "round": row.round,
                "indicators": indicators,
            }
        )
    return out


def value_at(payload: dict[str, Any], indicator: str, disaggregation: dict[str, str]) -> Any:
    """The figure of ``indicator`` for exactly ``disaggregation`` in a summary payload."""
    for entry in payload.get("indicators", []):
        if entry["code"] == indicator:
            for figure in entry["results"]:
                if figure["disaggregation"] == disaggregation:
                    return figure["value"]
    return None


def outdated(session: Session, review: Review, anchor: dict[str, Any] | None) -> bool:
    """A comment is outdated when a newer revision of its summary changed the anchored value."""
    if not anchor or not anchor.get("summary_sha256") or not anchor.get("indicator"):
        return False
    rows = list(session.scalars(select(ReviewSummary).where(ReviewSummary.review_id == review.id)))
    base = next((r for r in rows if r.sha256 == anchor["summary_sha256"]), None)
    if base is None:
        return False
    newer = [r for r in rows if r.period == base.period and r.revision > base.revision]
    if not newer:
        return False
    latest = max(newer, key=lambda r: r.revision)
    disagg = anchor.get("disaggregation") or {}
    old_value = value_at(loads_strict(base.envelope)["payload"], anchor["indicator"], disagg)
    new_value = value_at(loads_strict(latest.envelope)["payload"], anchor["indicator"], disagg)
    return bool(old_value != new_value)


def visible_comments(
    session: Session, config: NodeConfig, review: Review, roles: set[str]
) -> list[ReviewComment]:
    """Comments this node holds, narrowed for a user without a role in the review."""
    rows = list(
        session.scalars(
            select(ReviewComment)
            .where(ReviewComment.review_id == review.id)
            .order_by(ReviewComment.event_index)
        )
    )
    if roles:
        if roles == {"observer"}:
            # Civil society partners of the CuR read what the CuR may read, minus chair notes.
            return [c for c in rows if set(c.readers) & {"cur", "network", "public"}]
        return rows
    public = review.public_outcome and review.state in visibility.PUBLIC_STATES
    return [c for c in rows if public and "public" in c.readers]


def list_reviews(session: Session) -> list[Review]:
    """Every review this node holds, latest activity first."""
    return list(session.scalars(select(Review).order_by(Review.updated_at.desc())))


def events(session: Session, review_id: str) -> list[ReviewEvent]:
    """The review's event log as this node holds it, in chain order."""
    return list(
        session.scalars(
            select(ReviewEvent)
            .where(ReviewEvent.review_id == review_id)
            .order_by(ReviewEvent.index)
        )
    )


def public_recommendations(
    session: Session,
    *,
    theme: str | None = None,
    indicator: str | None = None,
    status: str | None = None,
    position: str | None = None,
) -> list[tuple[Review, Recommendation]]:
    """Adopted outcomes of reviews that stayed public, filterable (the public page and API)."""
    query = (
        select(Review, Recommendation)
        .join(Recommendation, Recommendation.review_id == Review.id)
        .where(Review.state.in_(tuple(visibility.PUBLIC_STATES)), Review.public_outcome.is_(True))
        .order_by(Review.id, Recommendation.created_at, Recommendation.id)
    )
    out = []
    for review, rec in session.execute(query):
        if theme and theme not in rec.content.get("themes", []):
            continue
        if indicator and indicator not in rec.content.get("indicators", []):
            continue
        if status and (rec.status or "not_started") != status:
            continue
        if position and rec.position != position:
            continue
        out.append((review, rec))
    return out


def follow_ups(session: Session, review_id: str) -> list[FollowUpEntry]:
    """Follow-up reports and assessments of the review, in log order."""
    return list(
        session.scalars(
            select(FollowUpEntry)
            .where(FollowUpEntry.review_id == review_id)
            .order_by(FollowUpEntry.event_index, FollowUpEntry.id)
        )
    )
