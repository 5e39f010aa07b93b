"""The public report form and the moderators' forms (Flask-WTF: each carries a CSRF token).

The rules (dates, lengths, coordinates, links) live in :mod:`node.community.services`, the one
place both the form and the SMS webhooks go through; the fields here only bound what a browser
may send and say what each field is.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import RadioField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional


class ReportForm(FlaskForm):
    """The public community-report form (no account, works without JavaScript)."""

    category = RadioField(_l("What happened?"), validators=[DataRequired()], choices=[])
    district = SelectField(_l("District"), validators=[DataRequired()], choices=[])
    occurred_on = StringField(
        _l("Date of the incident"),
        validators=[DataRequired(), Length(max=10)],
        description=_l("YYYY-MM-DD, today or within the last 12 months"),
        render_kw={"type": "date", "inputmode": "numeric"},
    )
    description = TextAreaField(
        _l("Describe what happened"),
        validators=[DataRequired(), Length(max=2000)],
        description=_l("10 to 2,000 characters. Do not write names of other people."),
        render_kw={"rows": 6, "maxlength": 2000},
    )
    latitude = StringField(
        _l("Latitude (optional)"),
        validators=[Optional(), Length(max=12)],
        description=_l("Decimal degrees, e.g. 51.0543. Never published: only the district is."),
        render_kw={"inputmode": "decimal"},
    )
    longitude = StringField(
        _l("Longitude (optional)"),
        validators=[Optional(), Length(max=12)],
        description=_l("Decimal degrees, e.g. 3.7174."),
        render_kw={"inputmode": "decimal"},
    )
    contact = StringField(
        _l("Phone or e-mail (optional)"),
        validators=[Optional(), Length(max=200)],
        description=_l(
            "Only moderators see it, to ask you questions. Leave it empty to report anonymously."
        ),
        render_kw={"autocomplete": "off"},
    )


class ModerateForm(FlaskForm):
    state = SelectField(
        _l("Decision"),
        choices=[
            SelectChoice("verified", _l("Verified")),
            SelectChoice("duplicate", _l("Duplicate")),
            SelectChoice("rejected", _l("Rejected")),
        ],
    )
    reason = TextAreaField(
        _l("Reason"),
        validators=[Optional(), Length(max=1000)],
        description=_l("Required to reject, to mark a duplicate or to change a decision."),
    )
    duplicate_of = StringField(
        _l("Duplicate of (report number)"), validators=[Optional(), Length(max=10)]
    )


class TrustedForm(FlaskForm):
    trusted = SelectField(
        _l("Reporter"),
        choices=[SelectChoice("1", _l("Trusted reporter")), SelectChoice("0", _l("Not trusted"))],
    )
    note = StringField(_l("Note"), validators=[Optional(), Length(max=300)])


class EvidenceForm(FlaskForm):
    """Link the report as evidence of its indicator (a button: only the CSRF token)."""
