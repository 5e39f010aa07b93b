"""A city's side of a review: preparing the request (a local draft) and asking for an action.

:func:`act` is where every move starts, from a page or the API: the user's review roles come
from :func:`peer_review.workflow.review_roles_of`, the transition is checked with the same table
the home node uses (:func:`peer_review.reviews.services.decisions.check_action`), and the action
is signed as an ``hrc.review.action`` envelope. On the home node it is decided at once;
elsewhere it is queued to the home node, whose inbox decides it on arrival.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from marshmallow import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from federation.canonical import loads_strict
from node.config import NodeConfig
from node.errors import ConflictError, InvalidInputError, PermissionDeniedError
from node.network.port import OutEnvelope, Peer, queue, secretariat_peer, sign_and_store
from node.permissions import Actor
from peer_review.refusal import WorkflowRefusal
from peer_review.reviews.models import Review
from peer_review.reviews.services.decisions import check_action, decide
from peer_review.reviews.services.queries import assignment_of, get_review, new_id, user_roles
from peer_review.statemachine import Transition
from peer_review.workflow import ASSIGNMENT, ASSIGNMENT_ACTIONS, REVIEW
from schemas.peer_review import (
    REVIEW_ACTION_SCHEMA,
    REVIEW_ACTION_TYPE,
    load_action_data,
    review_stream,
)
from schemas.summary import SUMMARY_TYPE

# Preference when a user holds several review roles that a row allows: the role that commits
# the most is named, so the record says e.g. "validating authority" rather than "focal point".
ROLE_PREFERENCE = (
    "validating_authority",
    "secretariat",
    "chair",
    "focal_point",
    "reviewer",
    "observer",
)


def default_home(session: Session, config: NodeConfig) -> str:
    """The secretariat this city joined: the default chair (and home node) of its reviews."""
    secretariat = secretariat_peer(session)
    if secretariat is None:
        raise ConflictError(
            "Join the network secretariat (or name a lead city twinned with you) first: "
            "a review is chaired from another node.",
            code="no_home_node",
        )
    return secretariat.city_id


def _own_summary(session: Session, digest: str) -> OutEnvelope:
    row = session.scalar(
        select(OutEnvelope).where(OutEnvelope.sha256 == digest, OutEnvelope.type == SUMMARY_TYPE)
    )
    if row is None:
        raise InvalidInputError(
            f"{digest[:12]}… is not one of our published summaries.", code="unknown_summary"
        )
    return row


def create_draft(
    session: Session,
    config: NodeConfig,
    user: Actor,
    *,
    title: str,
    scope: dict[str, list[str]],
    questions: list[str],
    summaries: list[str],
    home: str | None,
    min_reviewers: int,
    public_outcome: bool,
    now: datetime,
) -> Review:
    """A review request being prepared by the city's focal point; nothing leaves the node."""
    if user.role not in ("admin", "official"):
        raise PermissionDeniedError(
            "Only the city's officials prepare a review request.", code="role_not_allowed"
        )
    home_city = home or default_home(session, config)
    if home_city == config.city_id:
        raise InvalidInputError("A city cannot chair its own review.", code="own_review")
    peer = session.get(Peer, home_city)
    if peer is None or peer.state != "active":
        raise InvalidInputError(
            f"{home_city} cannot chair: it is not an active partner of this node.",
            code="unknown_home",
        )
    for digest in summaries:
        _own_summary(session, digest)
    review = Review(
        id=new_id(),
        home_city=home_city,
        cur_city=config.city_id,
        title=title,
        state="draft",
        round=0,
        scope={
            "themes": list(scope.get("themes", [])),
            "indicators": list(scope.get("indicators", [])),
        },
        questions=list(questions),
        pinned=list(summaries),
        min_reviewers=min_reviewers,
        public_outcome=public_outcome,
        head_index=-1,
        head_hash=None,
        created_at=now,
        updated_at=now,
    )
    session.add(review)
    session.flush()
    return review


def _pick_role(rows: list[Transition], held: set[str]) -> str | None:
    allowed = set().union(*(t.roles for t in rows)) if rows else set()
    for role in ROLE_PREFERENCE:
        if role in held and role in allowed:
            return role
    return None


def _outgoing_data(session: Session, review: Review, action: str, data: dict[str, Any]) -> dict:
    """The wire data of an action; a draft's submit carries the pinned signed summaries."""
    out = dict(data)
    if action == "submit":
        out = {
            "title": review.title,
            "scope": review.scope,
            "questions": review.questions,
            "summaries": [loads_strict(_own_summary(session, d).raw) for d in review.pinned],
            "min_reviewers": review.min_reviewers,
            "public_outcome": review.public_outcome,
        }
    elif action in ("submit_revision", "report_follow_up") and "summary_hashes" in out:
        out["summaries"] = [
            loads_strict(_own_summary(session, d).raw) for d in out.pop("summary_hashes")
        ]
    return out


def act(
    session: Session,
    config: NodeConfig,
    user: Actor,
    review_id: str,
    action: str,
    data: dict[str, Any],
    now: datetime,
) -> dict[str, Any]:
    """A user's action on a review; returns ``{"review": ..., "pending": bool}``.

    ``pending`` is True when the action was sent to the home node and takes effect when its
    decision comes back (the local state changes only through the event log).
    """
    review = get_review(session, review_id)
    if action not in REVIEW.actions and action not in ASSIGNMENT_ACTIONS:
        raise WorkflowRefusal(
            f"'{action}' is not a review action.", code="unknown_action", status=422
        )
    held = user_roles(session, config, user, review)
    wire = _outgoing_data(session, review, action, data)
    try:
        loaded = load_action_data(action, wire)
    except ValidationError as exc:
        raise InvalidInputError(
            f"The '{action}' data is not valid.", errors=exc.normalized_messages()
        ) from exc
    actor_city = config.city_id
    role = _role_for(review, action, held, loaded, session, actor_city)
    # The same check the home node will make, so the user hears "no" at once, not by mail.
    check_action(session, config, review, action, role, actor_city, loaded, wire)
    if review.head_index == -1 and action == "withdraw":
        # A draft never left this node: withdrawing it is local, the home node never knew it.
        review.state, review.updated_at = "withdrawn", now
        session.flush()
        return {"review": review, "pending": False}
    payload = {
        "review_id": review.id,
        "home": review.home_city,
        "cur": review.cur_city,
        "action": action,
        "role": role,
        "data": wire,
    }
    envelope = sign_and_store(
        session,
        config,
        type_=REVIEW_ACTION_TYPE,
        schema=REVIEW_ACTION_SCHEMA,
        stream=review_stream(review.id),
        payload=payload,
        audience=[review.home_city],
        now=now,
    )
    if review.home_city == config.city_id:
        decide(session, config, loads_strict(envelope.raw), now)
        return {"review": review, "pending": False}
    queue(session, envelope, [review.home_city], now)
    return {"review": review, "pending": True}


def _role_for(
    review: Review,
    action: str,
    held: set[str],
    loaded: dict[str, Any],
    session: Session,
    actor_city: str,
) -> str:
    state = review.state
    if action in ASSIGNMENT_ACTIONS:
        city = loaded.get("city") or actor_city
        assignment = assignment_of(session, review.id, city)
        state = assignment.state if assignment else "none"
        rows = ASSIGNMENT.candidates(state, action)
    else:
        rows = REVIEW.candidates(state, action)
    role = _pick_role(rows, held)
    if role is None:
        # Let the table produce the exact refusal (undeclared move, or which roles may do it).
        workflow = ASSIGNMENT if action in ASSIGNMENT_ACTIONS else REVIEW
        workflow.check(state, action, held or {"public"}, enforce_preconditions=False)
        raise WorkflowRefusal(
            "You hold no role in this review.", code="role_not_allowed", status=403
        )
    return role
