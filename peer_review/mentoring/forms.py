"""WTForms of the mentoring pages (Flask-WTF adds the CSRF token to each top-level form).

Repeated parts (goals, goal outcomes, action items) are plain ``wtforms.Form`` subforms in a
``FieldList``: a fixed number of slots, so the pages work without JavaScript; an empty slot is
ignored. What a form collects is then loaded with the API's own schema, so pages and API accept
exactly the same input.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    DateField,
    DateTimeLocalField,
    FieldList,
    Form,
    FormField,
    HiddenField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from schemas.mentoring import ACTION_ITEM_STATUSES, GOAL_STATUSES

MAX_SLOTS = 20


class ProposeForm(FlaskForm):
    partner = SelectField(_l("Twinned city"), validators=[DataRequired()])
    our_side = SelectField(
        _l("This city is the"),
        choices=[SelectChoice("mentor", _l("mentor")), SelectChoice("mentee", _l("mentee"))],
    )
    title = StringField(_l("Title"), validators=[DataRequired(), Length(1, 200)])
    purpose = TextAreaField(_l("Purpose"), validators=[Optional(), Length(max=5000)])


class ActionForm(FlaskForm):
    """Only the CSRF token: transition, hold and cancel buttons."""


class SignForm(FlaskForm):
    sha256 = HiddenField(validators=[DataRequired(), Length(64, 64)])


class GoalForm(Form):
    goal_id = HiddenField()
    text = TextAreaField(
        _l("Goal (specific, measurable, achievable, relevant, time-bound)"),
        validators=[Optional(), Length(max=2000)],
    )
    indicators = StringField(
        _l("Linked indicators (codes, comma-separated)"), validators=[Optional(), Length(max=1500)]
    )
    recommendations = StringField(
        _l("Linked recommendations (ids, comma-separated)"),
        validators=[Optional(), Length(max=2100)],
    )
    measure_indicator = StringField(
        _l("Measured by indicator (code)"), validators=[Optional(), Length(max=64)]
    )
    summary_sha256 = SelectField(_l("Baseline from the signed summary"), validate_choice=False)
    target_value = StringField(
        _l("Agreed target value (empty: the summary's own target)"),
        validators=[Optional(), Length(max=64)],
    )
    target_period = StringField(_l("Target period"), validators=[Optional(), Length(max=7)])
    due_on = DateField(_l("Due on"), validators=[Optional()])


class AgreementForm(FlaskForm):
    terms = TextAreaField(_l("Terms"), validators=[Optional(), Length(max=5000)])
    starts_on = DateField(_l("Starts on"), validators=[DataRequired()])
    ends_on = DateField(_l("Ends on"), validators=[DataRequired()])
    goals = FieldList(FormField(GoalForm), min_entries=1, max_entries=MAX_SLOTS)


class GoalOutcomeForm(Form):
    goal_id = HiddenField()
    status = SelectField(_l("Outcome"), choices=[SelectChoice(s, _l(s)) for s in GOAL_STATUSES])
    note = StringField(_l("Note"), validators=[Optional(), Length(max=2000)])


class ClosureReportForm(FlaskForm):
    summary = TextAreaField(
        _l("What the mentoring achieved"), validators=[DataRequired(), Length(1, 10_000)]
    )
    lessons = TextAreaField(_l("Lessons learnt"), validators=[Optional(), Length(max=5000)])
    goals = FieldList(FormField(GoalOutcomeForm), max_entries=MAX_SLOTS)


class ActionItemForm(Form):
    text = StringField(_l("Action"), validators=[Optional(), Length(max=1000)])
    city = SelectField(_l("By"), validate_choice=False)
    due_on = DateField(_l("Due on"), validators=[Optional()])
    status = SelectField(
        _l("Status"), choices=[SelectChoice(s, _l(s)) for s in ACTION_ITEM_STATUSES]
    )


class ActionPlanForm(FlaskForm):
    items = FieldList(FormField(ActionItemForm), min_entries=1, max_entries=100)


class SessionForm(FlaskForm):
    title = StringField(_l("Session"), validators=[DataRequired(), Length(1, 200)])
    planned_for = DateTimeLocalField(
        _l("Planned for (UTC)"), format="%Y-%m-%dT%H:%M", validators=[DataRequired()]
    )
    agenda = TextAreaField(_l("Agenda"), validators=[Optional(), Length(max=5000)])


class SessionNotesForm(FlaskForm):
    notes = TextAreaField(_l("Shared notes"), validators=[DataRequired(), Length(1, 20_000)])


class NoteForm(FlaskForm):
    kind = SelectField(
        _l("Kind"),
        choices=[
            SelectChoice("progress", _l("progress note (shared)")),
            SelectChoice("midpoint", _l("mid-point review (shared)")),
            SelectChoice("private", _l("private note (this city only)")),
        ],
    )
    text = TextAreaField(_l("Note"), validators=[DataRequired(), Length(1, 20_000)])
    session_id = SelectField(_l("About the session"), validate_choice=False)
