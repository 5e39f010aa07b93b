"""The pages: dashboard, catalogue, data entry, import, login. Thin: they call the services."""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlsplit

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required, login_user, logout_user
from wtforms import SelectField

from node import data_version
from node.auth import page_user
from node.db import session_scope
from node.errors import DomainError, InvalidInputError
from node.input_guard import parse_json_text
from node.models import User
from node.permissions import allowed
from node.runtime import db_session, now, runtime
from node.services import catalogue, exchange, monitoring, results, throttle, users
from node.web.forms import ChangePasswordForm, EntryForm, ImportForm, LoginForm
from schemas.periods import parse_period

bp = Blueprint("web", __name__)

STATUS_LABELS = {
    "achieved": "Target achieved",
    "on_track": "On track",
    "off_track": "Off track",
    "improving": "Improving",
    "worsening": "Worsening",
    "no_change": "No change",
    "no_data": "No data",
    "no_target": "No baseline or target",
    "not_assessed": "Not assessed",
}


@bp.app_context_processor
def _globals() -> dict[str, Any]:
    config = runtime().config
    return {
        "node_name": config.name,
        "node_city_id": config.city_id,
        "node_role": config.role,
        # A node of generated figures (the demo's cities) says so on every page.
        "sample_data": bool(config.values.get("sample_data")),
        "user": page_user(),
        "status_labels": STATUS_LABELS,
        "can": _can,
    }


def _can(permission: str) -> bool:
    return allowed(page_user(), permission)


# Characters a browser drops or rewrites inside a URL (tab, CR, LF; "\\" read as "/"), which
# turn "/\t/evil.example" into "//evil.example", an address on another site.
_URL_REWRITTEN = re.compile(r"[\\\x00-\x20\x7f]")


def _has_hidden_or_rewritten(text: str) -> bool:
    # Also invisible and separator characters (U+2028, U+200B, NBSP…): no real path needs them
    # and they make a link read differently from where it goes.
    return bool(_URL_REWRITTEN.search(text)) or any(
        unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp", "Zs") for char in text
    )


def _is_local_path(target: str) -> bool:
    """True when ``target`` can only mean a path on this site, however a browser reads it."""
    # Percent-encoding hides the same tricks ("/%09/evil", "/%2F%2Fevil"); decode until stable
    # (a few rounds: double encoding) and judge every form.
    forms = [target]
    for _round in range(3):
        decoded = unquote(forms[-1])
        if decoded == forms[-1]:
            break
        forms.append(decoded)
    else:
        return False  # still changing after three rounds: nobody needs that
    for form in forms:
        if _has_hidden_or_rewritten(form) or not form.startswith("/") or form.startswith("//"):
            return False
        parts = urlsplit(form)
        if parts.scheme or parts.netloc:
            return False
    return True


def _safe_next(target: str | None) -> str:
    """Where to go after signing in: ``target`` only if it is a path on this site.

    Anything else (another site, a scheme, a control character, a backslash, an encoded form
    of those) goes to the dashboard: an attacker's link must not send a freshly signed-in user
    to a look-alike site, and a raw newline must never reach the Location header (HTTP 500).
    """
    if target and len(target) <= 2000 and _is_local_path(target):
        return target
    return url_for("web.dashboard")


def _throttle_keys(email: str) -> list[throttle.ThrottleKey]:
    config = runtime().config
    address = throttle.client_address(
        request.remote_addr, request.headers.get("X-Forwarded-For"), config.trusted_proxy_hops
    )
    return [throttle.account_key(email), throttle.address_key(address)]


def _locked_page(seconds: int) -> Any:
    """HTTP 429 with a page saying when to try again (and ``Retry-After`` for programs)."""
    minutes = max(1, math.ceil(seconds / 60))
    body = render_template("login_locked.html", minutes=minutes)
    return body, 429, {"Retry-After": str(seconds)}


def _check_password_throttled(
    email: str, check: Callable[[], User | None]
) -> tuple[User | None, int | None]:
    """Run the password ``check`` unless the account or address is locked.

    Returns (user, None) on success, (None, None) on a wrong password, and (None, seconds)
    when locked (no password checked: a correct one is refused too, that is what a lock is).
    Failures are written in their own unit of work: the page answers 400/429, which rolls the
    request's own unit of work back, and a failure that is not kept would not count.
    """
    keys = _throttle_keys(email)
    node = runtime()
    rule = throttle.ThrottleRule.from_config(node.config)
    with session_scope(node.sessions) as session:
        wait = throttle.retry_after(session, keys, now=now())
    if wait is not None:
        return None, wait
    user = check()
    if user is not None:
        # The account's counter is cleared; the address's is not (see node.services.throttle).
        throttle.clear(db_session(), keys[0])
        return user, None
    with session_scope(node.sessions) as session:
        for key in keys:
            throttle.record_failure(session, key, rule, now=now())
        throttle.prune(session, now=now())
        wait = throttle.retry_after(session, keys, now=now())
    return None, wait


def _city_words() -> list[str]:
    config = runtime().config
    return [config.city_id, config.name]


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    form = LoginForm()
    if form.validate_on_submit():
        email = form.email.data or ""
        password = form.password.data or ""
        user, wait = _check_password_throttled(
            email, lambda: users.authenticate(db_session(), email, password)
        )
        if wait is not None:
            return _locked_page(wait)
        if user is not None:
            login_user(user)
            return redirect(_safe_next(request.args.get("next")))
        flash(_("Wrong e-mail or password."), "error")
    return render_template("login.html", form=form), 200 if request.method == "GET" else 400


@bp.post("/logout")
@login_required
def logout() -> Any:
    user = page_user()
    if user is not None:
        # Every cookie of this user stops working, including copies taken before this moment.
        users.end_sessions(db_session(), user)
    logout_user()
    return redirect(url_for("web.dashboard"))


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password() -> Any:
    """A signed-in user changes their password; their other sessions end."""
    form = ChangePasswordForm()
    user = page_user()
    assert user is not None  # login_required
    if form.validate_on_submit():
        current = form.current_password.data or ""
        if form.new_password.data != form.repeat_password.data:
            form.repeat_password.errors = [_("The two new passwords differ.")]
        else:
            checked, wait = _check_password_throttled(
                user.email,
                lambda: users.authenticate(db_session(), user.email, current),
            )
            if wait is not None:
                return _locked_page(wait)
            if checked is None:
                form.current_password.errors = [_("This is not your current password.")]
            else:
                try:
                    users.change_password(
                        db_session(),
                        checked,
                        form.new_password.data or "",
                        city_words=_city_words(),
                    )
                except InvalidInputError as exc:
                    messages = (exc.errors or {}).get("password", [exc.detail])
                    form.new_password.errors = list(messages)
                else:
                    # The old cookie (old version) is dead; this browser gets a fresh one.
                    login_user(checked)
                    flash(_("Your password is changed; your other sessions are signed out."))
                    return redirect(url_for("web.dashboard"))
    status = 200 if request.method == "GET" else 400
    return render_template("password.html", form=form), status


TYPE_ORDER = {"outcome": 0, "process": 1, "structural": 2}


@bp.get("/")
def dashboard() -> Any:
    session = db_session()
    public = not allowed(page_user(), "results.read_unpublished")
    # Kept per data version (node.data_version); a copy of the list, its entries read-only.
    rows = list(
        data_version.cached(
            session,
            ("progress", public),
            lambda: monitoring.progress(session, published_only=public),
        )
    )
    type_filter = request.args.get("type")
    if type_filter in TYPE_ORDER:
        rows = [r for r in rows if r["type"] == type_filter]
    # Outcomes first (how people actually enjoy their rights), then process, then structure.
    rows.sort(key=lambda r: (TYPE_ORDER.get(r["type"], 9), r["indicator"]))
    with_data = [r for r in rows if r["status"] != "no_data"]
    without_data = [r for r in rows if r["status"] == "no_data"]
    counts: dict[str, int] = {}
    for row in with_data:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    return render_template(
        "dashboard.html",
        rows=with_data,
        without_data=without_data,
        counts=counts,
        public=public,
        type_filter=type_filter,
    )


@bp.get("/catalogue")
def catalogue_page() -> Any:
    session = db_session()
    indicators = catalogue.list_indicators(session)
    return render_template(
        "catalogue.html",
        indicators=indicators,
        dimensions={d.code: d for d in catalogue.list_dimensions(session)},
    )


@bp.get("/catalogue/<code>")
def indicator_page(code: str) -> Any:
    session = db_session()
    indicator = catalogue.get_indicator(session, code)
    public = not allowed(page_user(), "results.read_unpublished")
    figures, _total = results.list_results(
        session, indicator=code, published_only=public, limit=2000
    )
    progress = monitoring.progress(session, published_only=public, indicator=code)[0]
    # Breakdown × period: the layout officials read statistical tables in.
    periods = sorted({f.period for f in figures}, key=lambda p: parse_period(p).sort_key)
    table: dict[str, dict[str, Any]] = {}
    for figure in sorted(figures, key=lambda f: (f.disaggregation_key != "", f.disaggregation_key)):
        line = table.setdefault(
            figure.disaggregation_key, {"breakdown": figure.disaggregation, "cells": {}}
        )
        line["cells"][figure.period] = figure
    sources = sorted({f.source for f in figures if f.source})
    return render_template(
        "indicator.html",
        indicator=indicator,
        figures=figures,
        progress=progress,
        periods=periods,
        table=list(table.values()),
        sources=sources,
        targets=[monitoring.target_to_wire(t) for t in monitoring.list_targets(session, code)],
        evidence=monitoring.list_evidence(session, indicator=code, published_only=public),
        budget=[monitoring.budget_to_wire(b) for b in monitoring.list_budget_lines(session, code)],
        dimensions={d.code: d for d in catalogue.list_dimensions(session)},
    )


def _entry_form(indicator: Any, dimensions: dict[str, Any]) -> EntryForm:
    class IndicatorEntryForm(EntryForm):
        pass

    for dim_code in indicator.dimension_codes:
        dim = dimensions[dim_code]
        choices = {"_T": _("Total"), **{c.code: c.label for c in dim.codes if c.code != "_T"}}
        setattr(
            IndicatorEntryForm,
            f"dim_{dim_code}",
            SelectField(dim.label, choices=choices, default="_T"),
        )
    return IndicatorEntryForm()


@bp.route("/enter", methods=["GET", "POST"])
@login_required
def enter() -> Any:
    user = page_user()
    if not allowed(user, "results.write"):
        abort(403)
    session = db_session()
    indicators = catalogue.list_indicators(session)
    code = request.values.get("indicator")
    if not code:
        return render_template("enter.html", indicators=indicators, indicator=None, form=None)
    indicator = catalogue.get_indicator(session, code)
    dimensions = {d.code: d for d in catalogue.list_dimensions(session)}
    form = _entry_form(indicator, dimensions)
    if not allowed(user, "results.validate"):
        form.status.choices = {"draft": _("Draft")}
    errors: dict[str, Any] = {}
    status = 200
    if form.validate_on_submit():
        item = {
            "indicator": code,
            "period": (form.period.data or "").strip(),
            "value": (form.value.data or "").strip(),
            "status": form.status.data,
            "source": form.source.data or None,
            "note": form.note.data or None,
            "disaggregation": {
                d: getattr(form, f"dim_{d}").data for d in indicator.dimension_codes
            },
        }
        try:
            results.record_results(session, [item], user=user, now=now())
        except InvalidInputError as exc:
            errors = (exc.errors or {}).get("0", {})
            status = 422
            # Each message also beside its own field (aria-invalid, aria-describedby, focus:
            # _macros.html), not only in the summary at the top.
            for name, messages in errors.items():
                field = form._fields.get(name)
                if field is not None and isinstance(messages, list):
                    field.errors = [str(message) for message in messages]
        else:
            flash(
                _("Saved %(indicator)s for %(period)s.", indicator=code, period=item["period"]),
                "success",
            )
            return redirect(url_for("web.enter", indicator=code))
    elif request.method == "POST":
        status = 400
    return render_template(
        "enter.html", indicators=indicators, indicator=indicator, form=form, errors=errors
    ), status


@bp.route("/import", methods=["GET", "POST"])
@login_required
def import_page() -> Any:
    user = page_user()
    if not allowed(user, "results.write"):
        abort(403)
    form = ImportForm()
    report = None
    row_errors: list[dict[str, Any]] = []
    message = None
    status = 200
    if form.validate_on_submit():
        upload = form.file.data
        profile = None
        try:
            if form.profile.data and form.profile.data.strip():
                # Guarded: 100,000 nested "[" would overflow json.loads (a 500); NUL or
                # lone surrogates cannot be stored. Both come back as a message on the page.
                profile = parse_json_text(form.profile.data, what="profile")
            report = exchange.import_file(
                db_session(),
                upload.filename or "upload",
                upload.read(),
                layout=form.layout.data,
                profile=profile,
                indicator=(form.indicator.data or "").strip() or None,
                user=user,
                now=now(),
            )
        except ValueError:
            message, status = _("The column mapping is not valid JSON."), 422
        except DomainError as exc:
            message, status = exc.detail, exc.status
            if isinstance(exc.errors, list):
                row_errors = exc.errors
            elif isinstance(exc.errors, dict):
                row_errors = [
                    {
                        "row": None,
                        "column": k,
                        "message": "; ".join(map(str, v)) if isinstance(v, list) else json.dumps(v),
                    }
                    for k, v in exc.errors.items()
                ]
    elif request.method == "POST":
        status = 400
    return render_template(
        "import.html", form=form, report=report, row_errors=row_errors, message=message
    ), status
