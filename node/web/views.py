"""The pages: dashboard, catalogue, data entry, import, login. Thin: they call the services."""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import unquote, urlsplit

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import login_required, login_user, logout_user
from markupsafe import Markup
from wtforms import SelectField

from node import data_version, indicator_charts
from node.auth import page_user
from node.db import session_scope
from node.errors import DomainError, InvalidInputError
from node.input_guard import parse_json_text
from node.models import Result, User
from node.permissions import allowed
from node.refusals import page_errors, page_message
from node.runtime import db_session, now, runtime
from node.services import (
    catalogue,
    cso_figures,
    exchange,
    monitoring,
    overview,
    results,
    throttle,
    users,
)
from node.web import attention
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
    "breakdowns_only": "Breakdowns only (no total)",
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
                    messages = page_errors(exc.errors or {}).get("password", [page_message(exc)])
                    form.new_password.errors = list(messages)
                else:
                    # The old cookie (old version) is dead; this browser gets a fresh one.
                    login_user(checked)
                    flash(_("Your password is changed; your other sessions are signed out."))
                    return redirect(url_for("web.dashboard"))
    status = 200 if request.method == "GET" else 400
    return render_template("password.html", form=form), status


TYPE_ORDER = {"outcome": 0, "process": 1, "structural": 2}
GAP_ORDER = {"widening": 0, "mixed": 1, "unchanged": 2, "closing": 3}


def _display_status(row: dict[str, Any]) -> str:
    """The status the dashboard shows: the total's, or says that only breakdowns have figures."""
    if row["status"] == "no_data" and row["has_figures"]:
        return "breakdowns_only"
    return str(row["status"])


def _kept_row(row: dict[str, Any]) -> dict[str, Any]:
    """A dashboard row as kept per indicator: each breakdown reduced to its status.

    Memory (issue 14): the page and its attention sections read of a row's breakdowns only how
    many there are and their statuses, and at a million results the full breakdowns (8,311
    figures with their periods, values and targets) were ~10 MB kept in every worker. One
    shared ``{"status": ...}`` per status keeps the count and the statuses.
    """
    stubs: dict[str, dict[str, Any]] = {}
    return {
        **row,
        "breakdowns": [
            stubs.setdefault(b["status"], {"status": b["status"]})
            for b in row.get("breakdowns", [])
        ],
    }


def _dashboard_parts(
    session: Any, public: bool, codes: Sequence[str], every: bool
) -> dict[str, dict[str, Any]]:
    """Each indicator's part of the dashboard: its row (``None`` when the indicator is gone)
    and its equality gaps. ``every``: ``codes`` are the whole catalogue (plain queries)."""
    wanted = None if every else codes
    parts: dict[str, dict[str, Any]] = {code: {"row": None, "gaps": []} for code in codes}
    # An indicator added since the catalogue was listed (the whole catalogue is read with
    # ``every``) is not this page's: left out, not an error.
    for row in monitoring.progress(session, published_only=public, indicators=wanted):
        if row["indicator"] in parts:
            parts[row["indicator"]]["row"] = _kept_row(overview.dashboard_row(row))
    for gap in overview.equality_gaps(session, published_only=public, indicators=wanted):
        if gap.indicator in parts:
            parts[gap.indicator]["gaps"].append(gap)
    return parts


def _dashboard_data(session: Any, public: bool, type_filter: str | None) -> dict[str, Any]:
    """What the dashboard shows for an audience and a type filter (all of it from the data)."""
    # Each indicator's row and gaps are kept per (shared version, its own counter)
    # (node.data_version.cached_per_indicator): a figure entered for one indicator makes the
    # next dashboard compute that indicator's part alone (issue 14: the whole page was ~175 ms
    # at a million results). A kept part is read-only, so each row is copied before the page
    # adds to it; the rows of local indicators mapped to a core one are linked per request.
    indicators = catalogue.list_indicators(session)
    codes = [indicator.code for indicator in indicators]
    parts = data_version.cached_per_indicator(
        session,
        ("dashboard", public),
        codes,
        lambda missing: _dashboard_parts(session, public, missing, len(missing) == len(codes)),
    )
    all_rows = [dict(parts[code]["row"]) for code in codes if parts[code]["row"] is not None]
    overview.link_mapped(all_rows, indicators)
    rows = all_rows
    if type_filter is not None:
        rows = [r for r in rows if r["type"] == type_filter]
    # Outcomes first (how people actually enjoy their rights), then process, then structure.
    rows.sort(key=lambda r: (TYPE_ORDER.get(r["type"], 9), r["indicator"]))
    # An indicator has figures when its total or any breakdown has one, or when a local
    # indicator mapped to it (maps_to) does: those are shown, not listed "without figures".
    with_data = [r for r in rows if r["has_figures"] or r["via"]]
    without_data = [r for r in rows if not (r["has_figures"] or r["via"])]
    counts: dict[str, int] = {}
    for row in with_data:
        row["shown_status"] = _display_status(row["via"][0] if row["via"] else row)
        counts[row["shown_status"]] = counts.get(row["shown_status"], 0) + 1
    dimensions = {d.code: d for d in catalogue.list_dimensions(session)}
    # In the full answer's order: by indicator, then ground (overview.equality_gaps).
    gaps = [gap for code in sorted(codes) for gap in parts[code]["gaps"]]
    if type_filter is not None:
        shown_codes = {r["indicator"] for r in rows}
        gaps = [g for g in gaps if g.indicator in shown_codes]
    return {
        "all_rows": all_rows,
        "rows": with_data,
        "without_data": without_data,
        "counts": counts,
        "gaps": gaps,
        "dimensions": dimensions,
    }


def _dashboard_figures(data: dict[str, Any], public: bool, type_filter: str | None) -> Markup:
    """The dashboard's figures as HTML (``_dashboard_figures.html``)."""
    dimensions = data["dimensions"]
    return Markup(  # noqa: S704 - our own template's output, escaped by Jinja's autoescape
        render_template(
            "_dashboard_figures.html",
            rows=data["rows"],
            without_data=data["without_data"],
            counts=data["counts"],
            public=public,
            type_filter=type_filter,
            # Widening first: that is what needs attention; gaps that cannot be compared are
            # left to the indicator pages.
            gaps=sorted(
                (g for g in data["gaps"] if g.series.trend in GAP_ORDER),
                key=lambda g: (GAP_ORDER[g.series.trend], g.indicator, g.series.ground),
            ),
            gap_trends=indicator_charts.gap_trend_labels(),
            gap_text=indicator_charts.gap_text,
            ground_label=lambda ground: indicator_charts.ground_label(dimensions, ground),
            group_names=lambda ground, codes: ", ".join(
                indicator_charts.group_label(dimensions, ground, c) for c in codes
            ),
        )
    )


@bp.get("/")
def dashboard() -> Any:
    session = db_session()
    user = page_user()
    public = not allowed(user, "results.read_unpublished")
    requested_type = request.args.get("type")
    type_filter = requested_type if requested_type in TYPE_ORDER else None
    data: dict[str, Any] | None = None

    def figures() -> Markup:
        nonlocal data
        data = _dashboard_data(session, public, type_filter)
        return _dashboard_figures(data, public, type_filter)

    # The figures' HTML is kept per data version like the data it shows (rendering it was most
    # of the page's time, issue 14). It depends on nothing else than this key: the audience
    # (never the user: what differs per user is in the attention sections below), the type
    # filter, the language (words and number formats) and the path prefix of its links.
    html = data_version.cached(
        session,
        ("dashboard_html", public, type_filter, str(get_locale()), request.script_root),
        figures,
        answers=data_version.PAGES,
    )
    sections = []
    if user is not None and not public:
        if data is None:
            data = _dashboard_data(session, public, type_filter)
        dimensions = data["dimensions"]
        sections = attention.attention_sections(
            session,
            user,
            now=now(),
            rows=data["all_rows"],
            gaps=data["gaps"],
            ground_label=lambda ground: indicator_charts.ground_label(dimensions, ground),
            safe_link=_is_local_path,
        )
    return render_template("dashboard.html", figures=html, public=public, sections=sections)


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
    dimensions = {d.code: d for d in catalogue.list_dimensions(session)}
    # Charts count what progress counts: validated and published figures (published only for
    # the public), never drafts.
    counted = overview.figures_for_charts(session, code, published_only=public)
    changes = _recent_changes(session, figures) if not public else []
    return render_template(
        "indicator.html",
        changes=changes,
        indicator=indicator,
        figures=figures,
        progress=progress,
        periods=periods,
        table=list(table.values()),
        sources=sources,
        targets=[monitoring.target_to_wire(t) for t in monitoring.list_targets(session, code)],
        evidence=monitoring.list_evidence(session, indicator=code, published_only=public),
        # Civil society's own figures: published ones only, for everyone, in their own table.
        cso_figures=cso_figures.list_figures(session, indicator=code),
        budget=[monitoring.budget_to_wire(b) for b in monitoring.list_budget_lines(session, code)],
        dimensions=dimensions,
        public=public,
        trend_chart=indicator_charts.trend_block(indicator, counted, progress),
        breakdown_charts=indicator_charts.breakdown_blocks(indicator, counted, dimensions),
        gap_charts=indicator_charts.gap_blocks(indicator, counted, dimensions),
    )


RECENT_CHANGES = 50


def _recent_changes(session: Any, figures: list[Result]) -> list[dict[str, Any]]:
    """The latest history lines of an indicator's figures, newest first (for the page)."""
    by_id = {figure.id: figure for figure in figures}
    lines = [line for found in results.history(session, list(by_id)).values() for line in found]
    lines.sort(key=lambda line: (line.changed_at, line.id), reverse=True)
    return [{"figure": by_id[line.result_id], "line": line} for line in lines[:RECENT_CHANGES]]


@bp.get("/results/<rowid:result_id>/history")
@login_required
def result_history(result_id: int) -> Any:
    """One figure and every change to it (who, when, old → new, why, summaries affected)."""
    user = page_user()
    # The history shows unpublished values and who entered them: city staff only.
    if not allowed(user, "results.read_unpublished"):
        abort(403)
    session = db_session()
    figure = results.get_result(session, result_id, published_only=False)
    indicator = catalogue.get_indicator(session, figure.indicator_code)
    lines = results.history(session, [figure.id])[figure.id]
    return render_template(
        "result_history.html",
        figure=figure,
        indicator=indicator,
        lines=list(reversed(lines)),
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
    ask_confirmation = False
    if form.validate_on_submit():
        item = {
            "indicator": code,
            "period": (form.period.data or "").strip(),
            "value": (form.value.data or "").strip(),
            "status": form.status.data,
            "source": form.source.data or None,
            "note": form.note.data or None,
            "reason": form.reason.data or None,
            "confirm_outlier": bool(form.confirm_outlier.data),
            "disaggregation": {
                d: getattr(form, f"dim_{d}").data for d in indicator.dimension_codes
            },
        }
        try:
            rows, plan = results.record(session, [item], user=user, now=now())
        except InvalidInputError as exc:
            errors = page_errors(exc.errors or {}).get("0", {})
            status = 422
            # An outlier is a question, not a mistake: the checkbox appears to answer it.
            ask_confirmation = "outlier_unconfirmed" in exc.extra.get("error_codes", [])
            # Each message also beside its own field (aria-invalid, aria-describedby, focus:
            # _macros.html), not only in the summary at the top.
            for name, messages in errors.items():
                field = form._fields.get(name)
                if field is not None and isinstance(messages, list):
                    field.errors = [str(message) for message in messages]
        else:
            change = plan.changes[0]
            flash(
                _("Saved %(indicator)s for %(period)s.", indicator=code, period=item["period"]),
                "success",
            )
            if change.kind == "unchanged":
                flash(_("The figure was already stored with this value and status."), "success")
            for summary in change.affected_summaries:
                flash(
                    _(
                        "This figure was in the signed summary of %(period)s (revision "
                        "%(revision)s, fingerprint %(hash)s…), which keeps the old value; the "
                        "next publication of %(period)s will carry the corrected one.",
                        period=summary["period"],
                        revision=summary["revision"],
                        hash=summary["sha256"][:12],
                    ),
                    "success",
                )
            return redirect(url_for("web.enter", indicator=code, saved=rows[0].id))
    elif request.method == "POST":
        status = 400
    saved = None
    saved_id = request.args.get("saved", type=int)
    if saved_id is not None and request.method == "GET":
        saved = session.get(Result, saved_id)
    return render_template(
        "enter.html",
        indicators=indicators,
        indicator=indicator,
        form=form,
        errors=errors,
        ask_confirmation=ask_confirmation,
        saved=saved,
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
    ask_confirmation = False
    counts: dict[str, int] | None = None
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
                upload.stream,  # spooled to disk when large; streamed, not read whole
                layout=form.layout.data,
                profile=profile,
                indicator=(form.indicator.data or "").strip() or None,
                user=user,
                now=now(),
                reason=form.reason.data or None,
                confirm_outliers=bool(form.confirm_outliers.data),
            )
        except ValueError:
            message, status = _("The column mapping is not valid JSON."), 422
        except DomainError as exc:
            message, status = page_message(exc), exc.status
            codes = exc.extra.get("error_codes", [])
            # Values far from the previous period are questions: the checkbox answers them.
            ask_confirmation = "outlier_unconfirmed" in codes
            if "new" in exc.extra:
                counts = {k: exc.extra[k] for k in ("new", "changed", "unchanged")}
            if "reason_required" in codes:
                form.reason.errors = [
                    _("Some rows change validated or published figures: say why they change.")
                ]
            found = page_errors(exc.errors)
            if isinstance(found, list):
                row_errors = found
            elif isinstance(found, dict):
                row_errors = [
                    {
                        "row": None,
                        "column": k,
                        "message": "; ".join(map(str, v)) if isinstance(v, list) else json.dumps(v),
                    }
                    for k, v in found.items()
                ]
    elif request.method == "POST":
        status = 400
    # A refusal of the whole file (no row, no column) is what the alert already says: listed
    # again in the table of problems, the reader would see the same sentence twice.
    row_errors = [
        e
        for e in row_errors
        if e.get("row") is not None or e.get("column") or str(e["message"]) not in (message or "")
    ]
    return render_template(
        "import.html",
        form=form,
        report=report,
        row_errors=row_errors,
        message=message,
        ask_confirmation=ask_confirmation,
        counts=counts,
    ), status
