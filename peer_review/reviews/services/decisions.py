"""The home node's one decision function, and the checks every node makes before asking for it.

:func:`decide` runs on the home node for every action (its own users' directly, the others'
from the inbox): it checks the claimed role against the city's place in the review, checks the
transition with its preconditions (:func:`check_action`, the same call the pages, the API and
the inbox make), appends an event to the hash chain and folds it
(:mod:`peer_review.reviews.services.projection`), then relays it to every participant
(:mod:`peer_review.reviews.services.relaying`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from marshmallow import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from federation.envelope import envelope_sha256
from node.config import NodeConfig
from node.errors import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError
from node.network.port import ms
from peer_review import chain, visibility
from peer_review.refusal import WorkflowRefusal
from peer_review.reviews.models import (
    FollowUpEntry,
    Recommendation,
    Review,
    ReviewComment,
    ReviewEvent,
    ReviewSummary,
)
from peer_review.reviews.services.projection import append_event, blank_review, verify_summaries
from peer_review.reviews.services.queries import (
    assignment_of,
    assignments,
    panel_cities,
    recommendations,
)
from peer_review.reviews.services.relaying import relay
from peer_review.statemachine import Transition
from peer_review.workflow import ASSIGNMENT, ASSIGNMENT_ACTIONS, REVIEW, city_may_claim
from schemas.peer_review import MAX_QUESTIONS, ReviewActionPayloadSchema, load_action_data


def _summaries_newer(session: Session, review: Review, envelopes: list[dict[str, Any]]) -> bool:
    pinned = {
        (s.period, s.revision)
        for s in session.scalars(select(ReviewSummary).where(ReviewSummary.review_id == review.id))
    }
    latest: dict[str, int] = {}
    for period, revision in pinned:
        latest[period] = max(latest.get(period, 0), revision)
    for envelope in envelopes:
        payload = envelope.get("payload") or {}
        period, revision = payload.get("period"), payload.get("revision")
        if (
            isinstance(revision, int)
            and isinstance(period, str)
            and revision > latest.get(period, 0)
        ):
            return True
    return False


def context_for(
    session: Session, review: Review, action: str, loaded: dict[str, Any], wire: dict[str, Any]
) -> dict[str, Any]:
    """Facts the preconditions of the table read (see ``peer_review.workflow.PRECONDITIONS``)."""
    panel = assignments(session, review.id)
    recs = recommendations(session, review.id)
    ctx: dict[str, Any] = {
        "accepted_reviewers": sum(a.state == "accepted" for a in panel),
        "min_reviewers": review.min_reviewers,
        "all_reviews_in": any(a.state in ("submitted", "acknowledged") for a in panel)
        and not any(a.state == "accepted" for a in panel),
        "recommendations_cosigned": bool(recs)
        and all(set(r.issuing_cities) <= set(r.cosigned_by) for r in recs),
        "follow_up_reported": session.scalar(
            select(func.count(FollowUpEntry.id)).where(
                FollowUpEntry.review_id == review.id, FollowUpEntry.kind == "report"
            )
        )
        > 0,
        "round_open": review.state == "in_review",
    }
    if action == "submit":
        scope = loaded["scope"]
        ctx["has_pinned_summary"] = bool(loaded["summaries"])
        ctx["has_scope"] = bool(scope["themes"] or scope["indicators"])
        ctx["questions_ok"] = len(loaded["questions"]) <= MAX_QUESTIONS
    if action == "submit_revision":
        ctx["has_newer_summary"] = _summaries_newer(session, review, wire["summaries"])
    if action == "respond":
        answered = {p["recommendation_id"] for p in loaded["positions"]}
        ctx["every_position"] = bool(recs) and {r.id for r in recs} <= answered
    return ctx


def check_action(
    session: Session,
    config: NodeConfig,
    review: Review,
    action: str,
    role: str,
    actor_city: str,
    loaded: dict[str, Any],
    wire: dict[str, Any],
    *,
    enforce_preconditions: bool = True,
) -> Transition:
    """Check one action against the tables and the review's objects; return the transition."""
    if action in ASSIGNMENT_ACTIONS:
        if review.state in REVIEW.terminal:
            # The assignment table knows nothing of the review: an ended review's panel is frozen.
            raise WorkflowRefusal(
                f"The review is {review.state}: its panel no longer changes.", code="review_ended"
            )
        city = loaded.get("city") or actor_city
        if role == "reviewer" and city != actor_city:
            raise PermissionDeniedError(
                "A city answers only its own invitation.", code="not_your_assignment"
            )
        assignment = assignment_of(session, review.id, city)
        if assignment is None:
            raise NotFoundError(f"{city} is not on this review's panel.", code="not_on_panel")
        ctx = context_for(session, review, action, loaded, wire)
        return ASSIGNMENT.check(
            assignment.state, action, [role], ctx, enforce_preconditions=enforce_preconditions
        )
    ctx = context_for(session, review, action, loaded, wire) if enforce_preconditions else {}
    transition = REVIEW.check(
        review.state, action, [role], ctx, enforce_preconditions=enforce_preconditions
    )
    _check_objects(session, review, action, role, actor_city, loaded, wire)
    return transition


def _check_objects(
    session: Session,
    review: Review,
    action: str,
    role: str,
    actor_city: str,
    loaded: dict[str, Any],
    wire: dict[str, Any],
) -> None:
    """What the table cannot say: the objects an action names must exist and fit."""
    if action == "invite":
        if loaded["city"] in (review.cur_city, review.home_city):
            raise InvalidInputError(
                "The reviewed city and the chair are not reviewers.", code="invalid_reviewer"
            )
        if assignment_of(session, review.id, loaded["city"]) is not None:
            raise ConflictError(
                f"{loaded['city']} is already on the panel (re-invite instead).",
                code="already_invited",
            )
    elif action == "draft_recommendation":
        if session.get(Recommendation, loaded["id"]) is not None:
            raise ConflictError("That recommendation id is taken.", code="duplicate_id")
        issuers = set(loaded["issuing_cities"])
        allowed = panel_cities(session, review.id) | {review.home_city}
        if actor_city not in issuers or not issuers <= allowed:
            raise InvalidInputError(
                "Issuing cities are panel cities (or the chair), the author's among them.",
                code="invalid_issuers",
            )
    elif action == "cosign_recommendation":
        rec = session.get(Recommendation, loaded["id"])
        if rec is None or rec.review_id != review.id:
            raise NotFoundError("No such recommendation in this review.", code="no_such_object")
        if actor_city not in rec.issuing_cities:
            raise PermissionDeniedError(
                "Only an issuing city co-signs a recommendation.", code="not_an_issuer"
            )
        if loaded["content_sha256"] != rec.content_sha256:
            raise ConflictError(
                "The co-signed hash is not the recommendation's content hash.", code="hash_mismatch"
            )
    elif action in ("respond", "report_follow_up", "assess"):
        known = {r.id for r in recommendations(session, review.id)}
        items = loaded.get("positions") or loaded.get("entries") or []
        unknown = {i["recommendation_id"] for i in items} - known
        if unknown:
            raise NotFoundError(
                f"Unknown recommendations: {', '.join(sorted(unknown))}.", code="no_such_object"
            )
    elif action == "comment":
        if session.get(ReviewComment, loaded["id"]) is not None:
            raise ConflictError("That comment id is taken.", code="duplicate_id")
        parent = loaded.get("parent_id")
        if parent is not None:
            row = session.get(ReviewComment, parent)
            if row is None or row.review_id != review.id:
                raise NotFoundError("The thread replied to does not exist.", code="no_such_object")
        if role == "observer" and loaded["kind"] != "stakeholder_input":
            raise PermissionDeniedError("Observers add stakeholder input.", code="role_not_allowed")
    elif action in ("resolve", "widen_readers"):
        row = session.get(ReviewComment, loaded["comment_id"])
        if row is None or row.review_id != review.id:
            raise NotFoundError("No such comment in this review.", code="no_such_object")


def decide(
    session: Session, config: NodeConfig, envelope: dict[str, Any], now: datetime
) -> ReviewEvent:
    """Home node: accept (or refuse) one signed action, append it to the chain and relay it.

    ``envelope`` has been verified already (our own, or by the inbox); its origin is the city
    whose position this is.
    """
    try:
        payload = ReviewActionPayloadSchema().load(envelope["payload"])
        loaded = load_action_data(payload["action"], payload["data"])
    except ValidationError as exc:
        raise InvalidInputError(
            "The review action is malformed.", errors=exc.normalized_messages()
        ) from exc
    if payload["home"] != config.city_id:
        raise ConflictError("This node is not the review's home.", code="not_home", status=403)
    city, action, role = envelope["origin"], payload["action"], payload["role"]
    review = session.get(Review, payload["review_id"])
    if action == "submit":
        review = _open_review(session, config, review, payload, city, now)
    elif review is None:
        raise NotFoundError("No such review on its home node.", code="no_such_review")
    elif (review.cur_city, review.home_city) != (payload["cur"], payload["home"]):
        raise ConflictError("The action names another review.", code="review_mismatch")
    panel = panel_cities(session, review.id)
    if not city_may_claim(
        role,
        city=city,
        home=review.home_city,
        cur=review.cur_city,
        panel_cities=panel,
        home_is_secretariat=config.role == "secretariat",
    ):
        raise PermissionDeniedError(
            f"{city} cannot act as {role.replace('_', ' ')} in this review.",
            code="role_not_allowed",
        )
    if action == "submit":
        REVIEW.check(
            "draft", action, [role], context_for(session, review, action, loaded, payload["data"])
        )
        verify_summaries(session, config, review, payload["data"]["summaries"])
    else:
        check_action(session, config, review, action, role, city, loaded, payload["data"])
    readers = visibility.event_readers(action, loaded.get("readers"))
    header = chain.make_header(
        review_id=review.id,
        index=review.head_index + 1,
        prev=review.head_hash,
        action=action,
        actor_city=city,
        actor_role=role,
        body_sha256=envelope_sha256(envelope),
        readers=readers,
        ts=ms(now),
    )
    event = append_event(session, config, review, header, envelope, now)
    relay(session, config, review, now)
    return event


def _open_review(
    session: Session,
    config: NodeConfig,
    review: Review | None,
    payload: dict[str, Any],
    city: str,
    now: datetime,
) -> Review:
    if review is not None:
        raise ConflictError("That review was already submitted.", code="review_exists")
    if payload["cur"] != city or city == config.city_id:
        raise PermissionDeniedError("A city submits only its own review.", code="wrong_author")
    review = blank_review(session, payload["review_id"], config.city_id, city, now)
    review.title = str(payload["data"].get("title", ""))[:200]
    return review
