"""Recommendations and follow-up on the portal, its feed and the annual report: only adopted
outcomes of public reviews of this city (peer_review.visibility.PUBLIC_STATES, public_outcome).

The reviews are written straight into the reviews' real tables (a review reaching follow-up
takes a federation of three nodes, tested in tests/federation); what is tested here is what the
portal reads of them through the composition root's source, not the review workflow."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from typing import Any

from flask.testing import FlaskClient

from peer_review.reviews.models import FollowUpEntry, Recommendation, Review

ATOM = "{http://www.w3.org/2005/Atom}"
AT = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def review(review_id: str, *, state: str, public: bool, cur: str = "be-gent") -> Review:
    return Review(
        id=review_id,
        home_city="fr-lyon",
        cur_city=cur,
        title=f"Review {review_id}",
        state=state,
        round=1,
        scope={"themes": [], "indicators": ["HRC-HOU-01"]},
        questions=[],
        pinned=[],
        min_reviewers=2,
        public_outcome=public,
        head_index=5,
        head_hash="0" * 64,
        created_at=AT,
        updated_at=AT,
    )


def recommendation(rec_id: str, review_id: str, text: str) -> Recommendation:
    return Recommendation(
        id=rec_id,
        review_id=review_id,
        content={"text": text, "indicators": ["HRC-HOU-01"], "lead_verb": "adopt"},
        content_sha256="1" * 64,
        issuing_cities=["fr-lyon", "it-padova"],
        cosigned_by={"fr-lyon": 3, "it-padova": 4},
        position="supported",
        explanation=None,
        status="in_progress",
        created_at=AT,
    )


def seed(db: Any) -> None:
    with db() as session:
        session.add_all(
            [
                review("pub", state="follow_up", public=True),
                review("private", state="follow_up", public=False),  # the review chose so
                review("early", state="factual_check", public=True),  # not adopted yet
                review("other", state="closed", public=True, cur="fr-lyon"),  # another city
            ]
        )
        session.flush()
        session.add_all(
            [
                recommendation("r-pub", "pub", "Publish eviction data by district"),
                recommendation("r-private", "private", "SECRET-PRIVATE-REC"),
                recommendation("r-early", "early", "SECRET-EARLY-REC"),
                recommendation("r-other", "other", "SECRET-OTHER-CITY-REC"),
            ]
        )
        session.flush()
        session.add(
            FollowUpEntry(
                review_id="pub",
                recommendation_id="r-pub",
                event_index=6,
                kind="report",
                author_city="be-gent",
                status="in_progress",
                note="District figures now published quarterly",
                evidence=[],
                created_at=datetime(2025, 9, 1, tzinfo=UTC),
            )
        )


SECRETS = ("SECRET-PRIVATE-REC", "SECRET-EARLY-REC", "SECRET-OTHER-CITY-REC")


def test_only_public_adopted_recommendations_of_this_city_are_shown(
    client: FlaskClient, db: Any, portal_data: dict[str, str]
) -> None:
    seed(db)
    for path in ("/portal", "/portal/indicators/HRC-HOU-01", "/annual-report/2025"):
        page = client.get(path).get_data(as_text=True)
        assert "Publish eviction data by district" in page, path
        assert "District figures now published quarterly" in page, path
        for secret in SECRETS:
            assert secret not in page, (path, secret)


def test_the_feed_carries_recommendations_and_follow_up_with_stable_ids(
    client: FlaskClient, db: Any, portal_data: dict[str, str]
) -> None:
    seed(db)
    body = client.get("/feed.atom").get_data()
    ids = [e.findtext(f"{ATOM}id") for e in ET.fromstring(body).findall(f"{ATOM}entry")]
    assert "urn:hrcnet:be-gent:recommendation:r-pub" in ids
    assert "urn:hrcnet:be-gent:follow-up:r-pub:1" in ids
    assert len(ids) == 4  # two public summaries, one recommendation, one follow-up
    for secret in SECRETS:
        assert secret.encode() not in body


def test_a_recommendations_text_cannot_inject_markup(
    client: FlaskClient, db: Any, portal_data: dict[str, str]
) -> None:
    with db() as session:
        session.add(review("xss", state="closed", public=True))
        session.flush()
        session.add(recommendation("r-xss", "xss", '<script>alert("x")</script><img src=x>'))
    page = client.get("/portal").get_data(as_text=True)
    assert "<script>alert" not in page and "<img src=x>" not in page
    assert "&lt;script&gt;alert" in page
    feed = ET.fromstring(client.get("/feed.atom").get_data())
    summaries = [e.findtext(f"{ATOM}summary") for e in feed.findall(f"{ATOM}entry")]
    assert '<script>alert("x")</script><img src=x>' in summaries  # text, not elements
