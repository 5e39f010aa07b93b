"""``/api/v1/results/import`` and ``/api/v1/export``: files in, files out."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from flask import Response, stream_with_context
from flask.views import MethodView
from flask_smorest import Blueprint
from flask_smorest.fields import Upload
from marshmallow import RAISE, Schema, fields, validate

from node.api.common import BEARER, problems
from node.auth import api_user
from node.errors import InvalidInputError
from node.input_guard import parse_json_text
from node.runtime import db_session, now, runtime
from node.services import exchange
from schemas.fields import Code, PeriodString
from schemas.results import MAX_REASON, AffectedSummarySchema

blp = Blueprint("exchange", __name__, description="Import (CSV, XLSX) and export (CSV, JSON, SDMX)")


class ImportFormSchema(Schema):
    """The whole ``multipart/form-data`` import form: the file and its options."""

    class Meta:
        unknown = RAISE

    layout = fields.String(
        load_default="own",
        validate=validate.OneOf(exchange.LAYOUTS),
        metadata={"description": "own (indicator,period,value,...) or open-sdg"},
    )
    indicator = Code(
        metadata={"description": "target indicator of a single-indicator Open SDG file"}
    )
    profile = fields.String(
        validate=validate.Length(max=200_000),
        metadata={
            "description": "JSON import profile: Units and column mapping for Open SDG files"
        },
    )
    file = Upload(required=True, metadata={"description": "the CSV (UTF-8) or XLSX file"})
    reason = fields.String(
        validate=validate.Length(max=MAX_REASON),
        metadata={
            "description": "why the file changes validated or published figures (required "
            "then: 422 reason_required); kept in each changed figure's history"
        },
    )
    confirm_outliers = fields.Boolean(
        load_default=False,
        metadata={
            "description": "true to keep values far from the previous period's (otherwise "
            "422 outlier_unconfirmed lists the rows)"
        },
    )


class ImportReportSchema(Schema):
    imported = fields.Integer(
        metadata={"description": "figures written (new + changed + unchanged)"}
    )
    skipped = fields.Integer(metadata={"description": "rows without a value (no data)"})
    rows = fields.Integer()
    new = fields.Integer(metadata={"description": "figures that did not exist"})
    changed = fields.Integer(metadata={"description": "figures whose value or status changed"})
    unchanged = fields.Integer(metadata={"description": "figures already stored as in the file"})
    affected_summaries = fields.List(
        fields.Nested(AffectedSummarySchema),
        metadata={"description": "signed summaries that carried a changed figure"},
    )


class ExportQuerySchema(Schema):
    class Meta:
        unknown = RAISE

    format = fields.String(
        load_default="json", validate=validate.OneOf(tuple(exchange.EXPORT_FORMATS))
    )
    indicator = Code()
    period = PeriodString()


@blp.route("/results/import")
class ResultsImport(MethodView):
    @blp.arguments(ImportFormSchema, location="multipart")
    @blp.response(201, ImportReportSchema)
    @blp.doc(security=BEARER)
    @problems(blp, 401, 403, 413, 422)
    def post(self, form: dict[str, Any]) -> dict[str, Any]:
        """Import results from a CSV or XLSX file, all-or-nothing, with per-row errors."""
        user = api_user()
        profile = None
        if form.get("profile"):
            try:
                # Guarded parse: a profile of 100,000 nested "[" is refused (422 too_deep)
                # before json.loads could overflow its stack; NUL/surrogates → invalid_text.
                profile = parse_json_text(form["profile"], what="profile")
            except ValueError as exc:
                raise InvalidInputError(
                    "The profile is not valid JSON.", errors={"profile": ["not valid JSON"]}
                ) from exc
        upload = form["file"]
        report = exchange.import_file(
            db_session(),
            upload.filename or "upload",
            upload.stream,  # spooled to disk by Werkzeug when large; streamed, not read whole
            layout=form["layout"],
            profile=profile,
            indicator=form.get("indicator"),
            user=user,
            now=now(),
            reason=form.get("reason"),
            confirm_outliers=form["confirm_outliers"],
        )
        return {
            "imported": report.imported,
            "skipped": report.skipped,
            "rows": report.rows,
            "new": report.new,
            "changed": report.changed,
            "unchanged": report.unchanged,
            "affected_summaries": report.affected_summaries,
        }


@blp.route("/export")
class Export(MethodView):
    @blp.arguments(ExportQuerySchema, location="query")
    @blp.response(200, description="Published results", content_type="application/json")
    @blp.alt_response(200, description="CSV", content_type="text/csv", success=True)
    @problems(blp, 404)
    def get(self, query: dict[str, Any]) -> Response:
        """Published results as CSV, JSON or an SDMX-JSON 2.1.0 data message."""
        # The body is written while the figures are read, after this view has returned and the
        # request's unit of work is closed: it reads through a session of its own (read-only),
        # closed when the last chunk is sent or the client goes away (WSGI close()).
        session = runtime().sessions()
        try:
            media_type, body = exchange.export(
                session,
                query["format"],
                config=runtime().config,
                indicator=query.get("indicator"),
                period=query.get("period"),
                now=now(),
            )
        except BaseException:
            session.close()
            raise

        def chunks() -> Iterator[str]:
            try:
                yield from body
            finally:
                session.close()

        response = Response(stream_with_context(chunks()), mimetype=media_type.split(";")[0])
        response.headers["Content-Type"] = media_type
        if query["format"] == "csv":
            response.headers["Content-Disposition"] = 'attachment; filename="results.csv"'
        return response
