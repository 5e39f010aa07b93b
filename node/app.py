"""The Flask application factory of a city (or secretariat) node."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from flask import Flask, Response, g, request
from flask.json.provider import DefaultJSONProvider
from flask_babel import Babel
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect
from werkzeug.exceptions import UnsupportedMediaType

from federation.keys import fingerprint_lines
from node.config import NodeConfig, load_config
from node.db import make_engine, make_sessionmaker
from node.i18n import install_template_helpers, select_locale
from node.routing import RowIdConverter
from node.runtime import NodeRuntime, db_session, utcnow

API_BLUEPRINTS = (
    "catalogue",
    "results",
    "cso_figures",
    "monitoring",
    "exchange",
    "network",
    "secretariat",
    "reviews",
    "notifications",
    "mentoring",
)
csrf = CSRFProtect()
login_manager = LoginManager()
babel = Babel()


def _read_secret(config: NodeConfig) -> str:
    path = config.secret_key_path
    if path.is_file():
        return path.read_text(encoding="ascii").strip()
    raise RuntimeError(f"{path} is missing; the node's data dir is incomplete.")


def _served_over_https(config: NodeConfig) -> bool:
    return str(config.base_url).lower().startswith("https://")


def create_app(
    data_dir: str | os.PathLike[str] | None = None, test_config: dict[str, Any] | None = None
) -> Flask:
    """Build the app for the node in ``data_dir`` (default ``$NODE_DATA_DIR``)."""
    data_dir = data_dir or os.environ.get("NODE_DATA_DIR")
    if data_dir is None:
        raise RuntimeError("create_app needs the node's data dir (or NODE_DATA_DIR).")
    overrides = dict(test_config or {})
    clock = overrides.pop("clock", None)
    config = load_config(Path(data_dir), overrides)

    app = Flask(__name__)
    app.url_map.converters["rowid"] = RowIdConverter
    app.json = GuardedJSONProvider(app)
    app.config.update(
        SECRET_KEY=_read_secret(config),
        MAX_CONTENT_LENGTH=config.max_body_bytes,
        MAX_FORM_MEMORY_SIZE=config.max_body_bytes,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        # Behind https the cookies must never travel over plain http (a network attacker would
        # read them); on an http node (the local demo on 127.0.0.1) Secure would lose them.
        SESSION_COOKIE_SECURE=_served_over_https(config),
        REMEMBER_COOKIE_SECURE=_served_over_https(config),
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        BABEL_DEFAULT_LOCALE=config.default_locale,
        BABEL_TRANSLATION_DIRECTORIES=str(Path(__file__).parent / "translations"),
        WTF_CSRF_TIME_LIMIT=None,
        JSON_SORT_KEYS=False,
        TESTING=bool(overrides.get("testing", False)) if "testing" in overrides else False,
    )
    from node import features

    # Built first: a second handler for an envelope type stops the start-up here.
    inbound = features.inbound_registry()
    engine = make_engine(config.database_url)
    app.extensions["hrcnet"] = NodeRuntime(
        config, engine, make_sessionmaker(engine), clock or utcnow, inbound=inbound
    )
    logging.getLogger("node").setLevel(logging.INFO)

    _install_unit_of_work(app)
    _install_request_guards(app)

    babel.init_app(app, locale_selector=select_locale)
    install_template_helpers(app)
    # Every page shows a key fingerprint the same way (the fingerprint macro of _macros.html).
    app.jinja_env.filters["fingerprint_lines"] = fingerprint_lines
    login_manager.init_app(app)
    login_manager.login_view = "web.login"
    # Made now, not at the first unknown e-mail: that first sign-in would otherwise cost a hash
    # generation more than the others and stand out.
    from node.services.users import dummy_password_hash

    dummy_password_hash()
    csrf.init_app(app)

    from node import errors_http
    from node.api import init_api
    from node.network import blueprint as federation_blueprint
    from node.web import (
        admin_views,
        cso_views,
        evidence_views,
        language,
        meta,
        network_views,
        notification_views,
        planning_views,
        views,
    )

    errors_http.register_error_handlers(app)
    from node import refusals
    from node.web import refusal_messages

    refusals.register(refusal_messages.MESSAGES)  # the city's monitoring's refusals, translated
    refusals.init_app(app)
    from node.ops import metrics

    metrics.init_app(app)  # GET /metrics, and the request counters (docs/operations.md)
    api = init_api(app)
    features.init_app(app, api)  # each feature's API (in the Api above) and pages
    app.register_blueprint(meta.bp)
    app.register_blueprint(federation_blueprint.bp)
    app.register_blueprint(views.bp)
    app.register_blueprint(language.bp)
    app.register_blueprint(network_views.bp)
    app.register_blueprint(notification_views.bp)
    app.register_blueprint(planning_views.bp)
    app.register_blueprint(evidence_views.bp)
    app.register_blueprint(admin_views.bp)
    app.register_blueprint(cso_views.bp)
    # The API and federation endpoints authenticate with bearer tokens or signed requests, never
    # with the login cookie, so a forged cross-site form cannot act through them: no CSRF token.
    # Listed explicitly: any new page blueprint stays protected by default.
    for name in (*API_BLUEPRINTS, "federation", "meta"):
        csrf.exempt(app.blueprints[name])
    return app


def _install_unit_of_work(app: Flask) -> None:
    @app.after_request
    def _commit(response: Response) -> Response:
        session = g.pop("db_session", None)
        if session is not None:
            try:
                if response.status_code < 400:
                    session.commit()
                else:
                    session.rollback()
            finally:
                session.close()
        return response

    # On the application context, not the request: it also ends after a request (an exception
    # skipped after_request), and the work done in a bare app context (the annual report's
    # print run, the CLI) gives its connection back too instead of holding it until collected.
    @app.teardown_appcontext
    def _close(_error: BaseException | None) -> None:
        session = g.pop("db_session", None)
        if session is not None:  # nothing committed it: nothing is kept
            session.rollback()
            session.close()

    @login_manager.user_loader
    def _load_user(user_id: str) -> Any:
        """The user of a login cookie, if the cookie is still valid.

        The cookie holds ``<id>.<session version>`` (``User.get_id``). A version other than the
        user's current one means the cookie was issued before a logout or a password change: it
        is refused, even though its signature is fine (a copied cookie must die with logout).
        """
        from node.models import User

        user_part, _, version_part = user_id.partition(".")
        if not (user_part.isdigit() and version_part.isdigit()):
            return None  # includes cookies from before session versions existed
        user = db_session().get(User, int(user_part))
        if user is None or not user.active or user.session_version != int(version_part):
            return None
        return user


class GuardedJSONProvider(DefaultJSONProvider):
    """Flask's JSON provider, but ``loads`` refuses hostile nesting and invalid text.

    ``request.get_json()`` (and anything else parsing JSON through ``flask.json``) goes through
    here, so a route written tomorrow is covered too: 100,000 nested ``[`` would otherwise
    overflow the parser's stack (a 500).
    """

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        from node.input_guard import parse_json_text

        if kwargs:
            return super().loads(s, **kwargs)
        return parse_json_text(s)


def _is_json_body() -> bool:
    return request.mimetype == "application/json" or request.mimetype.endswith("+json")


def _check_request_input(json_methods: set[str]) -> None:
    """Refuse hostile text and JSON nesting in the current request (see the guard below)."""
    from node.input_guard import check_text, check_text_fields, parse_json_text

    # The path too: "%00" in a path segment becomes a NUL in the view's arguments (a code
    # looked up in PostgreSQL would fail with a 500).
    check_text(request.path, "path")
    check_text_fields(request.args)
    if request.method not in json_methods:
        return
    if request.path.startswith("/federation/"):
        # Signed federation documents are parsed by federation.canonical.loads_strict (same
        # nesting bound, checked before parsing) and refused with the protocol's codes
        # (docs/protocol.md §3.2): nesting_too_deep, invalid_string.
        return
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        check_text_fields(request.form)
        for upload in request.files.values():
            check_text(upload.filename or "", "filename")
        return
    if _is_json_body() and (request.content_length or 0) > 0:
        try:
            parse_json_text(request.get_data(cache=True))
        except ValueError:
            return  # not JSON at all: the route's own parser answers 400 invalid_json


def _invalid_text_page(error: Exception) -> Any:
    """The readable refusal of a page form holding invalid text, showing what was typed.

    The values are shown back (escaped by the template, the invalid characters replaced by
    U+FFFD) so nothing typed is lost; passwords, CSRF tokens and files are not echoed.
    """
    from flask import render_template
    from flask_babel import gettext as _

    from node.input_guard import INVALID_TEXT

    submitted = [
        (INVALID_TEXT.sub("\ufffd", name), INVALID_TEXT.sub("\ufffd", value))
        for name, value in request.form.items(multi=True)
        if name != "csrf_token" and "password" not in name.lower()
    ]
    detail = _(
        "Part of what you sent contains a character that cannot be saved (a NUL character or "
        "a broken Unicode character), often pasted from another program. Nothing was saved. "
        "Go back, remove it and send the form again."
    )
    return (
        render_template(
            "error.html",
            title=_("Invalid characters"),
            detail=detail,
            status=422,
            field_errors=getattr(error, "errors", None),
            submitted=submitted,
        ),
        422,
    )


def _install_request_guards(app: Flask) -> None:
    json_methods = {"POST", "PUT", "PATCH"}

    @app.before_request
    def _refuse_hostile_input() -> Any:
        # Every request of every route, before any view or parser sees it: a NUL (refused by
        # PostgreSQL, stored by SQLite) or a lone surrogate (no UTF-8 form) in a query string
        # or a form field, or JSON nested deep enough to overflow the parser, is refused with
        # 422 (invalid_text / too_deep) instead of failing later as a 500, with nothing stored.
        from node.errors_http import wants_machine_answer
        from node.input_guard import InvalidTextError

        try:
            _check_request_input(json_methods)
        except InvalidTextError as exc:
            if wants_machine_answer():
                raise
            return _invalid_text_page(exc)
        return None

    @app.before_request
    def _json_only() -> None:
        # Every /api/v1 write takes JSON except the file import (multipart). Refusing other media
        # types up front (415) beats a confusing "missing field" later.
        if request.method not in json_methods or not request.path.startswith("/api/"):
            return
        if request.path.endswith("/results/import"):
            return
        if request.path.startswith("/api/v1/community/sms/"):
            return  # SMS gateways post forms (Twilio, Africa's Talking): node.community checks
        has_body = (request.content_length or 0) > 0 or "chunked" in request.headers.get(
            "Transfer-Encoding", ""
        ).lower()
        if has_body and not _is_json_body():
            raise UnsupportedMediaType("Send the request body as application/json.")
