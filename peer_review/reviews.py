"""Peer reviews: drafts, actions, the home node's decisions, the event log and its projections.

How a move happens, wherever it starts:

1. :func:`act` — a user on any node asks for an action (page or API). Their review roles come
   from :func:`peer_review.workflow.review_roles_of`; the transition is checked with the same
   table the home node uses, and the action is signed as an ``hrc.review.action`` envelope.
2. On the home node the action goes straight to :func:`decide`; elsewhere it is queued to the
   home node, whose inbox calls :func:`decide` on arrival (``peer_review.inbound``).
3. :func:`decide` checks the claimed role against the city's place in the review, checks the
   transition with its preconditions, appends an event to the hash chain, folds it
   (:func:`fold`) and relays it to every participant, with the body only to cities that may
   read it (:mod:`peer_review.visibility`).
4. A participant's inbox calls :func:`receive_event`: the event must extend its head exactly and
   its body must carry the author's valid signature; then the same :func:`fold` runs.

Every node therefore ends with the same chain (same head hash) and the same projection of what
it may read.
"""

from __future__ import annotations

import secrets
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any

from marshmallow import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from federation.canonical import canonical_bytes, loads_strict
from federation.envelope import envelope_sha256
from node.config import NodeConfig
from node.errors import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError
from node.network import keyring, trust
from node.network.models import OutEnvelope, Peer
from node.network.outbox import queue, sign_and_store
from node.permissions import Actor
from peer_review import chain, deadlines, visibility
from peer_review.refusal import WorkflowRefusal
from peer_review.review_models import (
    Assignment,
    FollowUpEntry,
    Recommendation,
    Review,
    ReviewComment,
    ReviewDisclosure,
    ReviewEvent,
    ReviewSummary,
)
from peer_review.statemachine import Transition
from peer_review.workflow import (
    ASSIGNMENT,
    ASSIGNMENT_ACTIONS,
    REVIEW,
    city_may_claim,
    review_roles_of,
)
from schemas.peer_review import (
    MAX_QUESTIONS,
    REVIEW_ACTION_SCHEMA,
    REVIEW_ACTION_TYPE,
    REVIEW_EVENT_SCHEMA,
    REVIEW_EVENT_TYPE,
    ReviewActionPayloadSchema,
    load_action_data,
    review_stream,
)
from schemas.summary import SUMMARY_TYPE, SummaryPayloadSchema

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
PANEL_STATES = ("invited", "accepted", "submitted", "acknowledged", "declined", "cancelled")
REVIEWER_DEADLINE_ROLES = ("reviewer", "official", "admin")
CUR_DEADLINE_ROLES = ("admin", "official")


# --- small helpers -----------------------------------------------------------------------------


def new_id() -> str:
    """A fresh review id: 64 random bits in hex (also used for comments, recommendations)."""
    return secrets.token_hex(8)


def get_review(session: Session, review_id: str) -> Review:
    review = session.get(Review, review_id) if isinstance(review_id, str) else None
    if review is None:
        raise NotFoundError(f"No review {review_id!s:.40}.", code="no_such_review")
    return review


def _ms(moment: datetime) -> int:
    return keyring.ms(moment)


def _from_ms(ts: int) -> datetime:
    return datetime.fromtimestamp(ts / 1000, tz=UTC)


def assignments(session: Session, review_id: str) -> list[Assignment]:
    return list(
        session.scalars(
            select(Assignment).where(Assignment.review_id == review_id).order_by(Assignment.id)
        )
    )


def _assignment(session: Session, review_id: str, city: str) -> Assignment | None:
    return session.scalar(
        select(Assignment).where(Assignment.review_id == review_id, Assignment.city_id == city)
    )


def panel_cities(session: Session, review_id: str) -> set[str]:
    """Cities invited to the panel at some point (they stay participants and keep the log)."""
    return {a.city_id for a in assignments(session, review_id)}


def submitted_cities(session: Session, review_id: str) -> set[str]:
    return {
        a.city_id
        for a in assignments(session, review_id)
        if a.submitted_round is not None and a.state != "cancelled"
    }


def recommendations(session: Session, review_id: str) -> list[Recommendation]:
    return list(
        session.scalars(
            select(Recommendation)
            .where(Recommendation.review_id == review_id)
            .order_by(Recommendation.created_at, Recommendation.id)
        )
    )


def _home_is_secretariat(session: Session, config: NodeConfig, review: Review) -> bool:
    if review.home_city == config.city_id:
        return bool(config.role == "secretariat")
    # The pinned secretariat only (node.network.trust): a twin's claimed role counts for nothing.
    return trust.is_pinned_secretariat(session, review.home_city)


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


# --- drafts (local to the city under review) ---------------------------------------------------


def default_home(session: Session, config: NodeConfig) -> str:
    """The secretariat this city joined: the default chair (and home node) of its reviews."""
    secretariat = trust.secretariat_peer(session)
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


# --- acting -------------------------------------------------------------------------------------


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
        assignment = _assignment(session, review.id, city)
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


# --- the one decision function -------------------------------------------------------------------


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
        assignment = _assignment(session, review.id, city)
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
        if _assignment(session, review.id, loaded["city"]) is not None:
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
        _verify_summaries(session, config, review, payload["data"]["summaries"])
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
        ts=_ms(now),
    )
    event = _append(session, config, review, header, envelope, now)
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
    review = _blank_review(session, payload["review_id"], config.city_id, city, now)
    review.title = str(payload["data"].get("title", ""))[:200]
    return review


def _blank_review(session: Session, review_id: str, home: str, cur: str, now: datetime) -> Review:
    """A review row known only by its id and cities; the first event fills it in."""
    review = Review(
        id=review_id,
        home_city=home,
        cur_city=cur,
        title="",
        state="draft",
        round=0,
        scope={},
        questions=[],
        pinned=[],
        min_reviewers=2,
        public_outcome=True,
        head_index=-1,
        head_hash=None,
        created_at=now,
        updated_at=now,
    )
    session.add(review)
    session.flush()
    return review


def _verify_summaries(
    session: Session, config: NodeConfig, review: Review, envelopes: list[dict[str, Any]]
) -> list[tuple[dict[str, Any], dict[str, Any], str]]:
    """Each summary must be the CuR's, signed with its key, and a valid ``hrc.summary``."""
    checked = []
    for envelope in envelopes:
        if envelope.get("type") != SUMMARY_TYPE:
            raise InvalidInputError("Only signed summaries can be pinned.", code="not_a_summary")
        digest = chain.verify_signed_by(session, config, envelope, review.cur_city)
        try:
            summary = SummaryPayloadSchema().load(envelope["payload"])
        except ValidationError as exc:
            raise InvalidInputError(
                "A pinned summary is malformed.",
                code="not_a_summary",
                errors=exc.normalized_messages(),
            ) from exc
        checked.append((envelope, summary, digest))
    return checked


# --- the log and its projection ------------------------------------------------------------------


def _append(
    session: Session,
    config: NodeConfig,
    review: Review,
    header: dict[str, Any],
    body: dict[str, Any] | None,
    now: datetime,
) -> ReviewEvent:
    event = ReviewEvent(
        review_id=review.id,
        index=header["index"],
        hash=chain.header_hash(header),
        header=header,
        action=header["action"],
        actor_city=header["actor"]["city"],
        actor_role=header["actor"]["role"],
        body_sha256=header["body_sha256"],
        body=canonical_bytes(body).decode("utf-8") if body is not None else None,
        folded=False,
        recorded_at=now,
    )
    session.add(event)
    review.head_index, review.head_hash = event.index, event.hash
    session.flush()
    if body is not None:
        fold(session, config, review, event, body, now)
    return event


def fold(
    session: Session,
    config: NodeConfig,
    review: Review,
    event: ReviewEvent,
    body: dict[str, Any],
    now: datetime,
) -> None:
    """Apply one event to the projections — the same code on every node."""
    payload = body["payload"]
    action, data, city = event.action, payload["data"], event.actor_city
    at = _from_ms(event.header["ts"])
    event.folded = True
    subject = f"review:{review.id}"
    if action in ASSIGNMENT_ACTIONS:
        _fold_assignment(session, config, review, action, data.get("city") or city, data, at, now)
    elif action in REVIEW.actions:
        rows = REVIEW.candidates(review.state, action)
        if rows:
            review.state = rows[0].target_from(review.state)
        # The table names the effect; REVIEW_EFFECTS refused at load a row without a handler.
        REVIEW_EFFECTS.apply(action, session, config, review, event, data, at, now)
    if review.state in REVIEW.terminal:
        deadlines.close(session, subject, now)
        for a in assignments(session, review.id):
            deadlines.close(session, f"{subject}:{a.city_id}", now)
    review.updated_at = now
    session.flush()


def _fold_assignment(
    session: Session,
    config: NodeConfig,
    review: Review,
    action: str,
    city: str,
    data: dict[str, Any],
    at: datetime,
    now: datetime,
) -> None:
    assignment = _assignment(session, review.id, city)
    if assignment is None:
        return
    rows = ASSIGNMENT.candidates(assignment.state, action)
    if rows:
        assignment.state = rows[0].target_from(assignment.state)
    assignment.updated_at = now
    ASSIGNMENT_EFFECTS.apply(action, session, config, review, assignment, data, at, now)


# Each node keeps (and reminds) only its own city's deadlines: the effects below touch a
# deadline only when the assignment is this node's city's.


def _record_review(session, config, review, assignment, data, at, now) -> None:  # type: ignore[no-untyped-def]
    assignment.verdict = data["verdict"]
    assignment.summary = data["summary"]
    assignment.endorsed_hash = data.get("endorsed_hash")
    assignment.submitted_round = review.round
    if assignment.city_id == config.city_id:
        subject = f"review:{review.id}:{assignment.city_id}"
        deadlines.met(session, subject, "review_submission", now)


def _answer_invitation(session, config, review, assignment, data, at, now) -> None:  # type: ignore[no-untyped-def]
    if assignment.city_id == config.city_id:
        subject = f"review:{review.id}:{assignment.city_id}"
        deadlines.met(session, subject, "invitation_answer", now)


def _rearm_invitation(session, config, review, assignment, data, at, now) -> None:  # type: ignore[no-untyped-def]
    if assignment.city_id == config.city_id:
        _arm_invitation(session, review, assignment.city_id, at, now)


def _close_assignment(session, config, review, assignment, data, at, now) -> None:  # type: ignore[no-untyped-def]
    if assignment.city_id == config.city_id:
        deadlines.close(session, f"review:{review.id}:{assignment.city_id}", now)


# The assignment table's effects, bound and checked both ways at import.
ASSIGNMENT_EFFECTS = ASSIGNMENT.with_effects(
    {
        "record_review": _record_review,
        "answer_invitation": _answer_invitation,
        "arm_invitation": _rearm_invitation,
        "close_assignment": _close_assignment,
    }
)


def _arm(
    session: Session,
    review: Review,
    subject: str,
    kind: str,
    at: datetime,
    now: datetime,
    *,
    title: str,
    page: str = "",
    roles: tuple[str, ...] = REVIEWER_DEADLINE_ROLES,
) -> None:
    """Arm one of this node's deadlines on a review, due the default period after ``at``
    (the event's own time, so every node computes the same date)."""
    deadlines.arm(
        session,
        subject=subject,
        kind=kind,
        due_at=deadlines.due_after(kind, at),
        now=now,
        title=f"{title} {review.title}",
        link=f"/reviews/{review.id}" + (f"/{page}" if page else ""),
        roles=roles,
    )


def _arm_invitation(
    session: Session, review: Review, city: str, at: datetime, now: datetime
) -> None:
    _arm(
        session,
        review,
        f"review:{review.id}:{city}",
        "invitation_answer",
        at,
        now,
        title="Answer the invitation to review",
    )


def _arm_reviews(
    session: Session, config: NodeConfig, review: Review, at: datetime, now: datetime
) -> None:
    mine = _assignment(session, review.id, config.city_id)
    if mine is not None and mine.state == "accepted":
        _arm(
            session,
            review,
            f"review:{review.id}:{config.city_id}",
            "review_submission",
            at,
            now,
            title=f"Submit your review (round {review.round}) of",
        )


def _store_summaries(
    session: Session,
    config: NodeConfig,
    review: Review,
    envelopes: list[dict[str, Any]],
    round_: int,
) -> list[str]:
    hashes = []
    for envelope, summary, digest in _verify_summaries(session, config, review, envelopes):
        hashes.append(digest)
        exists = session.scalar(
            select(ReviewSummary).where(
                ReviewSummary.review_id == review.id, ReviewSummary.sha256 == digest
            )
        )
        if exists is None:
            session.add(
                ReviewSummary(
                    review_id=review.id,
                    sha256=digest,
                    period=summary["period"],
                    revision=summary["revision"],
                    round=round_,
                    envelope=canonical_bytes(envelope).decode("utf-8"),
                )
            )
    session.flush()
    return hashes


def _fold_submit(session, config, review, event, data, at, now) -> None:  # type: ignore[no-untyped-def]
    review.title = data["title"][:200]
    review.scope = {
        "themes": data["scope"].get("themes", []),
        "indicators": data["scope"].get("indicators", []),
    }
    review.questions = list(data.get("questions", []))
    review.min_reviewers = int(data.get("min_reviewers", 2))
    review.public_outcome = bool(data.get("public_outcome", True))
    review.pinned = _store_summaries(session, config, review, data["summaries"], 1)


def _fold_invite(session, config, review, event, data, at, now) -> None:  # type: ignore[no-untyped-def]
    session.add(
        Assignment(review_id=review.id, city_id=data["city"], state="invited", updated_at=now)
    )
    session.flush()
    if data["city"] == config.city_id:
        _arm_invitation(session, review, data["city"], at, now)


def _fold_open_round(session, config, review, event, data, at, now) -> None:  # type: ignore[no-untyped-def]
    review.round = 1
    _arm_reviews(session, config, review, at, now)


def _fold_revision(session, config, review, event, data, at, now) -> None:  # type: ignore[no-untyped-def]
    review.round += 1
    review.pinned = _store_summaries(session, config, review, data["summaries"], review.round)
    for a in assignments(session, review.id):
        # An endorsement was of the old version: it lapses, and the panel reviews again.
        a.endorsed_hash = None
        if a.verdict == "endorsed":
            a.verdict = None
        if a.state in ("submitted", "acknowledged"):
            a.state = "accepted"
    session.flush()
    _arm_reviews(session, config, review, at, now)


def _fold_recommendation(session, config, review, event, data, at, now) -> None:  # type: ignore[no-untyped-def]
    session.add(
        Recommendation(
            id=data["id"],
            review_id=review.id,
            content=data["content"],
            content_sha256=chain.content_hash(data["content"]),
            issuing_cities=list(data["issuing_cities"]),
            cosigned_by={event.actor_city: event.index},
            created_at=at,
        )
    )
    session.flush()


def _fold_cosign(session, config, review, event, data, at, now) -> None:  # type: ignore[no-untyped-def]
    rec = session.get(Recommendation, data["id"])
    if rec is not None and rec.content_sha256 == data["content_sha256"]:
        rec.cosigned_by = {**rec.cosigned_by, event.actor_city: event.index}


def _arm_for_cur(
    session: Session,
    config: NodeConfig,
    review: Review,
    kind: str,
    at: datetime,
    now: datetime,
    title: str,
    page: str,
) -> None:
    """A deadline of the reviewed city: only its own node keeps (and reminds) it."""
    if review.cur_city == config.city_id:
        _arm(
            session,
            review,
            f"review:{review.id}",
            kind,
            at,
            now,
            title=title,
            page=page,
            roles=CUR_DEADLINE_ROLES,
        )


def _fold_issue(session, config, review, event, data, at, now) -> None:  # type: ignore[no-untyped-def]
    _arm_for_cur(
        session, config, review, "response", at, now, "Answer the recommendations of", "respond"
    )


def _fold_respond(session, config, review, event, data, at, now) -> None:  # type: ignore[no-untyped-def]
    for position in data["positions"]:
        rec = session.get(Recommendation, position["recommendation_id"])
        if rec is not None:
            rec.position = position["position"]
            rec.explanation = position.get("explanation")
    if review.cur_city == config.city_id:
        deadlines.met(session, f"review:{review.id}", "response", now)


def _fold_adopt(session, config, review, event, data, at, now) -> None:  # type: ignore[no-untyped-def]
    _arm_for_cur(
        session, config, review, "follow_up", at, now, "Report on the follow-up of", "follow-up"
    )


def _fold_follow_up(session, config, review, event, data, at, now) -> None:  # type: ignore[no-untyped-def]
    kind = "report" if event.action == "report_follow_up" else "assessment"
    if data.get("summaries"):
        _store_summaries(session, config, review, data["summaries"], review.round)
    for entry in data["entries"]:
        session.add(
            FollowUpEntry(
                review_id=review.id,
                recommendation_id=entry["recommendation_id"],
                event_index=event.index,
                kind=kind,
                author_city=event.actor_city,
                status=entry["status"],
                note=entry["note"],
                evidence=list(entry.get("evidence", [])),
                created_at=at,
            )
        )
        rec = session.get(Recommendation, entry["recommendation_id"])
        if rec is not None and kind == "report":
            rec.status = entry["status"]
    session.flush()
    if kind == "report" and review.cur_city == config.city_id:
        deadlines.met(session, f"review:{review.id}", "follow_up", now)


def _fold_comment(session, config, review, event, data, at, now) -> None:  # type: ignore[no-untyped-def]
    session.add(
        ReviewComment(
            id=data["id"],
            review_id=review.id,
            event_index=event.index,
            author_city=event.actor_city,
            author_role=event.actor_role,
            kind=data["kind"],
            anchor=data.get("anchor"),
            parent_id=data.get("parent_id"),
            text=data["text"],
            readers=sorted(set(data["readers"])),
            round=review.round,
            resolved=False,
            created_at=at,
        )
    )
    session.flush()


def _fold_resolve(session, config, review, event, data, at, now) -> None:  # type: ignore[no-untyped-def]
    row = session.get(ReviewComment, data["comment_id"])
    if row is not None:
        row.resolved = True


def _fold_widen(session, config, review, event, data, at, now) -> None:  # type: ignore[no-untyped-def]
    row = session.get(ReviewComment, data["comment_id"])
    if row is not None:
        row.readers = sorted(set(row.readers) | set(data["readers"]))


def _fold_extend(session, config, review, event, data, at, now) -> None:  # type: ignore[no-untyped-def]
    subject = f"review:{review.id}" + (f":{data['city']}" if data.get("city") else "")
    due = datetime.fromisoformat(data["due"])
    # The deadline may be kept by another node (each node reminds only its own users).
    with suppress(NotFoundError):
        deadlines.move(session, subject=subject, kind=data["kind"], due_at=due, now=now)


# Effect name (the table's ``effect=``) -> the fold that applies it; checked both ways at import.
REVIEW_EFFECTS = REVIEW.with_effects(
    {
        "store_request": _fold_submit,
        "add_to_panel": _fold_invite,
        "open_first_round": _fold_open_round,
        "open_next_round": _fold_revision,
        "add_recommendation": _fold_recommendation,
        "cosign_recommendation": _fold_cosign,
        "arm_response_deadline": _fold_issue,
        "record_positions": _fold_respond,
        "arm_follow_up_deadline": _fold_adopt,
        "record_follow_up": _fold_follow_up,
        "add_comment": _fold_comment,
        "resolve_comment": _fold_resolve,
        "widen_comment_readers": _fold_widen,
        "move_deadline": _fold_extend,
    }
)


# --- relaying (home node) ------------------------------------------------------------------------


def participants(session: Session, review: Review) -> list[str]:
    """Cities the home node keeps in sync: the CuR and every city invited to the panel."""
    return sorted(({review.cur_city} | panel_cities(session, review.id)) - {review.home_city})


def relay(session: Session, config: NodeConfig, review: Review, now: datetime) -> int:
    """Send every participant the events (and readable bodies) it does not have yet.

    Called after each decision. A city invited late gets the whole history first; a body that
    became readable (the city submitted its review, the chair widened readers, the factual
    check began) is sent again, this time with its body. Returns the envelopes queued.
    """
    events = list(
        session.scalars(
            select(ReviewEvent)
            .where(ReviewEvent.review_id == review.id)
            .order_by(ReviewEvent.index)
        )
    )
    # Read once per relay, not per (event, city): a decision must stay cheap as the log grows.
    panel, submitted = panel_cities(session, review.id), submitted_cities(session, review.id)
    comment_readers = {
        c.event_index: c.readers
        for c in session.scalars(select(ReviewComment).where(ReviewComment.review_id == review.id))
    }

    def readable_by(event: ReviewEvent, city: str) -> bool:
        return visibility.may_read(
            city=city,
            action=event.action,
            author_city=event.actor_city,
            author_role=event.actor_role,
            readers=comment_readers.get(event.index, event.header["readers"]),
            review_state=review.state,
            home=review.home_city,
            cur=review.cur_city,
            panel=panel,
            submitted=submitted,
            home_is_secretariat=config.role == "secretariat",
            public_outcome=review.public_outcome,
        )

    sent = 0
    for city in participants(session, review):
        known = {
            d.event_index: d
            for d in session.scalars(
                select(ReviewDisclosure).where(
                    ReviewDisclosure.review_id == review.id, ReviewDisclosure.city_id == city
                )
            )
        }
        for event in events:
            disclosure = known.get(event.index)
            if disclosure is not None and disclosure.with_body:
                continue  # the city holds this event, body included: nothing more to send
            readable = readable_by(event, city)
            if disclosure is not None and not readable:
                continue
            body = loads_strict(event.body) if readable and event.body else None
            envelope = sign_and_store(
                session,
                config,
                type_=REVIEW_EVENT_TYPE,
                schema=REVIEW_EVENT_SCHEMA,
                stream=review_stream(review.id),
                payload={
                    "review_id": review.id,
                    "home": review.home_city,
                    "cur": review.cur_city,
                    "event": event.header,
                    "body": body,
                },
                audience=[city],
                now=now,
            )
            queue(session, envelope, [city], now)
            sent += 1
            if disclosure is None:
                session.add(
                    ReviewDisclosure(
                        review_id=review.id,
                        city_id=city,
                        event_index=event.index,
                        with_body=body is not None,
                    )
                )
            else:
                disclosure.with_body = body is not None
    session.flush()
    return sent


# --- receiving events (participants) -------------------------------------------------------------


def receive_event(
    session: Session, config: NodeConfig, sender: str, payload: dict[str, Any], now: datetime
) -> None:
    """Participant: append a relayed event (or attach a body disclosed later) and fold it."""
    from schemas.peer_review import EventHeaderSchema

    try:
        header = EventHeaderSchema().load(payload["event"])
    except ValidationError as exc:
        raise InvalidInputError(
            "The event header is malformed.", errors=exc.normalized_messages()
        ) from exc
    if payload["home"] != sender:
        # Only the home node decides; anyone else relaying is refused whatever it signs.
        raise PermissionDeniedError(
            "Only the review's home node relays its events.", code="not_home"
        )
    if header["review_id"] != payload["review_id"]:
        raise InvalidInputError("The event names another review.", code="review_mismatch")
    review = session.get(Review, payload["review_id"])
    body = payload.get("body")
    if review is None:
        if header["index"] != 0 or header["action"] != "submit":
            raise ConflictError("We do not know this review yet.", code="event_gap")
        review = _blank_review(session, payload["review_id"], payload["home"], payload["cur"], now)
    elif (review.home_city, review.cur_city) != (payload["home"], payload["cur"]):
        raise ConflictError("The event names another review.", code="review_mismatch")
    if body is not None:
        _check_body(session, config, review, header, body)
    existing = session.scalar(
        select(ReviewEvent).where(
            ReviewEvent.review_id == review.id, ReviewEvent.index == header["index"]
        )
    )
    if existing is not None:
        if existing.hash != chain.header_hash(header):
            raise chain.ChainError("A different event already holds that index.", code="event_fork")
        if existing.body is None and body is not None:
            existing.body = canonical_bytes(body).decode("utf-8")
            fold(session, config, review, existing, body, now)
        return
    chain.check_link(header, review.head_index, review.head_hash)
    if body is not None and header["action"] in REVIEW.actions:
        # Replaying the home's decision: state and role must still match the table.
        _replay_check(session, config, review, header, body)
    _append(session, config, review, header, body, now)


def _check_body(
    session: Session, config: NodeConfig, review: Review, header: dict[str, Any], body: Any
) -> None:
    if not isinstance(body, dict):
        raise InvalidInputError("An event body is a signed envelope.", code="bad_event")
    author = header["actor"]["city"]
    digest = chain.verify_signed_by(session, config, body, author)
    if digest != header["body_sha256"]:
        raise chain.ChainError("The body is not the one the event names.", code="hash_mismatch")
    if body.get("type") != REVIEW_ACTION_TYPE:
        raise chain.ChainError("An event body is a review action.", code="bad_event")
    try:
        action_payload = ReviewActionPayloadSchema().load(body["payload"])
        load_action_data(action_payload["action"], action_payload["data"])
    except (ValidationError, KeyError) as exc:
        raise chain.ChainError("The signed action is malformed.", code="bad_event") from exc
    if (
        action_payload["review_id"] != review.id
        or action_payload["action"] != header["action"]
        or action_payload["role"] != header["actor"]["role"]
    ):
        raise chain.ChainError("The event does not match the signed action.", code="bad_event")


def _replay_check(
    session: Session, config: NodeConfig, review: Review, header: dict[str, Any], body: dict
) -> None:
    action, role = header["action"], header["actor"]["role"]
    city = header["actor"]["city"]
    if action == "submit":
        REVIEW.check("draft", action, [role], enforce_preconditions=False)
        return
    if not city_may_claim(
        role,
        city=city,
        home=review.home_city,
        cur=review.cur_city,
        panel_cities=panel_cities(session, review.id),
        home_is_secretariat=_home_is_secretariat(session, config, review),
    ):
        raise chain.ChainError(f"{city} cannot act as {role} here.", code="bad_event")
    REVIEW.check(review.state, action, [role], enforce_preconditions=False)


# --- reading -------------------------------------------------------------------------------------


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
    return list(session.scalars(select(Review).order_by(Review.updated_at.desc())))


def events(session: Session, review_id: str) -> list[ReviewEvent]:
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
    return list(
        session.scalars(
            select(FollowUpEntry)
            .where(FollowUpEntry.review_id == review_id)
            .order_by(FollowUpEntry.event_index, FollowUpEntry.id)
        )
    )


# --- views (API and pages) -----------------------------------------------------------------------


def available_actions(
    session: Session, config: NodeConfig, review: Review, roles: set[str]
) -> list[str]:
    """Actions the table opens to these roles now (buttons on pages, hints in the API)."""
    names = [t.action for t in REVIEW.available(review.state, roles)]
    if review.state in REVIEW.terminal:
        return names
    mine = _assignment(session, review.id, config.city_id)
    if mine is not None and "reviewer" in roles:
        names += [t.action for t in ASSIGNMENT.available(mine.state, {"reviewer"})]
    if "chair" in roles:
        for a in assignments(session, review.id):
            names += [t.action for t in ASSIGNMENT.available(a.state, {"chair"})]
    return list(dict.fromkeys(names))


def recommendation_view(session: Session, rec: Recommendation) -> dict[str, Any]:
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
