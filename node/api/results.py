"""``/api/v1/results``: enter, list, validate and publish figures."""

from __future__ import annotations

from typing import Any

from flask import request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import ValidationError
from werkzeug.exceptions import BadRequest

from node.api.common import BEARER, items_schema, problems
from node.auth import api_user
from node.errors import InvalidInputError
from node.permissions import allowed, require
from node.runtime import db_session, now
from node.services import catalogue, results
from schemas.results import (
    ResultHistorySchema,
    ResultPageSchema,
    ResultQuerySchema,
    ResultSchema,
    ResultStatusChangeSchema,
    StatusChangedSchema,
)

blp = Blueprint(
    "results", __name__, description="Results: figures per indicator, period, breakdown"
)

ResultListSchema = items_schema(ResultSchema, "ResultList")
MAX_RESULTS_PER_POST = 10_000

_ONE_OR_MANY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "oneOf": [
                    {"$ref": "#/components/schemas/Result"},
                    {
                        "type": "array",
                        "items": {"$ref": "#/components/schemas/Result"},
                        "minItems": 1,
                        "maxItems": MAX_RESULTS_PER_POST,
                    },
                ]
            }
        }
    },
}


def load_result_items(payload: Any, may_validate: bool) -> list[dict[str, Any]]:
    """Validate one result object or a list of them; report every problem of every item at once.

    Items that pass the schema are also checked against the catalogue, so a user fixing a file
    sees all its problems in one round trip rather than one layer at a time.
    """
    if isinstance(payload, dict):
        payload = [payload]
    if not isinstance(payload, list) or not payload:
        raise InvalidInputError(
            "Send one result object or a non-empty list of them.",
            errors={"_schema": ["expected an object or a list"]},
        )
    if len(payload) > MAX_RESULTS_PER_POST:
        raise InvalidInputError(
            f"At most {MAX_RESULTS_PER_POST} results per request.",
            errors={"_schema": ["too many items"]},
        )
    schema = ResultSchema()
    loaded: list[dict[str, Any]] = []
    positions: list[int] = []
    errors: dict[str, Any] = {}
    for index, raw in enumerate(payload):
        try:
            loaded.append(schema.load(raw))
            positions.append(index)
        except ValidationError as exc:
            errors[str(index)] = exc.normalized_messages()
    if errors:
        _prepared, later = results.prepare_results(
            loaded, catalogue.view(db_session()), may_validate=may_validate
        )
        errors.update({str(positions[i]): e for i, e in later.items()})
        raise InvalidInputError(
            f"{len(errors)} of {len(payload)} results are not valid; nothing was saved.",
            code=results.refusal_code(errors),
            errors=dict(sorted(errors.items(), key=lambda kv: int(kv[0]))),
            extra={"error_codes": results.error_codes(errors)},
        )
    return loaded


@blp.route("/results")
class Results(MethodView):
    @blp.arguments(ResultQuerySchema, location="query")
    @blp.response(200, ResultPageSchema)
    @problems(blp, 401)
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """Results by indicator, period and status; anonymous callers see published ones."""
        session = db_session()
        rows, total = results.list_results(
            session,
            indicator=query.get("indicator"),
            period=query.get("period"),
            status=query.get("status"),
            published_only=not allowed(api_user(), "results.read_unpublished"),
            limit=query["limit"],
            offset=query["offset"],
        )
        return {"items": [results.result_to_wire(r) for r in rows], "total": total}

    @blp.doc(requestBody=_ONE_OR_MANY, security=BEARER)
    @blp.response(201, ResultListSchema)
    @problems(blp, 400, 401, 403, 413, 415, 422)
    def post(self) -> dict[str, Any]:
        """Record one result or a list of results, all-or-nothing.

        An existing figure (same indicator, period and breakdown) is corrected in place; a
        validated or published one only with a ``reason`` (422 ``reason_required``), and a value
        far from the previous period's only with ``confirm_outlier: true`` (422
        ``outlier_unconfirmed``). Every change is kept in the figure's history.
        """
        user = api_user()
        try:
            payload = request.get_json(silent=False)
        except BadRequest as exc:
            raise BadRequest("The body is not valid JSON.") from exc
        require(user, "results.write")
        items = load_result_items(payload, allowed(user, "results.validate"))
        rows = results.record_results(db_session(), items, user=user, now=now())
        return {"items": [results.result_to_wire(r) for r in rows]}


@blp.route("/results/status")
class ResultStatus(MethodView):
    @blp.arguments(ResultStatusChangeSchema)
    @blp.response(200, StatusChangedSchema)
    @blp.doc(security=BEARER)
    @problems(blp, 401, 403, 404)
    def post(self, data: dict[str, Any]) -> dict[str, Any]:
        """Validate, publish or send back to draft a selection of results (officials)."""
        changed = results.change_status(
            db_session(),
            status=data["status"],
            user=api_user(),
            now=now(),
            indicator=data.get("indicator"),
            period=data.get("period"),
            ids=data.get("ids"),
            reason=data.get("reason"),
        )
        return {"changed": changed}


@blp.route("/results/<rowid:result_id>/history")
class ResultHistory(MethodView):
    @blp.response(200, ResultHistorySchema)
    @blp.doc(security=BEARER)
    @problems(blp, 401, 403, 404)
    def get(self, result_id: int) -> dict[str, Any]:
        """A figure and every change to it: who, when, old → new value and status, why, and
        which signed summaries a change of a validated or published figure affected.

        City staff only: a history holds unpublished values and who entered them."""
        session = db_session()
        require(api_user(), "results.read_unpublished")
        row = results.get_result(session, result_id, published_only=False)
        lines = results.history(session, [row.id])[row.id]
        return {
            "result": results.result_to_wire(row),
            "changes": [results.change_to_wire(line) for line in lines],
        }
