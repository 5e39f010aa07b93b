"""One place that turns errors into responses: problem+json for machines, HTML for people."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, json, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException, InternalServerError

from node.api import PROBLEM_CONTENT_TYPE
from node.errors import PROBLEM_BASE, DomainError
from node.refusals import http_page_text, page_message, page_title

log = logging.getLogger(__name__)

MACHINE_PREFIXES = ("/api/", "/federation/", "/.well-known/", "/healthz", "/metrics")

_CODES = {
    400: "bad_request",
    401: "authentication_required",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}


def wants_machine_answer() -> bool:
    return request.path.startswith(MACHINE_PREFIXES) or request.path == "/healthz"


def problem_response(body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    response = Response(json.dumps(body), status=body["status"], mimetype=PROBLEM_CONTENT_TYPE)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    if body["status"] == 401 and not request.path.startswith("/federation/"):
        # Federation requests authenticate with HTTP message signatures, not bearer tokens.
        response.headers.setdefault("WWW-Authenticate", 'Bearer realm="hrcnet"')
    return response


def _flatten_webargs(messages: Any) -> Any:
    # webargs nests errors by location ({"json": {...}}); clients want field → messages.
    if isinstance(messages, dict) and set(messages) <= {
        "json",
        "query",
        "querystring",
        "form",
        "files",
        "headers",
        "view_args",
    }:
        merged: dict[str, Any] = {}
        for value in messages.values():
            if isinstance(value, dict):
                merged.update(value)
            else:
                merged.setdefault("_schema", []).extend(
                    value if isinstance(value, list) else [value]
                )
        return merged
    return messages


def http_problem(error: HTTPException) -> tuple[dict[str, Any], dict[str, str]]:
    status = error.code or 500
    code = _CODES.get(status, "http_error")
    detail = error.description or error.name
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + code.replace("_", "-"),
        "title": error.name,
        "status": status,
        "detail": detail,
        "code": code,
    }
    data = getattr(error, "data", None) or {}
    if "messages" in data or "errors" in data:
        body["errors"] = _flatten_webargs(data.get("errors", data.get("messages")))
        if status == 422:
            body["detail"] = "The request does not have the expected fields; see errors."
    if status == 400 and "JSON" in str(detail):
        body["code"] = "invalid_json"
        body["type"] = PROBLEM_BASE + "invalid-json"
    # Keep werkzeug's headers (a 405 must say Allow) but not its HTML content type.
    headers = {k: v for k, v in error.get_headers() if k.lower() != "content-type"}
    headers.update(data.get("headers") or {})
    return body, headers


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def _domain(error: DomainError) -> Any:
        if wants_machine_answer():
            return problem_response(error.to_problem())
        # A page speaks its reader's language: the refusal from its code (node.refusals); the
        # problem+json above keeps the English detail, which is the API's contract.
        return render_template(
            "error.html", title=page_title(error), detail=page_message(error), status=error.status
        ), error.status

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException) -> Any:
        body, headers = http_problem(error)
        if wants_machine_answer():
            return problem_response(body, headers)
        # The page in its reader's language; the problem+json above stays English.
        title, detail = http_page_text(error, body["title"], body["detail"])
        return (
            render_template("error.html", title=title, detail=detail, status=body["status"]),
            body["status"],
            headers,
        )

    @app.errorhandler(CSRFError)
    def _csrf(error: CSRFError) -> Any:
        # Only pages carry CSRF tokens; say what happened in words a non-programmer understands.
        detail = _(
            "The form expired or did not come from this site; reload the page and try again."
        )
        return render_template(
            "error.html", title=_("Form expired"), detail=detail, status=400
        ), 400

    @app.errorhandler(OperationalError)
    def _database_down(error: OperationalError) -> Any:
        log.error("database error: %s", error.__class__.__name__)
        body = {
            "type": PROBLEM_BASE + "unavailable",
            "title": "Service unavailable",
            "status": 503,
            "detail": "The database is not answering; try again shortly.",
            "code": "unavailable",
        }
        if wants_machine_answer():
            return problem_response(body, {"Retry-After": "30"})
        return render_template(
            "error.html",
            title=_("Service unavailable"),
            detail=_("The database is not answering; try again shortly."),
            status=503,
        ), 503

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Any:
        log.exception("unhandled error on %s %s", request.method, request.path)
        if not wants_machine_answer():
            # Said in the page's language (the API's problem+json below stays English).
            message = _("An unexpected error happened; it has been logged.")
            return _http(InternalServerError(message))
        return _http(InternalServerError("An unexpected error happened; it has been logged."))
