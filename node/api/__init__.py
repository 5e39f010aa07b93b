"""The local JSON API under ``/api/v1`` (flask-smorest), errors as RFC 9457 problem+json."""

from __future__ import annotations

import http
from typing import Any

from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask
from flask_smorest import Api, Blueprint
from flask_smorest.utils import prepare_response
from webargs import core as webargs_core
from webargs.flaskparser import FlaskParser, is_json_request
from werkzeug.datastructures import MultiDict

from node.routing import RowIdConverter, row_id_parameter_schema
from schemas.problem import ProblemSchema

PROBLEM_CONTENT_TYPE = "application/problem+json"


class GuardedArgumentsParser(FlaskParser):
    """webargs' Flask parser, reading JSON bodies through :func:`node.input_guard.parse_json_text`.

    webargs calls ``json.loads`` itself (not Flask's provider); without this a body of 100,000
    nested ``[`` overflows the parser's stack (a 500) on any route declaring a JSON body. The
    app's request guard refuses such bodies first; this is the same rule where the parsing is.
    """

    def _raw_load_json(self, req: Any) -> Any:
        from node.input_guard import parse_json_text

        if not is_json_request(req):
            return webargs_core.missing
        return parse_json_text(req.get_data(cache=True))

    def load_multipart(self, req: Any, schema: Any) -> Any:
        """Form fields and uploaded files of one ``multipart/form-data`` body, as one mapping.

        One schema then describes the whole form, so the OpenAPI 3 document has one
        ``multipart/form-data`` request body (two @arguments would leave Swagger 2
        ``in: formData`` parameters behind, which OpenAPI 3 clients reject).
        """
        combined = MultiDict(list(req.form.items(multi=True)) + list(req.files.items(multi=True)))
        return self._makeproxy(combined, schema)

    __location_map__ = {**FlaskParser.__location_map__, "multipart": "load_multipart"}


# Set on the class before any API module creates its blueprints: every route's @arguments,
# existing and future, parses with the guarded parser.
Blueprint.ARGUMENTS_PARSER = GuardedArgumentsParser()
Blueprint.DEFAULT_LOCATION_CONTENT_TYPE_MAPPING = {
    **Blueprint.DEFAULT_LOCATION_CONTENT_TYPE_MAPPING,
    "multipart": "multipart/form-data",
}


class ProblemApi(Api):
    """flask-smorest Api documenting every error as problem+json (handled in node.errors_http)."""

    ERROR_SCHEMA = ProblemSchema

    def _register_responses(self) -> None:
        # Same as flask-smorest's, but with the content type our errors really have, so that
        # the OpenAPI document tells clients (and schemathesis) the truth.
        for status in http.HTTPStatus:
            response: dict[str, Any] = {"description": status.phrase}
            if not (100 <= status < 200) and status not in (204, 304):
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, PROBLEM_CONTENT_TYPE)
            self.spec.components.response(status.name, response, lazy=True)
        default = {"description": "Error (RFC 9457 problem details)", "schema": self.ERROR_SCHEMA}
        prepare_response(default, self.spec, PROBLEM_CONTENT_TYPE)
        self.spec.components.response("DEFAULT_ERROR", default, lazy=True)

    def _register_error_handlers(self) -> None:
        """Errors are handled app-wide by :mod:`node.errors_http` (pages need HTML)."""


def init_api(app: Flask) -> Api:
    app.config.update(
        API_TITLE="hrcnet city node API",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api",
        OPENAPI_JSON_PATH="openapi.json",
        API_SPEC_OPTIONS={
            "info": {
                "description": "Local API of an hrcnet node: indicator catalogue, results, "
                "progress, import and export. Errors are RFC 9457 "
                "problem+json with a machine-readable `code`."
            },
            "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        },
    )
    api = ProblemApi(app, spec_kwargs={"marshmallow_plugin": MarshmallowPlugin()})
    api.register_converter(RowIdConverter, row_id_parameter_schema)
    from node.api import catalogue, cso_figures, exchange, monitoring, network, results
    from schemas.network import PeerAnswerSchema

    for module in (
        catalogue,
        results,
        monitoring,
        exchange,
        network,
        cso_figures,
    ):
        api.register_blueprint(module.blp, url_prefix="/api/v1")
    # Referenced by $ref from the optional answer bodies (accept / decline / end).
    api.spec.components.schema("PeerAnswer", schema=PeerAnswerSchema)
    from node.api import notifications

    api.register_blueprint(notifications.blp, url_prefix="/api/v1")
    return api
