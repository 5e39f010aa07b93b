"""The facts behind the review table's preconditions, pinned at their edges on a real database.

The rules (``../shared/design/peer_review.md``): "open_round needs at least two accepted
reviewers (configurable)"; a round closes when every accepted reviewer has submitted (or been
cancelled); the factual check starts once there is at least one recommendation and every city
issuing one has co-signed it; reviews are submitted while a round is open. The review,
its panel and its recommendations are real rows (SQLite, and PostgreSQL when configured); the
decision is :func:`peer_review.reviews.services.decisions.check_action`, the call the pages, the
API and the inbox make — so the facts are computed by the code that computes them in production.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from peer_review.reviews.models import Assignment, Recommendation, Review
from peer_review.reviews.services.decisions import check_action
from peer_review.statemachine import TransitionRefused
from tests.support import Clock

HOME, CUR = "be-gent", "nl-utrecht"
PANEL = ("fr-lyon", "it-padova", "de-koeln", "es-bilbao", "pl-gdansk")


def _review(session: Any, clock: Clock, state: str, min_reviewers: int = 2) -> Review:
    review = Review(
        id="a1b2c3d4e5f60708",
        home_city=HOME,
        cur_city=CUR,
        title="Housing",
        state=state,
        round=1 if state != "panel_forming" else 0,
        scope={"themes": ["Adequate housing"], "indicators": []},
        questions=[],
        pinned=[],
        min_reviewers=min_reviewers,
        public_outcome=True,
        head_index=5,
        head_hash="0" * 64,
        created_at=clock(),
        updated_at=clock(),
    )
    session.add(review)
    session.flush()
    return review


def _panel(session: Any, review: Review, clock: Clock, *states: str) -> None:
    for city, state in zip(PANEL, states, strict=False):
        session.add(Assignment(review_id=review.id, city_id=city, state=state, updated_at=clock()))
    session.flush()


def _decide(
    app: Flask, session: Any, review: Review, action: str, role: str = "chair", city: str = HOME
) -> str:
    """``ok`` or the refusal's ``code`` (and, for a precondition, which one)."""
    config = app.extensions["hrcnet"].config
    try:
        check_action(session, config, review, action, role, city, {}, {})
    except TransitionRefused as refused:
        if refused.code == "precondition_failed":
            return f"precondition_failed:{refused.extra['precondition']}"
        return refused.code
    return "ok"


# (min_reviewers, panel states, expected): the minimum − 1, exactly, + 1; only *accepted* counts.
@pytest.mark.parametrize(
    ("minimum", "panel", "expected"),
    [
        (2, ("accepted",), "precondition_failed:enough_reviewers"),
        (2, ("accepted", "accepted"), "ok"),
        (2, ("accepted", "accepted", "accepted"), "ok"),
        (3, ("accepted", "accepted"), "precondition_failed:enough_reviewers"),
        (3, ("accepted", "accepted", "accepted"), "ok"),
        (3, ("accepted", "accepted", "accepted", "accepted"), "ok"),
        (1, (), "precondition_failed:enough_reviewers"),
        (1, ("accepted",), "ok"),
        # Invited, declined or cancelled cities are on the panel but not reviewing.
        (
            2,
            ("accepted", "invited", "declined", "cancelled"),
            "precondition_failed:enough_reviewers",
        ),
    ],
)
def test_open_round_needs_min_reviewers_accepted(
    app: Flask,
    db: Callable[[], Any],
    clock: Clock,
    minimum: int,
    panel: tuple[str, ...],
    expected: str,
) -> None:
    with db() as session:
        review = _review(session, clock, "panel_forming", min_reviewers=minimum)
        _panel(session, review, clock, *panel)
        assert _decide(app, session, review, "open_round") == expected


@pytest.mark.parametrize(
    ("panel", "expected"),
    [
        # One accepted reviewer still working: the round stays open.
        (("submitted", "accepted"), "precondition_failed:reviews_in"),
        (("acknowledged", "submitted", "accepted"), "precondition_failed:reviews_in"),
        (("accepted", "accepted"), "precondition_failed:reviews_in"),
        # Nobody submitted anything (the only reviewer was cancelled): nothing to consolidate.
        (("cancelled",), "precondition_failed:reviews_in"),
        ((), "precondition_failed:reviews_in"),
        (("submitted", "submitted"), "ok"),
        (("submitted", "acknowledged"), "ok"),
        (("submitted", "cancelled"), "ok"),  # a cancelled reviewer is not waited for
        (("submitted", "declined", "invited"), "ok"),  # nor one who never accepted
    ],
)
def test_close_round_waits_for_every_accepted_reviewer(
    app: Flask, db: Callable[[], Any], clock: Clock, panel: tuple[str, ...], expected: str
) -> None:
    with db() as session:
        review = _review(session, clock, "in_review")
        _panel(session, review, clock, *panel)
        assert _decide(app, session, review, "close_round") == expected


def _recommendation(
    session: Any, review: Review, clock: Clock, rec_id: str, issuing: list[str], signed: list[str]
) -> None:
    session.add(
        Recommendation(
            id=rec_id,
            review_id=review.id,
            content={"text": rec_id},
            content_sha256="ab" * 32,
            issuing_cities=issuing,
            cosigned_by={city: index for index, city in enumerate(signed)},
            created_at=clock(),
        )
    )
    session.flush()


LYON, PADOVA, KOELN = PANEL[:3]


@pytest.mark.parametrize(
    ("recommendations", "expected"),
    [
        ([], "precondition_failed:recommendations_cosigned"),
        # Co-signature missing by one city.
        ([([LYON, PADOVA], [LYON])], "precondition_failed:recommendations_cosigned"),
        ([([LYON, PADOVA, KOELN], [LYON, KOELN])], "precondition_failed:recommendations_cosigned"),
        ([([LYON, PADOVA], [LYON, PADOVA])], "ok"),
        ([([LYON], [LYON])], "ok"),
        # One fully co-signed recommendation does not carry another that is one short.
        (
            [([LYON], [LYON]), ([LYON, PADOVA], [PADOVA])],
            "precondition_failed:recommendations_cosigned",
        ),
        ([([LYON], [LYON]), ([LYON, PADOVA], [PADOVA, LYON])], "ok"),
    ],
)
def test_factual_check_needs_every_issuing_city_cosigned(
    app: Flask,
    db: Callable[[], Any],
    clock: Clock,
    recommendations: list[tuple[list[str], list[str]]],
    expected: str,
) -> None:
    with db() as session:
        review = _review(session, clock, "consolidating")
        for number, (issuing, signed) in enumerate(recommendations):
            _recommendation(session, review, clock, f"4ec000{number:02d}", issuing, signed)
        assert _decide(app, session, review, "start_factual_check") == expected


@pytest.mark.parametrize(
    ("state", "expected"),
    [("in_review", "ok"), ("consolidating", "precondition_failed:round_open")],
)
def test_a_review_is_submitted_while_the_round_is_open(
    app: Flask, db: Callable[[], Any], clock: Clock, state: str, expected: str
) -> None:
    with db() as session:
        review = _review(session, clock, state)
        _panel(session, review, clock, "accepted")
        assert _decide(app, session, review, "submit_review", "reviewer", LYON) == expected
