"""Community reports (issue 16): residents report incidents by a public web form or by SMS;
CSO partners and officials moderate them; verified reports feed count indicators.

Files, in the order a report flows:

- ``categories.py`` — what people can report (mapped to a right and indicators), SMS keywords;
- ``gateways.py`` — the SMS gateways' signatures and shared secrets, the message grammar, replies;
- ``services.py`` — submit (validation, duplicates, spam, rate limits), moderate, trusted
  reporters, evidence links; ``derived.py`` — the counts verified reports feed;
- ``api.py`` (webhooks, moderators' API), ``pages.py``, ``forms.py``, ``templates/community/``;
  ``models.py`` — the tables.

Paths fixed by ``design/contract.md``: ``GET, POST /report``, ``POST
/api/v1/community/sms/{gateway}``, ``GET /api/v1/community/reports`` and ``POST
.../{id}/moderate``. The package imports only the core (never another feature).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask
    from flask_smorest import Api

    from node.network.port import InboundRegistry

# Where a report's body arrives: bounded by ``community_max_body_bytes`` before anything parses it.
REPORT_PATHS = ("/report", "/api/v1/community/sms/")


def register_inbound(registry: InboundRegistry) -> None:
    """Community reports travel in no envelope: nothing to register."""


def _bound_report_bodies(app: Flask) -> None:
    """Refuse oversized report bodies (413) before any parser, the app's guards included, reads
    them: a report is a few hundred bytes, and the app-wide limit (1 MiB) is for imports."""
    from flask import request
    from werkzeug.exceptions import RequestEntityTooLarge

    from node.runtime import runtime

    def bound() -> Any:
        if request.method != "POST" or not (
            request.path == REPORT_PATHS[0] or request.path.startswith(REPORT_PATHS[1])
        ):
            return None
        limit = int(runtime().config.community_max_body_bytes)
        if (request.content_length or 0) > limit:
            raise RequestEntityTooLarge(f"A report may have at most {limit} bytes.")
        # Also a chunked body without Content-Length: werkzeug stops reading past this.
        request.max_content_length = limit
        request.max_form_memory_size = limit
        return None

    # First of the app's before-request functions: the input guard parses form bodies.
    app.before_request_funcs.setdefault(None, []).insert(0, bound)


def init_app(app: Flask, api: Api) -> None:
    """The webhooks and moderators' API in the app's ``api`` (OpenAPI documents them), the pages,
    and the report body bound. The API blueprint is exempt from CSRF like every API blueprint:
    it authenticates by bearer token or by the gateway's signature, never by a cookie."""
    from node import refusals
    from node.community import refusal_messages

    refusals.register(refusal_messages.MESSAGES)  # its refusals in the reader's language
    from node.community import api as community_api
    from node.community import pages

    api.register_blueprint(community_api.blp, url_prefix="/api/v1")
    app.register_blueprint(pages.bp)
    app.extensions["csrf"].exempt(app.blueprints["community"])
    _bound_report_bodies(app)
