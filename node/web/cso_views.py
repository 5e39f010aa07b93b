"""Civil-society parallel figures: the CSO partner's page, and the signed statements (public).

A CSO partner enters its own figure for an indicator and period (its method and source
stated) and publishes it; the node then signs it as the CSO's statement. Officials see it but
cannot change it: it is civil society's word, shown beside the city's figure, never merged.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import AnyOf, DataRequired, Length, Optional

from node.auth import page_user
from node.errors import DomainError, InvalidInputError, NotFoundError
from node.permissions import allowed
from node.refusals import page_errors, page_message
from node.runtime import db_session, now, runtime
from node.services import catalogue, cso_figures

bp = Blueprint("cso_web", __name__)


class CsoFigureForm(FlaskForm):
    indicator = SelectField(_l("Indicator"), validators=[DataRequired()])
    period = StringField(
        _l("Period"),
        validators=[DataRequired(), Length(4, 7)],
        description=_l("2025, 2025-H1, 2025-Q3 or 2025-07"),
    )
    disaggregation = StringField(
        _l("Breakdown"),
        validators=[Optional(), Length(max=500)],
        description=_l("Leave empty for the total, or e.g. SEX=F; AGE_GROUP=Y_LT18"),
    )
    value = StringField(
        _l("Value"),
        validators=[DataRequired(), Length(max=64)],
        description=_l("A number in the indicator's unit, or yes/no"),
    )
    organisation = StringField(
        _l("Organisation"), validators=[DataRequired(), Length(max=cso_figures.MAX_ORGANISATION)]
    )
    method = TextAreaField(
        _l("Method"),
        validators=[DataRequired(), Length(max=cso_figures.MAX_METHOD)],
        description=_l("How you measured it: who was asked or counted, when, how many"),
    )
    source = StringField(
        _l("Source"),
        validators=[DataRequired(), Length(max=cso_figures.MAX_SOURCE)],
        description=_l("Where the figure can be checked: a report, a survey, a data set"),
    )
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=cso_figures.MAX_NOTE)])
    share_with_twins = BooleanField(
        _l("Share this figure with the city's twins"),
        default=False,
        description=_l(
            "Only if your organisation agrees: when published, the signed statement is sent "
            "to the cities twinned with this one and shown beside their view of the city's "
            "figures. Decide before publishing; you can stop sharing later."
        ),
    )


class ActionForm(FlaskForm):
    """Only the CSRF token (the publish button)."""


class WithdrawForm(FlaskForm):
    """Withdraw a published figure, or its sharing with twins, saying why."""

    scope = HiddenField(validators=[DataRequired(), AnyOf(["figure", "sharing"])])
    reason = TextAreaField(
        _l("Reason (public)"), validators=[Optional(), Length(max=cso_figures.MAX_REASON)]
    )


def _require_writer() -> None:
    # Checked on the server for every route: a hidden link is not a permission.
    if not allowed(page_user(), "cso_figures.write"):
        abort(403)


def _breakdown(text: str) -> dict[str, str] | None:
    """``SEX=F; AGE_GROUP=Y_LT18`` → a breakdown; None when it is not of that shape."""
    parts = [p.strip() for p in text.replace("|", ";").replace(",", ";").split(";") if p.strip()]
    if not all(p.count("=") == 1 for p in parts):
        return None
    pairs = [tuple(x.strip() for x in p.split("=")) for p in parts]
    return {dim.upper(): code for dim, code in pairs}


@bp.route("/cso-figures", methods=["GET", "POST"])
@login_required
def figures_page() -> Any:
    """A CSO partner's own figures (drafts and published) and a form to add or correct one."""
    _require_writer()
    session = db_session()
    user = page_user()
    form = CsoFigureForm()
    form.indicator.choices = [
        (i.code, f"{i.code} – {i.name[:60]}") for i in catalogue.list_indicators(session)
    ]
    if request.method == "GET" and request.args.get("indicator"):
        form.indicator.data = request.args["indicator"]
    other_errors: dict[str, Any] = {}
    status = 200
    if form.validate_on_submit():
        breakdown = _breakdown(form.disaggregation.data or "")
        if breakdown is None:
            form.disaggregation.errors = [_("Write the breakdown as DIMENSION=CODE; …")]
            status = 422
        else:
            item = cso_figures.CsoFigureInput(
                indicator=form.indicator.data,
                period=form.period.data,
                value=form.value.data,
                organisation=form.organisation.data,
                method=form.method.data,
                source=form.source.data,
                note=form.note.data or None,
                disaggregation=breakdown,
                share_with_twins=bool(form.share_with_twins.data),
            )
            try:
                cso_figures.record(session, item, user=user, now=now())
            except InvalidInputError as exc:
                for name, messages in page_errors(exc.errors or {}).items():
                    field = form._fields.get(name)
                    if field is None and name.isupper():
                        field = form.disaggregation  # a dimension's problem
                    if field is not None:
                        field.errors = [str(m) for m in messages]
                    else:
                        other_errors[name] = messages
                status = 422
            except DomainError as exc:
                other_errors["_"] = [page_message(exc)]
                status = exc.status
            else:
                flash(_("Figure saved as a draft; publish it when it is ready."), "success")
                return redirect(url_for("cso_web.figures_page"))
    elif request.method == "POST":
        status = 400
    return render_template(
        "cso_figures.html",
        form=form,
        action=ActionForm(),
        withdraw=WithdrawForm(formdata=None),
        other_errors=other_errors,
        figures=cso_figures.list_figures(session, published_only=False, user=user, own_only=True),
        dimensions={d.code: d for d in catalogue.list_dimensions(session)},
    ), status


@bp.post("/cso-figures/<int:figure_id>/publish")
@login_required
def publish_figure(figure_id: int) -> Any:
    """Publish one's own figure: the node signs it as the organisation's statement."""
    _require_writer()
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        cso_figures.publish(db_session(), runtime().config, figure_id, user=page_user(), now=now())
    except DomainError as exc:
        flash(page_message(exc), "error")
        return redirect(url_for("cso_web.figures_page")), exc.status
    flash(_("Figure published and signed as your organisation's statement."), "success")
    return redirect(url_for("cso_web.figures_page"))


@bp.post("/cso-figures/<int:figure_id>/withdraw")
@login_required
def withdraw_figure(figure_id: int) -> Any:
    """Withdraw one's own published figure, or stop sharing it with twins (signed, announced)."""
    _require_writer()
    form = WithdrawForm()
    if not form.validate_on_submit():
        flash(_("The withdrawal was not understood; nothing changed."), "error")
        return redirect(url_for("cso_web.figures_page")), 400
    try:
        cso_figures.withdraw(
            db_session(),
            runtime().config,
            figure_id,
            scope=form.scope.data,
            reason=form.reason.data or None,
            user=page_user(),
            now=now(),
        )
    except DomainError as exc:
        flash(exc.detail, "error")
        return redirect(url_for("cso_web.figures_page")), exc.status
    if form.scope.data == "sharing":
        flash(
            _("The figure is no longer shared: its twins were told to stop showing it."), "success"
        )
    else:
        flash(_("The figure is withdrawn: a signed withdrawal says so."), "success")
    return redirect(url_for("cso_web.figures_page"))


@bp.get("/public/cso-statements/<sha256>")
def public_statement(sha256: str) -> Response:
    """A CSO figure's signed statement or withdrawal, verbatim (the exact bytes the node signed)."""
    raw = cso_figures.statement(db_session(), sha256)
    if raw is None:
        raise NotFoundError("No published civil-society statement has this hash.")
    response = Response(raw.encode("utf-8"), mimetype="application/json")
    response.headers["Cache-Control"] = "public, max-age=86400, immutable"  # hash-addressed
    return response
