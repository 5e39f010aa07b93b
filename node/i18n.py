"""The pages' languages: which one a request gets, and numbers and dates written its way.

Six languages ship complete catalogues (``node/translations/<locale>/LC_MESSAGES``). A request
gets, in this order: the language the person chose in the menu (kept in the session), the
best match of the browser's ``Accept-Language``, the node's ``default_locale``, English.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from babel import Locale
from babel.dates import format_date as babel_format_date
from babel.dates import format_time as babel_format_time
from babel.numbers import format_decimal as babel_format_decimal
from babel.numbers import get_decimal_symbol, get_group_symbol
from flask import Flask, current_app, has_request_context, request, session
from flask_babel import get_locale
from flask_babel import gettext as _

SUPPORTED_LOCALES = ("en", "fr", "es", "nl", "it", "sw")
FALLBACK_LOCALE = "en"
SESSION_KEY = "locale"

# Each language named in itself: a person who does not read the current page's language must
# still find their own in the menu.
LANGUAGE_NAMES = {code: Locale.parse(code).get_display_name(code) for code in SUPPORTED_LOCALES}


def chosen_locale() -> str | None:
    """The language chosen in the menu, if it is (still) one we ship."""
    if not has_request_context():
        return None
    # The session is signed, but a value from an older release could name a language we no
    # longer ship: only a listed code is used.
    value = session.get(SESSION_KEY)
    return value if value in SUPPORTED_LOCALES else None


def select_locale() -> str:
    """Flask-Babel's locale selector: menu choice, then the browser, then the node's default."""
    choice = chosen_locale()
    if choice:
        return choice
    if has_request_context():
        best = request.accept_languages.best_match(SUPPORTED_LOCALES)
        if best:
            return best
    default = current_app.config.get("BABEL_DEFAULT_LOCALE", FALLBACK_LOCALE)
    return default if default in SUPPORTED_LOCALES else FALLBACK_LOCALE


def current_locale() -> str:
    """The language of the page being rendered (``en`` outside a request)."""
    locale = get_locale() if has_request_context() else None
    return str(locale) if locale is not None else FALLBACK_LOCALE


def format_number(value: Any) -> str:
    """A stored decimal (text, int or Decimal) written the page language's way, digits kept.

    The pattern asks for exactly the decimal places the figure has: Babel's default pattern
    would round ``12.3456`` to three places and drop the zero of ``12.50``, and a figure must be
    shown as it was measured. Anything that is not a number (a "–", text) is shown unchanged.
    """
    if value is None or isinstance(value, bool):
        return "" if value is None else str(value)
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return str(value)
    if not number.is_finite():
        return str(value)
    exponent = number.as_tuple().exponent
    places = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    pattern = "#,##0" + ("." + "0" * places if places else "")
    return babel_format_decimal(
        number, format=pattern, locale=current_locale(), decimal_quantization=False
    )


def format_day(value: date | datetime | None) -> str:
    """A date written the page language's way ("6 déc. 2026"); ``–`` when there is none."""
    if value is None:
        return "–"
    day = value.date() if isinstance(value, datetime) else value
    return babel_format_date(day, format="medium", locale=current_locale())


def format_moment(value: datetime | None) -> str:
    """A date and time written the page language's way, 24-hour time; ``–`` when none.

    Times are stored in UTC and shown as stored (the pages that show them say UTC).
    """
    if value is None:
        return "–"
    locale = current_locale()
    clock = babel_format_time(value.replace(tzinfo=None), format="HH:mm", locale=locale)
    return f"{format_day(value)} {clock}"


_PLAIN_DECIMAL = re.compile(r"^[+-]?(?:[0-9]+(?:[.,][0-9]*)?|[.,][0-9]+)$")
_GROUPED_LOOKALIKE = re.compile(r"^[+-]?[0-9]{1,3}[.,][0-9]{3}$")


def normalise_decimal_input(text: str, locale: str) -> str:
    """A number typed in a form, as exact decimal text with a point ("18,5" → "18.5").

    Raises ValueError (with a translated message) when the text cannot be read one way only.
    Rules, for people typing the way their language writes numbers:
    - no thousands separators at all (so "1.234.567" or "1 234" are refused, not guessed);
    - in a language writing a decimal comma (fr, es, nl, it) "18,5" is 18.5, and a point is
      read as a decimal point too ("18.5" pasted from an English source) except where it would
      also read as a thousands separator there: "1.234" in es/nl/it could be 1234 or 1.234;
    - in a language writing a decimal point (en, sw) a comma is refused: "1,234" is 1234 to
      an English reader and 1.234 to a French one, and a wrong figure is worse than a question.
    The digits are kept as typed ("18,50" → "18.50"): values are stored as exact decimal text.
    """
    typed = text.strip()
    if not typed or not _PLAIN_DECIMAL.match(typed):
        return typed  # not a plain number: the results service explains what is wrong
    if "," in typed:
        if get_decimal_symbol(locale) != ",":
            raise ValueError(
                _("Write decimals with a point and no thousands separator, e.g. 18.5 or 1234.")
            )
        return typed.replace(",", ".")
    # Where the point also groups thousands (es, nl, it), "1.234" reads both ways.
    point_groups = get_group_symbol(locale) == "."
    if "." in typed and point_groups and _GROUPED_LOOKALIKE.match(typed):
        raise ValueError(
            _(
                "%(value)s could mean a thousand or a decimal: write decimals with a comma "
                "(e.g. 1,5) and no thousands separator.",
                value=typed,
            )
        )
    return typed


def translated(item: Any, field: str) -> str:
    """An indicator's ``name`` or ``definition`` in the page's language when it carries one.

    ``item`` is an indicator (model or wire dict) whose ``translations`` maps a language tag
    ("fr", "fr-BE") to ``{"name", "definition"}``. The exact language wins, then a regional
    variant of it; otherwise the text as published. Plain text: the template escapes it.
    """
    original = _member(item, field)
    translations = _member(item, "translations") or {}
    if not isinstance(translations, dict):
        return original or ""
    locale = current_locale()
    candidates = [translations.get(locale)] + [
        text for tag, text in sorted(translations.items()) if tag.split("-")[0] == locale
    ]
    for candidate in candidates:
        text = candidate.get(field) if isinstance(candidate, dict) else None
        if isinstance(text, str) and text.strip():
            return text
    return original or ""


def _member(item: Any, name: str) -> Any:
    return item.get(name) if isinstance(item, dict) else getattr(item, name, None)


def language_menu() -> list[dict[str, Any]]:
    """The language menu's entries: code, own name, whether it is the page's language."""
    current = current_locale()
    return [
        {"code": code, "name": LANGUAGE_NAMES[code], "current": code == current}
        for code in SUPPORTED_LOCALES
    ]


def install_template_helpers(app: Flask) -> None:
    """Give every template the language menu and the number and date filters."""
    app.jinja_env.globals["language_menu"] = language_menu
    app.jinja_env.globals["page_locale"] = current_locale
    app.jinja_env.globals["translated"] = translated
    app.jinja_env.filters["number"] = format_number
    app.jinja_env.filters["day"] = format_day
    app.jinja_env.filters["moment"] = format_moment
