"""WTForms for the pages (Flask-WTF adds the CSRF token to each)."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, PasswordField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from node.i18n import current_locale, normalise_decimal_input


class LocalizedDecimalField(StringField):
    """A number typed the way the page's language writes it, kept as exact decimal text.

    "18,5" on a French page becomes "18.5"; text that reads two ways in that language ("1,234"
    in English, "1.234" in Spanish) is refused with a message rather than guessed (a wrong
    figure published is worse than a question). See ``node.i18n.normalise_decimal_input``.
    """

    def process_formdata(self, valuelist: list[Any]) -> None:
        super().process_formdata(valuelist)
        typed: Any = self.data
        if isinstance(typed, str) and typed:
            # A ValueError here becomes the field's error (WTForms' process_errors).
            self.data = normalise_decimal_input(typed, current_locale())

    def _value(self) -> str:
        # Shown back as typed (after an error the person sees and fixes their own text).
        if self.raw_data:
            return str(self.raw_data[0])
        return super()._value()


class LoginForm(FlaskForm):
    email = StringField(_l("E-mail"), validators=[DataRequired(), Length(3, 320)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(1, 1000)])


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField(
        _l("Current password"), validators=[DataRequired(), Length(1, 1000)]
    )
    new_password = PasswordField(_l("New password"), validators=[DataRequired(), Length(1, 1000)])
    repeat_password = PasswordField(
        _l("New password again"), validators=[DataRequired(), Length(1, 1000)]
    )


class EntryForm(FlaskForm):
    """Data entry for one indicator; one select per dimension is added by the view."""

    period = StringField(
        _l("Period"),
        validators=[DataRequired(), Length(4, 7)],
        description=_l("2025, 2025-H1, 2025-Q3 or 2025-07"),
    )
    value = LocalizedDecimalField(_l("Value"), validators=[DataRequired(), Length(1, 64)])
    status = SelectField(
        _l("Status"),
        choices=[
            SelectChoice("draft", _l("Draft")),
            SelectChoice("validated", _l("Validated")),
            SelectChoice("published", _l("Published")),
        ],
        default="draft",
    )
    source = StringField(_l("Source"), validators=[Optional(), Length(max=500)])
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=10_000)])
    reason = TextAreaField(
        _l("Reason for the change"),
        validators=[Optional(), Length(max=2_000)],
        description=_l(
            "Needed when you change a validated or published figure; kept in its history."
        ),
    )
    # Shown only after a warning: the value is far from the previous period's.
    confirm_outlier = BooleanField(_l("I have checked this value: keep it"))


class ImportForm(FlaskForm):
    file = FileField(_l("File (CSV or XLSX)"), validators=[FileRequired()])
    layout = SelectField(
        _l("Layout"),
        choices=[
            SelectChoice("own", _l("hrcnet layout (indicator, period, value…)")),
            SelectChoice("open-sdg", _l("Open SDG (Year, …, Units, Value)")),
        ],
    )
    indicator = StringField(
        _l("Indicator (Open SDG files with one indicator)"), validators=[Optional(), Length(max=64)]
    )
    profile = TextAreaField(
        _l("Column mapping (JSON import profile, optional)"),
        validators=[Optional(), Length(max=200_000)],
    )
    reason = TextAreaField(
        _l("Reason for changes"),
        validators=[Optional(), Length(max=2_000)],
        description=_l(
            "Needed when the file changes validated or published figures; kept in their history."
        ),
    )
    # Shown only after a warning: some values are far from the previous period's.
    confirm_outliers = BooleanField(_l("I have checked the values listed above: keep them"))
