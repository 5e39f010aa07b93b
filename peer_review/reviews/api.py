"""``/api/v1/reviews``: peer reviews (drafts, actions, the event log) and public outcomes."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from node.api.common import BEARER, items_schema, problems
from node.auth import api_user
from node.errors import AuthenticationRequiredError
from node.runtime import db_session, now, runtime
from peer_review.reviews.services import drafting, presentation, queries
from peer_review.workflow import ASSIGNMENT, REVIEW
from schemas.peer_review import (
    PublicRecommendationSchema,
    RecommendationQuerySchema,
    ReviewActionRequestSchema,
    ReviewDraftSchema,
    ReviewEventLogSchema,
    ReviewListItemSchema,
    ReviewViewSchema,
)

blp = Blueprint("reviews", __name__, description="Peer reviews between cities")


def _signed_in() -> Any:
    user = api_user()
    if user is None:
        raise AuthenticationRequiredError("Send 'Authorization: Bearer <token>' to do this.")
    return user


@blp.route("/reviews")
class Reviews(MethodView):
    @blp.response(200, items_schema(ReviewListItemSchema, "ReviewList"))
    @blp.doc(security=BEARER)
    @problems(blp, 401)
    def get(self) -> dict[str, Any]:
        """Reviews you take part in (as the reviewed city, a reviewer, the chair...)."""
        user = _signed_in()
        return {"items": presentation.reviews_for(db_session(), runtime().config, user)}

    @blp.arguments(ReviewDraftSchema)
    @blp.response(201, ReviewViewSchema)
    @blp.doc(security=BEARER)
    @problems(blp, 401, 403, 409, 422)
    def post(self, data: dict[str, Any]) -> dict[str, Any]:
        """Prepare a review request of our city (a draft, sent on the ``submit`` action)."""
        user = _signed_in()
        session, config = db_session(), runtime().config
        review = drafting.create_draft(session, config, user, now=now(), **data)
        return presentation.review_view(session, config, review, user)


@blp.route("/reviews/workflow")
class Workflow(MethodView):
    @blp.response(200)
    def get(self) -> dict[str, Any]:
        """The declared transition tables (review and reviewer assignment)."""
        return {"review": REVIEW.describe(), "assignment": ASSIGNMENT.describe()}


@blp.route("/reviews/<review_id>")
class ReviewItem(MethodView):
    @blp.response(200, ReviewViewSchema)
    @blp.doc(security=BEARER)
    @problems(blp, 404)
    def get(self, review_id: str) -> dict[str, Any]:
        """One review as you may see it (its public outcome for anyone, once adopted)."""
        session, config = db_session(), runtime().config
        review = queries.get_review(session, review_id)
        return presentation.review_view(session, config, review, api_user())


@blp.route("/reviews/<review_id>/actions")
class ReviewActions(MethodView):
    @blp.arguments(ReviewActionRequestSchema)
    @blp.response(200, ReviewViewSchema)
    @blp.doc(security=BEARER)
    @problems(blp, 401, 403, 404, 409, 422)
    def post(self, body: dict[str, Any], review_id: str) -> dict[str, Any]:
        """Take one action of the workflow tables; ``pending`` until the home node decides."""
        user = _signed_in()
        session, config = db_session(), runtime().config
        result = drafting.act(session, config, user, review_id, body["action"], body["data"], now())
        view = presentation.review_view(session, config, result["review"], user)
        view["pending"] = result["pending"]
        return view


@blp.route("/reviews/<review_id>/events")
class ReviewEvents(MethodView):
    @blp.response(200, ReviewEventLogSchema)
    @blp.doc(security=BEARER)
    @problems(blp, 401, 404)
    def get(self, review_id: str) -> dict[str, Any]:
        """The review's hash-chained event log (headers): compare head hashes across nodes."""
        user = _signed_in()
        session, config = db_session(), runtime().config
        review = queries.get_review(session, review_id)
        presentation.review_view(session, config, review, user)  # 404 unless you may see it
        return {
            "head_index": review.head_index,
            "head_hash": review.head_hash,
            "items": [
                {
                    "index": e.index,
                    "hash": e.hash,
                    "header": e.header,
                    "has_body": e.body is not None,
                }
                for e in queries.events(session, review.id)
            ],
        }


@blp.route("/recommendations")
class PublicRecommendations(MethodView):
    @blp.arguments(RecommendationQuerySchema, location="query")
    @blp.response(200, items_schema(PublicRecommendationSchema, "PublicRecommendationList"))
    @problems(blp, 422)
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """Adopted recommendations, positions and follow-up of public reviews (no sign-in)."""
        session = db_session()
        items = []
        for review, rec in queries.public_recommendations(session, **query):
            item = presentation.recommendation_view(session, rec)
            item.update(review_title=review.title, city=review.cur_city)
            items.append(item)
        return {"items": items}
