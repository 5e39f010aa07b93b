"""Tables of a peer review, the same on every node that takes part in it.

The **event log** (:class:`ReviewEvent`) is the source of truth: the home node (the chair's)
appends one event per accepted action and relays it; every participant appends the same event
after checking that it extends its own head (``prev_hash``). The other tables are projections
folded from the events by :func:`peer_review.reviews.services.projection.fold`, the same
function on every node, so a review reads the same everywhere. Bodies of events a city may not
read (another reviewer's comment before it submitted, a confidential note to the chair) are not
sent to it: it stores the header only (with the body's hash) and so still has the same chain
and head hash.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from node.db import Base, UTCDateTime


class Review(Base):
    """One peer review of a city (the CuR) chaired from its home node."""

    __tablename__ = "pr_reviews"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    home_city: Mapped[str] = mapped_column(String(63))
    cur_city: Mapped[str] = mapped_column(String(63), index=True)
    title: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(30))
    round: Mapped[int] = mapped_column(Integer, default=0)
    scope: Mapped[dict[str, Any]] = mapped_column(JSON)  # {"themes": [...], "indicators": [...]}
    questions: Mapped[list[str]] = mapped_column(JSON)
    pinned: Mapped[list[str]] = mapped_column(JSON)  # summary envelope hashes of this round
    min_reviewers: Mapped[int] = mapped_column(Integer, default=2)
    public_outcome: Mapped[bool] = mapped_column(Boolean, default=True)
    head_index: Mapped[int] = mapped_column(Integer, default=-1)  # -1: a local draft
    head_hash: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ReviewEvent(Base):
    """One link of a review's hash chain; ``body`` is the author's signed action envelope."""

    __tablename__ = "pr_review_events"
    __table_args__ = (UniqueConstraint("review_id", "index"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    review_id: Mapped[str] = mapped_column(ForeignKey("pr_reviews.id"))
    index: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))
    header: Mapped[dict[str, Any]] = mapped_column(JSON)
    action: Mapped[str] = mapped_column(String(40))
    actor_city: Mapped[str] = mapped_column(String(63))
    actor_role: Mapped[str] = mapped_column(String(30))
    body_sha256: Mapped[str] = mapped_column(String(64))
    body: Mapped[str | None] = mapped_column(Text)  # None: withheld from this node (not a reader)
    folded: Mapped[bool] = mapped_column(Boolean, default=False)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ReviewSummary(Base):
    """A signed summary of the CuR pinned by the review (kept verbatim, verified on arrival)."""

    __tablename__ = "pr_review_summaries"
    __table_args__ = (UniqueConstraint("review_id", "sha256"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    review_id: Mapped[str] = mapped_column(ForeignKey("pr_reviews.id"))
    sha256: Mapped[str] = mapped_column(String(64))
    period: Mapped[str] = mapped_column(String(10))
    revision: Mapped[int] = mapped_column(Integer)
    round: Mapped[int] = mapped_column(Integer)
    envelope: Mapped[str] = mapped_column(Text)


class Assignment(Base):
    """A reviewing city's place on the panel (one per city per review)."""

    __tablename__ = "pr_assignments"
    __table_args__ = (UniqueConstraint("review_id", "city_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    review_id: Mapped[str] = mapped_column(ForeignKey("pr_reviews.id"))
    city_id: Mapped[str] = mapped_column(String(63))
    state: Mapped[str] = mapped_column(String(20))
    verdict: Mapped[str | None] = mapped_column(String(30))
    endorsed_hash: Mapped[str | None] = mapped_column(String(64))  # lapses on a revision
    submitted_round: Mapped[int | None] = mapped_column(Integer)
    summary: Mapped[str | None] = mapped_column(Text)  # the reviewer's overall assessment
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ReviewComment(Base):
    """A comment anchored to an exact signed value (or a report section), in a thread."""

    __tablename__ = "pr_comments"
    __table_args__ = (Index("ix_pr_comments_review", "review_id", "event_index"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    review_id: Mapped[str] = mapped_column(ForeignKey("pr_reviews.id"))
    event_index: Mapped[int] = mapped_column(Integer)
    author_city: Mapped[str] = mapped_column(String(63))
    author_role: Mapped[str] = mapped_column(String(30))
    kind: Mapped[str] = mapped_column(String(30))
    anchor: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    parent_id: Mapped[str | None] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    readers: Mapped[list[str]] = mapped_column(JSON)
    round: Mapped[int] = mapped_column(Integer)
    resolved: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Recommendation(Base):
    """A recommendation issued by peer cities (each co-signs) and the CuR's answer to it."""

    __tablename__ = "pr_recommendations"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    review_id: Mapped[str] = mapped_column(ForeignKey("pr_reviews.id"), index=True)
    content: Mapped[dict[str, Any]] = mapped_column(JSON)  # text, lead verb, level, themes...
    content_sha256: Mapped[str] = mapped_column(String(64))
    issuing_cities: Mapped[list[str]] = mapped_column(JSON)
    cosigned_by: Mapped[dict[str, int]] = mapped_column(
        JSON
    )  # city -> event index of its signature
    position: Mapped[str | None] = mapped_column(String(10))  # supported | noted
    explanation: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str | None] = mapped_column(String(30))  # latest follow-up status
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class FollowUpEntry(Base):
    """The CuR's implementation report on one recommendation, or a peer's assessment of it."""

    __tablename__ = "pr_follow_ups"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    review_id: Mapped[str] = mapped_column(ForeignKey("pr_reviews.id"))
    recommendation_id: Mapped[str] = mapped_column(ForeignKey("pr_recommendations.id"))
    event_index: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(12))  # report | assessment
    author_city: Mapped[str] = mapped_column(String(63))
    status: Mapped[str] = mapped_column(String(30))
    note: Mapped[str] = mapped_column(Text)
    evidence: Mapped[list[str]] = mapped_column(JSON)  # newer summary envelope hashes
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ReviewDisclosure(Base):
    """Home node only: which event bodies a participant city has been sent (readers rule)."""

    __tablename__ = "pr_disclosures"
    __table_args__ = (UniqueConstraint("review_id", "city_id", "event_index"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    review_id: Mapped[str] = mapped_column(ForeignKey("pr_reviews.id"))
    city_id: Mapped[str] = mapped_column(String(63))
    event_index: Mapped[int] = mapped_column(Integer)
    with_body: Mapped[bool] = mapped_column(Boolean)
