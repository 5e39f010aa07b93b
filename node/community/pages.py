"""Pages: the public report form (``GET, POST /report``) and the moderators' pages.

The form works on a basic phone browser without JavaScript: one column, native controls, the
reference number on the acknowledgement page. A report's text is only ever shown autoescaped.
"""

from __future__ import annotations

import math
from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import login_required
from werkzeug.wrappers import Response
from wtforms.fields.choices import SelectChoice

from node.auth import page_user
from node.community import services
from node.community.categories import Category
from node.community.forms import EvidenceForm, ModerateForm, ReportForm, TrustedForm
from node.db import session_scope
from node.errors import DomainError, InvalidInputError
from node.permissions import allowed
from node.refusals import page_errors, page_message
from node.runtime import db_session, now, runtime
from node.services import throttle

bp = Blueprint("community_web", __name__, template_folder="templates")

# The service's field names → the form's (coordinates are two fields on the page).
_FIELD_OF = {"coordinates": "latitude"}


def _category_choices(categories: tuple[Category, ...]) -> list[SelectChoice]:
    return [SelectChoice(c.code, _(c.label)) for c in categories]


def _district_choices() -> list[SelectChoice]:
    return [
        SelectChoice(code, _("Whole city / I do not know") if code == "_T" else f"{label} ({code})")
        for code, label in services.district_codes(db_session())
    ]


def _client_source() -> str:
    config = runtime().config
    address = throttle.client_address(
        request.remote_addr, request.headers.get("X-Forwarded-For"), config.trusted_proxy_hops
    )
    # Hashed like a phone number: the table never holds a reporter's address in clear.
    network = throttle.address_key(address).key  # an IPv6 client counts as its /64
    return services.source_hash(
        services.hash_key(str(current_app.config["SECRET_KEY"])), "address", network
    )


def _limited_page(seconds: int) -> Any:
    minutes = max(1, math.ceil(seconds / 60))
    body = render_template("community/limited.html", minutes=minutes)
    return body, 429, {"Retry-After": str(seconds)}


@bp.route("/report", methods=["GET", "POST"])
def report_form() -> Any:
    """The public form: no account; anonymous unless the reporter leaves a contact."""
    config = runtime().config
    categories = services.categories(config)
    form = ReportForm()
    form.category.choices = _category_choices(categories)
    form.district.choices = _district_choices()
    if request.method == "POST":
        source = _client_source()
        try:
            # Its own unit of work: a refused attempt is counted too (the page answers 4xx,
            # which rolls the request's own unit of work back).
            with session_scope(runtime().sessions) as counting:
                services.count_attempt(counting, "web:" + source, config, now=now())
        except services.RateLimitedError as exc:
            return _limited_page(exc.retry_after)
        if form.validate_on_submit():
            submission = services.Submission(
                category=form.category.data or "",
                district=form.district.data or "",
                occurred_on=form.occurred_on.data or "",
                description=form.description.data or "",
                latitude=form.latitude.data or "",
                longitude=form.longitude.data or "",
                contact=form.contact.data or "",
                language=str(get_locale() or "en"),
            )
            try:
                report, _created = services.submit(
                    db_session(), submission, config, channel="web", source=source, now=now()
                )
            except InvalidInputError as exc:
                for field, messages in page_errors(exc.errors or {}).items():
                    target = getattr(form, _FIELD_OF.get(field, field), None)
                    if target is not None:
                        target.errors = [str(m) for m in messages]
            else:
                return render_template("community/thanks.html", reference=report.reference)
        return render_template("community/report.html", form=form), 422
    return render_template("community/report.html", form=form)


def _moderator() -> None:
    if not allowed(page_user(), "community.moderate"):
        abort(403)


@bp.get("/community/reports")
@login_required
def reports_page() -> Any:
    """The moderators' queue: reports by state, newest first."""
    _moderator()
    state = request.args.get("state") or None
    if state not in (None, "received", "verified", "duplicate", "rejected"):
        state = None
    session = db_session()
    rows = services.list_reports(session, user=page_user(), state=state, limit=200)
    trusted = services.trusted_sources(session, {r.source_hash for r in rows})
    return render_template(
        "community/reports.html",
        rows=rows,
        trusted=trusted,
        state=state,
        counts=services.count_by_state(session),
    )


@bp.get("/community/reports/<rowid:report_id>")
@login_required
def report_page(report_id: int) -> Any:
    """One report: its text, contact and place (moderators only), history and decisions."""
    _moderator()
    session = db_session()
    report = services.get_report(session, report_id)
    return render_template(
        "community/report_detail.html",
        report=report,
        trusted=bool(services.trusted_sources(session, {report.source_hash})),
        moderate_form=ModerateForm(),
        trusted_form=TrustedForm(),
        evidence_form=EvidenceForm(),
    )


def _back(report_id: int) -> Response:
    return redirect(url_for("community_web.report_page", report_id=report_id))


@bp.post("/community/reports/<rowid:report_id>/moderate")
@login_required
def moderate_action(report_id: int) -> Any:
    _moderator()
    form = ModerateForm()
    if not form.validate_on_submit():
        abort(400)
    duplicate_of = (form.duplicate_of.data or "").strip()
    try:
        services.moderate(
            db_session(),
            report_id,
            state=form.state.data or "",
            reason=form.reason.data,
            duplicate_of=int(duplicate_of) if duplicate_of.isdigit() else None,
            user=page_user(),
            config=runtime().config,
            now=now(),
        )
    except DomainError as exc:
        flash(_("Not saved: %(reason)s", reason=page_message(exc)), "error")
        db_session().rollback()
        return _back(report_id)
    flash(_("Decision saved."), "success")
    return _back(report_id)


@bp.post("/community/reports/<rowid:report_id>/trusted")
@login_required
def trusted_action(report_id: int) -> Any:
    _moderator()
    form = TrustedForm()
    if not form.validate_on_submit():
        abort(400)
    services.set_trusted(
        db_session(),
        report_id,
        trusted=form.trusted.data == "1",
        note=form.note.data,
        user=page_user(),
        now=now(),
    )
    flash(_("Reporter mark saved."), "success")
    return _back(report_id)


@bp.post("/community/reports/<rowid:report_id>/evidence")
@login_required
def evidence_action(report_id: int) -> Any:
    _moderator()
    if not EvidenceForm().validate_on_submit():
        abort(400)
    try:
        services.attach_as_evidence(
            db_session(), report_id, user=page_user(), config=runtime().config, now=now()
        )
    except DomainError as exc:
        flash(_("Not saved: %(reason)s", reason=page_message(exc)), "error")
        db_session().rollback()
        return _back(report_id)
    flash(_("Linked as evidence."), "success")
    return _back(report_id)
