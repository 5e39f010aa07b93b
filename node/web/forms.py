"""WTForms for the pages (Flask-WTF adds the CSRF token to each)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import PasswordField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional


class LoginForm(FlaskForm):
    email = StringField("E-mail", validators=[DataRequired(), Length(3, 320)])
    password = PasswordField("Password", validators=[DataRequired(), Length(1, 1000)])


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField(
        "Current password", validators=[DataRequired(), Length(1, 1000)]
    )
    new_password = PasswordField("New password", validators=[DataRequired(), Length(1, 1000)])
    repeat_password = PasswordField(
        "New password again", validators=[DataRequired(), Length(1, 1000)]
    )


class EntryForm(FlaskForm):
    """Data entry for one indicator; one select per dimension is added by the view."""

    period = StringField(
        "Period",
        validators=[DataRequired(), Length(4, 7)],
        description="2025, 2025-H1, 2025-Q3 or 2025-07",
    )
    value = StringField("Value", validators=[DataRequired(), Length(1, 64)])
    status = SelectField(
        "Status",
        choices={"draft": "Draft", "validated": "Validated", "published": "Published"},
        default="draft",
    )
    source = StringField("Source", validators=[Optional(), Length(max=500)])
    note = TextAreaField("Note", validators=[Optional(), Length(max=10_000)])


class ImportForm(FlaskForm):
    file = FileField("File (CSV or XLSX)", validators=[FileRequired()])
    layout = SelectField(
        "Layout",
        choices={
            "own": "hrcnet layout (indicator, period, value…)",
            "open-sdg": "Open SDG (Year, …, Units, Value)",
        },
    )
    indicator = StringField(
        "Indicator (Open SDG files with one indicator)", validators=[Optional(), Length(max=64)]
    )
    profile = TextAreaField(
        "Column mapping (JSON import profile, optional)",
        validators=[Optional(), Length(max=200_000)],
    )
