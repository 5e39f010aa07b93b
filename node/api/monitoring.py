"""Progress, baselines and targets, evidence and budget lines."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import RAISE, Schema

from node import data_version
from node.api.common import BEARER, items_schema, problems
from node.auth import api_user
from node.permissions import allowed
from node.runtime import db_session, now
from node.services import monitoring
from schemas.fields import Code
from schemas.results import BudgetLineSchema, EvidenceSchema, ProgressSchema, TargetSchema

blp = Blueprint("monitoring", __name__, description="Progress, targets, evidence, budget")
PROGRESS_LIST_SCHEMA = items_schema(ProgressSchema, "ProgressList")
PROGRESS_LIST = PROGRESS_LIST_SCHEMA()


class IndicatorFilterSchema(Schema):
    class Meta:
        unknown = RAISE

    indicator = Code()


@blp.route("/progress")
class Progress(MethodView):
    @blp.arguments(IndicatorFilterSchema, location="query")
    @blp.response(200, PROGRESS_LIST_SCHEMA)
    @problems(blp, 401, 404)
    def get(self, query: dict[str, Any]) -> Response:
        """Latest value vs baseline vs target per indicator (public: published figures only)."""
        public = not allowed(api_user(), "results.read_unpublished")
        session, indicator = db_session(), query.get("indicator")

        def body() -> bytes:
            items = monitoring.progress(session, published_only=public, indicator=indicator)
            dumped = PROGRESS_LIST.dump({"items": items})
            return jsonify(dumped).get_data()

        # The JSON document itself is kept per data version (node.data_version): at a million
        # results, building, assessing and dumping ~8,000 breakdowns took ~400 ms, and the
        # answer changes only with a write. Same bytes as the schema-dumped response.
        data = data_version.cached(session, ("api.progress", public, indicator), body)
        return Response(data, mimetype="application/json")


@blp.route("/targets")
class Targets(MethodView):
    @blp.arguments(IndicatorFilterSchema, location="query")
    @blp.response(200, items_schema(TargetSchema, "TargetList"))
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """Baselines and targets."""
        rows = monitoring.list_targets(db_session(), query.get("indicator"))
        return {"items": [monitoring.target_to_wire(t) for t in rows]}

    @blp.arguments(TargetSchema)
    @blp.response(200, TargetSchema)
    @blp.doc(security=BEARER)
    @problems(blp, 401, 403, 404)
    def post(self, data: dict[str, Any]) -> dict[str, Any]:
        """Set (or replace) the baseline and target of an indicator or one breakdown."""
        row = monitoring.set_target(db_session(), data, user=api_user(), now=now())
        return monitoring.target_to_wire(row)


@blp.route("/evidence")
class EvidenceList(MethodView):
    @blp.arguments(IndicatorFilterSchema, location="query")
    @blp.response(200, items_schema(EvidenceSchema, "EvidenceList"))
    @problems(blp, 401)
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """Qualitative evidence (public: published only)."""
        session = db_session()
        public = not allowed(api_user(), "results.read_unpublished")
        rows = monitoring.list_evidence(
            session, indicator=query.get("indicator"), published_only=public
        )
        return {"items": [monitoring.evidence_to_wire(r, session) for r in rows]}

    @blp.arguments(EvidenceSchema)
    @blp.response(201, EvidenceSchema)
    @blp.doc(security=BEARER)
    @problems(blp, 401, 403, 404)
    def post(self, data: dict[str, Any]) -> dict[str, Any]:
        """Submit a civil-society or community report about an indicator and period."""
        session = db_session()
        row = monitoring.add_evidence(session, data, user=api_user(), now=now())
        return monitoring.evidence_to_wire(row, session)


@blp.route("/evidence/<rowid:evidence_id>/publish")
class EvidencePublish(MethodView):
    @blp.response(200, EvidenceSchema)
    @blp.doc(security=BEARER)
    @problems(blp, 401, 403, 404)
    def post(self, evidence_id: int) -> dict[str, Any]:
        """Publish submitted evidence (officials)."""
        session = db_session()
        row = monitoring.publish_evidence(session, evidence_id, user=api_user())
        return monitoring.evidence_to_wire(row, session)


@blp.route("/budget-lines")
class BudgetLines(MethodView):
    @blp.arguments(IndicatorFilterSchema, location="query")
    @blp.response(200, items_schema(BudgetLineSchema, "BudgetLineList"))
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """Budget lines linked to indicators, with their execution rate."""
        rows = monitoring.list_budget_lines(db_session(), query.get("indicator"))
        return {"items": [monitoring.budget_to_wire(r) for r in rows]}

    @blp.arguments(BudgetLineSchema)
    @blp.response(201, BudgetLineSchema)
    @blp.doc(security=BEARER)
    @problems(blp, 401, 403, 404)
    def post(self, data: dict[str, Any]) -> dict[str, Any]:
        """Link a municipal budget line to an indicator."""
        row = monitoring.add_budget_line(db_session(), data, user=api_user(), now=now())
        return monitoring.budget_to_wire(row)
