"""Officials' planning pages: targets and baselines, budget lines, and the import template.

Thin: each route checks the role on the server (``node.permissions``), reads the form and calls
a service (``node.services.planning`` / ``monitoring``), which flushes; the request commits.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from node.auth import page_user
from node.errors import InvalidInputError
from node.permissions import allowed
from node.refusals import Problem, page_errors, page_message, period_problem
from node.runtime import db_session, now
from node.services import catalogue, monitoring, planning
from node.web.forms import LocalizedDecimalField
from schemas.fields import parse_decimal
from schemas.periods import PeriodError, parse_period

bp = Blueprint("planning_web", __name__)

PERIOD_HINT = _l("2025, 2025-H1, 2025-Q3 or 2025-07")


class TargetForm(FlaskForm):
    """Baseline and target of one indicator; one select per dimension is added by the view."""

    baseline_period = StringField(
        _l("Baseline period"), validators=[Optional(), Length(max=7)], description=PERIOD_HINT
    )
    baseline_value = LocalizedDecimalField(
        _l("Baseline value"), validators=[Optional(), Length(max=64)]
    )
    target_period = StringField(
        _l("Target period"), validators=[Optional(), Length(max=7)], description=PERIOD_HINT
    )
    target_value = LocalizedDecimalField(
        _l("Target value"), validators=[Optional(), Length(max=64)]
    )
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=10_000)])


class BooleanTargetForm(TargetForm):
    """For a yes/no indicator the values are words, not numbers."""

    baseline_value = SelectField(
        _l("Baseline value"), choices=[("", "–"), ("true", _l("yes")), ("false", _l("no"))]
    )
    target_value = SelectField(
        _l("Target value"), choices=[("", "–"), ("true", _l("yes")), ("false", _l("no"))]
    )


class BudgetForm(FlaskForm):
    indicator = SelectField(_l("Indicator"), validators=[DataRequired()])
    period = StringField(
        _l("Period"), validators=[DataRequired(), Length(4, 7)], description=PERIOD_HINT
    )
    programme = StringField(_l("Programme"), validators=[DataRequired(), Length(1, 300)])
    allocated = LocalizedDecimalField(_l("Allocated"), validators=[DataRequired(), Length(1, 64)])
    executed = LocalizedDecimalField(_l("Spent"), validators=[Optional(), Length(max=64)])
    currency = StringField(
        _l("Currency"),
        validators=[DataRequired(), Length(3, 3)],
        default="EUR",
        description=_l("Three letters, such as EUR"),
    )
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=10_000)])


def _require(permission: str) -> None:
    # Checked on the server for every route: a hidden link is not a permission.
    if not allowed(page_user(), permission):
        abort(403)


def _put_errors(form: FlaskForm, errors: dict[str, Any]) -> dict[str, Any]:
    """Tie each service message to its form field ("baseline.value" → ``baseline_value``);
    return the messages that belong to no field (shown at the top)."""
    rest = {}
    for name, messages in errors.items():
        field = form._fields.get(name.replace(".", "_"))
        texts = [str(m) for m in messages] if isinstance(messages, list) else [str(messages)]
        if field is not None:
            field.errors = texts
        else:
            rest[name] = texts
    return rest


def _dimension_form(base: type[FlaskForm], indicator: Any, dimensions: dict[str, Any]) -> Any:
    class IndicatorForm(base):
        pass

    for dim_code in indicator.dimension_codes:
        dim = dimensions[dim_code]
        choices = {"_T": _("Total"), **{c.code: c.label for c in dim.codes if c.code != "_T"}}
        setattr(
            IndicatorForm, f"dim_{dim_code}", SelectField(dim.label, choices=choices, default="_T")
        )
    return IndicatorForm()


@bp.route("/targets", methods=["GET", "POST"])
@login_required
def targets_page() -> Any:
    """Every baseline and target, and a form to set one for an indicator and breakdown."""
    _require("targets.write")
    session = db_session()
    indicators = catalogue.list_indicators(session)
    dimensions = {d.code: d for d in catalogue.list_dimensions(session)}
    code = request.values.get("indicator")
    indicator = catalogue.get_indicator(session, code) if code else None
    form = None
    other_errors: dict[str, Any] = {}
    status = 200
    if indicator is not None:
        base = BooleanTargetForm if indicator.value_type == "boolean" else TargetForm
        form = _dimension_form(base, indicator, dimensions)
        if form.validate_on_submit():
            data = {
                "indicator": indicator.code,
                "disaggregation": {
                    d: getattr(form, f"dim_{d}").data for d in indicator.dimension_codes
                },
                "baseline": {
                    "period": form.baseline_period.data or "",
                    "value": form.baseline_value.data or "",
                },
                "target": {
                    "period": form.target_period.data or "",
                    "value": form.target_value.data or "",
                },
                "note": form.note.data,
            }
            try:
                planning.set_target(session, data, user=page_user(), now=now())
            except InvalidInputError as exc:
                other_errors = _put_errors(form, page_errors(exc.errors or {}))
                status = 422
            else:
                flash(_("Baseline and target of %(indicator)s saved.", indicator=code), "success")
                return redirect(url_for("planning_web.targets_page", indicator=code))
        elif request.method == "POST":
            status = 400
    return render_template(
        "targets.html",
        indicators=indicators,
        indicator=indicator,
        form=form,
        other_errors=other_errors,
        targets=[monitoring.target_to_wire(t) for t in monitoring.list_targets(session)],
        dimensions=dimensions,
    ), status


@bp.route("/budget", methods=["GET", "POST"])
@login_required
def budget_page() -> Any:
    """Budget lines linked to indicators: the list, and a form to add one."""
    _require("results.read_unpublished")
    session = db_session()
    form = BudgetForm()
    form.indicator.choices = [
        (i.code, f"{i.code} – {i.name[:60]}") for i in catalogue.list_indicators(session)
    ]
    other_errors: dict[str, Any] = {}
    status = 200
    if request.method == "POST":
        _require("budget.write")
        valid = form.validate_on_submit()
        amounts = _amounts(form) if valid else None
        if amounts is not None:
            try:
                monitoring.add_budget_line(
                    session,
                    {
                        "indicator": form.indicator.data,
                        "period": _checked_period(form.period.data or ""),
                        "programme": form.programme.data,
                        "allocated": amounts["allocated"],
                        "executed": amounts["executed"],
                        "currency": (form.currency.data or "").upper(),
                        "note": form.note.data or None,
                    },
                    user=page_user(),
                    now=now(),
                )
            except InvalidInputError as exc:
                other_errors = _put_errors(form, page_errors(exc.errors or {}))
                status = 422
            else:
                flash(_("Budget line saved."), "success")
                return redirect(url_for("planning_web.budget_page"))
        else:  # 422: the amounts were refused beside their fields
            status = 422 if valid else 400
    return render_template(
        "budget.html",
        form=form,
        other_errors=other_errors,
        lines=[monitoring.budget_to_wire(b) for b in monitoring.list_budget_lines(session)],
    ), status


def _amounts(form: BudgetForm) -> dict[str, Decimal | None] | None:
    """The budget line's amounts as numbers, or None after putting the refusal beside the
    field whose text is not a number (in the reader's language, with the text quoted)."""
    amounts: dict[str, Decimal | None] = {}
    refused = False
    for field in (form.allocated, form.executed):
        text = field.data or ""
        if not text:
            amounts[field.name] = None
            continue
        try:
            amounts[field.name] = parse_decimal(text)
        except ValueError as exc:  # a number the field let through but Decimal refuses
            problem = Problem(str(exc), params={"value": text[:40]}, variant="not_a_number")
            field.errors = [page_message(problem)]
            refused = True
    return None if refused else amounts


def _checked_period(text: str) -> str:
    try:
        return str(parse_period(text.strip()))
    except PeriodError as exc:
        raise InvalidInputError(
            str(exc),
            errors={"period": [period_problem(exc)]},
            params=exc.params,
            variant=exc.variant,
        ) from exc


@bp.get("/catalogue/<code>/import-template.csv")
def import_template(code: str) -> Response:
    """The CSV template of one indicator (its columns, one example row per breakdown code)."""
    filename, text = planning.import_template_csv(db_session(), code, now=now())
    return Response(
        text,
        mimetype="text/csv",
        headers={
            # The code comes from the catalogue; cleaned anyway so no quote breaks the header.
            "Content-Disposition": f'attachment; filename="{planning.clean_filename(filename)}"',
            "X-Content-Type-Options": "nosniff",
        },
    )


@bp.get("/import/templates")
@login_required
def import_templates() -> Any:
    """The import template of every indicator, to download (linked from the import page)."""
    _require("results.write")
    return render_template(
        "import_templates.html", indicators=catalogue.list_indicators(db_session())
    )
