"""Progress, baselines and targets, evidence and budget lines."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask import Response, current_app, jsonify
from flask.json.provider import DefaultJSONProvider
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import RAISE, Schema

from node import data_version
from node.api.common import BEARER, items_schema, problems
from node.auth import api_user
from node.permissions import allowed
from node.runtime import db_session, now
from node.services import catalogue, monitoring
from schemas.fields import Code, format_decimal
from schemas.results import BudgetLineSchema, EvidenceSchema, ProgressSchema, TargetSchema

blp = Blueprint("monitoring", __name__, description="Progress, targets, evidence, budget")
PROGRESS_LIST_SCHEMA = items_schema(ProgressSchema, "ProgressList")
PROGRESS_LIST = PROGRESS_LIST_SCHEMA()


class IndicatorFilterSchema(Schema):
    class Meta:
        unknown = RAISE

    indicator = Code()


def _text(value: Any) -> str | None:
    """As marshmallow's ``fields.String`` dumps: None stays None, anything else its text."""
    return None if value is None else str(value)


def _progress_point(point: dict[str, Any] | None) -> dict[str, Any] | None:
    if point is None:
        return None
    value = point["value"]
    return {
        "period": _text(point["period"]),
        "value": value if value is None or isinstance(value, bool) else format_decimal(value),
    }


def _progress_entry(entry: dict[str, Any]) -> dict[str, Any]:
    """One total or breakdown as ``BreakdownProgressSchema`` dumps it."""
    expected = entry["expected"]
    return {
        "disaggregation": {_text(k): _text(v) for k, v in entry["disaggregation"].items()},
        "status": _text(entry["status"]),
        "latest": _progress_point(entry["latest"]),
        "baseline": _progress_point(entry["baseline"]),
        "target": _progress_point(entry["target"]),
        "expected": None if expected is None else format_decimal(expected),
    }


def progress_document(items: list[dict[str, Any]]) -> dict[str, Any]:
    """``PROGRESS_LIST.dump({"items": items})`` for :func:`monitoring.progress`'s rows, written out.

    The schema walks ~86,000 fields at a million results (half of a cold full progress,
    issue 14); this builds the same document directly from the rows' known shape (every key
    present, values already typed: texts, Decimals, booleans, None). The schema stays the
    documented contract: tests/api/test_fast_paths.py holds the two equal on random data.
    """
    return {
        "items": [
            {
                **_progress_entry(item),
                "indicator": _text(item["indicator"]),
                "name": _text(item["name"]),
                "type": _text(item["type"]),
                "direction": _text(item["direction"]),
                "unit": _text(item["unit"]),
                "breakdowns": [_progress_entry(entry) for entry in item["breakdowns"]],
            }
            for item in items
        ]
    }


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
            if indicator is None and _compact_json():
                return _assembled_progress(session, public)
            items = monitoring.progress(session, published_only=public, indicator=indicator)
            return jsonify(progress_document(items)).get_data()

        # The JSON document itself is kept per data version (node.data_version): at a million
        # results, building, assessing and dumping ~8,000 breakdowns took ~400 ms, and the
        # answer changes only with a write. Same bytes as the schema-dumped response.
        data = data_version.cached(session, ("api.progress", public, indicator), body)
        return Response(data, mimetype="application/json")


def _compact_json() -> bool:
    """Whether ``jsonify`` writes compact JSON here (Flask's rule: not in debug mode, unless
    the provider's ``compact`` says otherwise), so that a list's text is its items' texts
    joined by commas."""
    provider = current_app.json
    compact = getattr(provider, "compact", None)
    return isinstance(provider, DefaultJSONProvider) and (
        compact is True or (compact is None and not current_app.debug)
    )


def _assembled_progress(session: Any, public: bool) -> bytes:
    """The full progress document from each indicator's item, kept per indicator
    (``node.data_version.cached_per_indicator``): after a figure entered for one indicator,
    that indicator's item alone is computed again (issue 14: the whole document was ~165 ms at
    a million results). The same bytes as ``jsonify(progress_document(all items))``: with
    sorted keys and compact separators, ``{"items": [a, b]}`` is written
    ``{"items":[`` + a + ``,`` + b + ``]}`` (tests/web/test_dashboard_parts.py compares them)."""
    codes = [indicator.code for indicator in catalogue.list_indicators(session)]

    def items(missing: Sequence[str]) -> dict[str, bytes]:
        wanted = None if len(missing) == len(codes) else missing
        texts = dict.fromkeys(missing, b"")  # an indicator gone meanwhile has no item
        rows = monitoring.progress(session, published_only=public, indicators=wanted)
        for item in progress_document(rows)["items"]:
            if item["indicator"] in texts:  # one added since the listing is the next answer's
                text = current_app.json.dumps(item, separators=(",", ":"))
                texts[item["indicator"]] = text.encode()
        return texts

    kept = data_version.cached_per_indicator(session, ("api.progress", public), codes, items)
    return b'{"items":[' + b",".join(kept[code] for code in codes if kept[code]) + b"]}\n"


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
