"""Civil-society partners' pages: qualitative evidence with attachments; officials publish it.

Attachments are checked by content, stored under a generated name in the data directory
(``node.services.planning``) and always served as downloads that the browser may not sniff.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import URL, DataRequired, Length, Optional

from node.auth import page_user
from node.errors import DomainError, InvalidInputError
from node.permissions import allowed
from node.refusals import page_errors, page_message
from node.runtime import db_session, now, runtime
from node.services import catalogue, monitoring, planning
from node.web.words import EVIDENCE_KIND_LABELS

bp = Blueprint("evidence_web", __name__)


class EvidenceForm(FlaskForm):
    indicator = SelectField(_l("Indicator"), validators=[DataRequired()])
    period = StringField(
        _l("Period"),
        validators=[DataRequired(), Length(4, 7)],
        description=_l("2025, 2025-H1, 2025-Q3 or 2025-07"),
    )
    kind = SelectField(
        _l("Kind of evidence"),
        choices=[SelectChoice(k, _l(label)) for k, label in EVIDENCE_KIND_LABELS.items()],
    )
    title = StringField(_l("Title"), validators=[DataRequired(), Length(1, 300)])
    body = TextAreaField(_l("What you found"), validators=[DataRequired(), Length(1, 100_000)])
    organisation = StringField(_l("Organisation"), validators=[Optional(), Length(max=300)])
    url = StringField(
        _l("Link to the full report"),
        validators=[Optional(), Length(max=1000), URL(require_tld=False)],
    )
    attachments = FileField(
        _l("Attachments"),
        render_kw={"multiple": True},
    )


class ActionForm(FlaskForm):
    """Only the CSRF token (the publish button)."""


def _require(permission: str) -> None:
    # Checked on the server for every route: a hidden link is not a permission.
    if not allowed(page_user(), permission):
        abort(403)


def _size_text(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB" if size >= 1_000_000 else f"{size // 1000} kB"


@bp.route("/evidence", methods=["GET", "POST"])
@login_required
def evidence_page() -> Any:
    """The evidence of every indicator (submitted and published), and a form to add some."""
    _require("evidence.write")
    session = db_session()
    config = runtime().config
    form = EvidenceForm()
    form.indicator.choices = [
        (i.code, f"{i.code} – {i.name[:60]}") for i in catalogue.list_indicators(session)
    ]
    if request.method == "GET" and request.args.get("indicator"):
        form.indicator.data = request.args["indicator"]
    form.attachments.description = _(
        "PDF, PNG, JPEG or plain text; up to %(n)d files of %(size)s each",
        n=planning.MAX_ATTACHMENTS,
        size=_size_text(int(config.max_attachment_bytes)),
    )
    other_errors: dict[str, Any] = {}
    status = 200
    if form.validate_on_submit():
        uploads = []
        for upload in request.files.getlist(form.attachments.name):
            # Closed at once: a large upload is spooled to a temporary file by the parser.
            try:
                uploads.append(planning.Upload(upload.filename or "", upload.read()))
            finally:
                upload.close()
        data = {
            "indicator": form.indicator.data,
            "period": form.period.data or "",
            "kind": form.kind.data,
            "title": form.title.data,
            "body": form.body.data,
            "organisation": form.organisation.data or None,
            "url": form.url.data or None,
        }
        try:
            planning.add_evidence(session, config, data, uploads, user=page_user(), now=now())
        except InvalidInputError as exc:
            for name, messages in page_errors(exc.errors or {}).items():
                field = form._fields.get(name)
                if field is not None:
                    field.errors = [str(m) for m in messages]
                else:
                    other_errors[name] = messages
            status = 422
        else:
            flash(_("Evidence saved; an official publishes it after review."), "success")
            return redirect(url_for("evidence_web.evidence_page"))
    elif request.method == "POST":
        status = 400
    rows = monitoring.list_evidence(session, published_only=False)
    return render_template(
        "evidence.html",
        form=form,
        action=ActionForm(),
        other_errors=other_errors,
        evidence=rows,
        attachments=planning.attachments_of(session, [r.id for r in rows]),
    ), status


@bp.post("/evidence/<rowid:evidence_id>/publish")
@login_required
def publish_evidence(evidence_id: int) -> Any:
    """An official publishes evidence: it then shows on the indicator's public page."""
    _require("evidence.publish")
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        monitoring.publish_evidence(db_session(), evidence_id, user=page_user())
    except DomainError as exc:
        flash(page_message(exc), "error")
        return redirect(url_for("evidence_web.evidence_page")), exc.status
    flash(_("Evidence published."), "success")
    return redirect(url_for("evidence_web.evidence_page"))


@bp.get("/evidence/attachments/<rowid:attachment_id>")
def download_attachment(attachment_id: int) -> Any:
    """An attachment, always as a download: ``Content-Disposition: attachment`` and ``nosniff``
    so a browser never runs an uploaded file as a page of this site."""
    row, path = planning.attachment_for_download(
        db_session(), runtime().config, attachment_id, user=page_user()
    )
    # Read whole (files are bounded by max_attachment_bytes): no file handle left open.
    response = Response(path.read_bytes(), mimetype=row.media_type)
    response.headers.set("Content-Disposition", "attachment", filename=row.filename)
    response.headers["X-Content-Type-Options"] = "nosniff"
    # Even if a browser ignored the above, the file could run no script and load nothing.
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
