"""What the API and the pages show of reviews: one service per view, used by both."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from node.config import NodeConfig
from node.errors import NotFoundError
from node.network.port import OutEnvelope
from node.permissions import Actor
from peer_review import deadlines, visibility
from peer_review.reviews.models import Recommendation, Review, ReviewEvent
from peer_review.reviews.services.queries import (
    assignment_of,
    assignments,
    follow_ups,
    list_reviews,
    outdated,
    recommendations,
    summary_values,
    user_roles,
    visible_comments,
)
from peer_review.workflow import ASSIGNMENT, REVIEW
from schemas.peer_review import REVIEW_ACTION_TYPE, review_stream


def available_actions(
    session: Session, config: NodeConfig, review: Review, roles: set[str]
) -> list[str]:
    """Actions the table opens to these roles now (buttons on pages, hints in the API)."""
    names = [t.action for t in REVIEW.available(review.state, roles)]
    if review.state in REVIEW.terminal:
        return names
    mine = assignment_of(session, review.id, config.city_id)
    if mine is not None and "reviewer" in roles:
        names += [t.action for t in ASSIGNMENT.available(mine.state, {"reviewer"})]
    if "chair" in roles:
        for a in assignments(session, review.id):
            names += [t.action for t in ASSIGNMENT.available(a.state, {"chair"})]
    return list(dict.fromkeys(names))


def recommendation_view(session: Session, rec: Recommendation) -> dict[str, Any]:
    """One recommendation with its co-signers, the CuR's answer and its follow-up."""
    return {
        "id": rec.id,
        "review_id": rec.review_id,
        "content": rec.content,
        "content_sha256": rec.content_sha256,
        "issuing_cities": rec.issuing_cities,
        "cosigned_by": sorted(rec.cosigned_by),
        "position": rec.position,
        "explanation": rec.explanation,
        "status": rec.status,
        "follow_up": [
            {
                "kind": f.kind,
                "author_city": f.author_city,
                "status": f.status,
                "note": f.note,
                "evidence": f.evidence,
            }
            for f in follow_ups(session, rec.review_id)
            if f.recommendation_id == rec.id
        ],
    }


def review_view(
    session: Session, config: NodeConfig, review: Review, user: Actor | None
) -> dict[str, Any]:
    """Everything a user may see of one review on this node."""
    roles = user_roles(session, config, user, review)
    public = review.public_outcome and review.state in visibility.PUBLIC_STATES
    if not roles and not public:
        raise NotFoundError(f"No review {review.id}.", code="no_such_review")
    pending = session.scalar(
        select(func.count(OutEnvelope.seq)).where(
            OutEnvelope.stream == review_stream(review.id),
            OutEnvelope.type == REVIEW_ACTION_TYPE,
        )
    ) > session.scalar(
        select(func.count(ReviewEvent.id)).where(
            ReviewEvent.review_id == review.id, ReviewEvent.actor_city == config.city_id
        )
    )
    recs = recommendations(session, review.id)
    return {
        "id": review.id,
        "title": review.title,
        "home": review.home_city,
        "cur": review.cur_city,
        "state": review.state,
        "round": review.round,
        "scope": review.scope,
        "questions": review.questions,
        "pinned": review.pinned,
        "min_reviewers": review.min_reviewers,
        "public_outcome": review.public_outcome,
        "head_index": review.head_index,
        "head_hash": review.head_hash,
        "your_roles": sorted(roles),
        "available_actions": available_actions(session, config, review, roles),
        "pending": bool(pending),
        "assignments": [
            {
                "city": a.city_id,
                "state": a.state,
                "verdict": a.verdict,
                "endorsed_hash": a.endorsed_hash,
                "submitted_round": a.submitted_round,
                "summary": a.summary,
            }
            for a in assignments(session, review.id)
        ]
        if roles
        else [],
        "comments": [
            {
                "id": c.id,
                "author_city": c.author_city,
                "author_role": c.author_role,
                "kind": c.kind,
                "anchor": c.anchor,
                "parent_id": c.parent_id,
                "text": c.text,
                "readers": c.readers,
                "round": c.round,
                "resolved": c.resolved,
                "outdated": outdated(session, review, c.anchor),
            }
            for c in visible_comments(session, config, review, roles)
        ],
        "recommendations": [recommendation_view(session, r) for r in recs],
        "summaries": summary_values(session, review) if roles else [],
        "deadlines": [
            {"kind": d.kind, "subject": d.subject, "due_at": d.due_at.isoformat()}
            for d in deadlines.open_deadlines(session, f"review:{review.id}")
            + deadlines.open_deadlines(session, f"review:{review.id}:{config.city_id}")
        ]
        if roles
        else [],
    }


def reviews_for(session: Session, config: NodeConfig, user: Actor | None) -> list[dict[str, Any]]:
    """Reviews this user takes part in (a role in them), newest activity first."""
    out = []
    for review in list_reviews(session):
        roles = user_roles(session, config, user, review)
        if roles:
            out.append(
                {
                    "id": review.id,
                    "title": review.title,
                    "home": review.home_city,
                    "cur": review.cur_city,
                    "state": review.state,
                    "round": review.round,
                    "your_roles": sorted(roles),
                }
            )
    return out
