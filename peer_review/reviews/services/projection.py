"""The event log and its projection: appending an event to a review's chain and folding it.

The event log (:class:`peer_review.reviews.models.ReviewEvent`) is the source of truth; the
other tables are folded from it by :func:`fold`, the same code on every node (the home node
after its decision, each participant after checking the relayed event), so a review reads the
same everywhere.
"""

from __future__ import annotations

from contextlib import suppress
from datetime import UTC, datetime
from typing import Any

from marshmallow import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from federation.canonical import canonical_bytes
from node.config import NodeConfig
from node.errors import InvalidInputError, NotFoundError
from peer_review import chain, deadlines
from peer_review.reviews.models import (
    Assignment,
    FollowUpEntry,
    Recommendation,
    Review,
    ReviewComment,
    ReviewEvent,
    ReviewSummary,
)
from peer_review.reviews.services.queries import assignment_of, assignments
from peer_review.workflow import ASSIGNMENT, ASSIGNMENT_ACTIONS, REVIEW
from schemas.summary import SUMMARY_TYPE, SummaryPayloadSchema

REVIEWER_DEADLINE_ROLES = ("reviewer", "official", "admin")
CUR_DEADLINE_ROLES = ("admin", "official")


def _from_ms(ts: int) -> datetime:
    return datetime.fromtimestamp(ts / 1000, tz=UTC)


def blank_review(session: Session, review_id: str, home: str, cur: str, now: datetime) -> Review:
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


def verify_summaries(
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


def append_event(
    session: Session,
    config: NodeConfig,
    review: Review,
    header: dict[str, Any],
    body: dict[str, Any] | None,
    now: datetime,
) -> ReviewEvent:
    """Append one event at the head of the review's chain (the caller checked the link) and
    fold it when its body is known here; a withheld body is folded if it arrives later."""
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
    assignment = assignment_of(session, review.id, city)
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
    mine = assignment_of(session, review.id, config.city_id)
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
    for envelope, summary, digest in verify_summaries(session, config, review, envelopes):
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
