"""A refusal on a page, in the reader's language: the page-side table of refusal messages.

Services refuse with a :class:`node.errors.DomainError` (or a field message that is a
:class:`Problem`): an English ``detail`` (part of the API contract: problem+json keeps it
unchanged) and a machine ``code``. A page must not show that English sentence to a French or Swahili
reader, so pages translate the refusal from its code here:

- the table maps a ``code`` (or ``code:variant``, when one code stands for several rules: which
  precondition, which unit rule) to a message marked for translation, with named placeholders
  filled from the error's ``params`` (the values the English detail quotes);
- an **exact** message replaces the detail; a :class:`Lead` is a translated sentence followed by
  the English detail (the generic codes, ``validation_failed`` or ``conflict``, stand for many
  different sentences: the reader gets what kind of refusal it is in their language and the
  precise English reason after it);
- a code the table does not know (a newer peer's refusal, a code added without a message) gets the
  translated generic sentence of its HTTP status and the English detail: never a crash, never
  silence. ``tests/web/test_refusal_messages.py`` fails when a code raised in the sources has no
  message here.

English pages show the service's own English sentence (``detail``): it is the original, and the
table's English msgid says the same thing.

The core holds the machinery and the core's own codes; each feature registers its codes
(:func:`register`, from its ``init_app``): the core never imports a feature.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from babel.lists import format_list
from flask import Flask
from flask_babel import get_locale, ngettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from node.i18n import current_locale, format_number
from schemas.periods import PeriodError

__all__ = [
    "Items",
    "Lead",
    "Problem",
    "known_keys",
    "page_errors",
    "page_message",
    "http_page_text",
    "page_title",
    "period_problem",
    "register",
    "stored_message",
]


class Problem(str):
    """A field message (English, as the API sends it) that also carries a ``code``, the
    ``params`` it quotes and the ``variant`` of its code, so that a page can translate it."""

    code: str
    params: dict[str, Any]
    variant: str | None

    def __new__(
        cls,
        message: str,
        code: str = "validation_failed",
        *,
        params: dict[str, Any] | None = None,
        variant: str | None = None,
    ) -> Problem:
        made = super().__new__(cls, message)
        made.code = code
        made.params = params or {}
        made.variant = variant
        return made


@dataclass(frozen=True)
class Items:
    """A list a refusal quotes (codes, labels, column names: data), and how many more items
    were left out of it.

    A parameter must never carry English words ("none yet", ", and 3 more", "or"): a translated
    message quotes it as it is. So a list travels as its items; its English form (``str``, for
    the API's English ``detail``) is ``F (Female), M (Male), and 3 more``, and a page writes it
    the reader's way (``F (Female), M (Male) et 3 autres``: :func:`_shown`). An empty list is a
    message of its own (a ``…_none`` variant), never the word "none" in a parameter.
    """

    items: tuple[str, ...]
    more: int = 0

    @classmethod
    def of(cls, values: Iterable[str], limit: int | None = None) -> Items:
        """The first ``limit`` of ``values`` (all when ``limit`` is None), the rest counted."""
        every = tuple(values)
        if limit is None or len(every) <= limit:
            return cls(every)
        return cls(every[:limit], len(every) - limit)

    def __bool__(self) -> bool:
        return bool(self.items)

    def __str__(self) -> str:
        more = f", and {self.more} more" if self.more else ""
        return ", ".join(self.items) + more

    def shown(self) -> str:
        """The list in the page's language: its list pattern ("A, B et C"), the count of the
        items left out as the last item ("A, B et 3 autres"), figures written its way."""
        items = list(self.items)
        if self.more:
            items.append(
                ngettext(
                    "%(count)s more", "%(count)s more", self.more, count=format_number(self.more)
                )
            )
        if not items:
            return ""
        return format_list(items, style="standard", locale=current_locale())


@dataclass(frozen=True)
class Lead:
    """A translated sentence the page shows before the English detail (see the module doc)."""

    message: Any  # a lazy_gettext string


Message = Any  # a lazy_gettext string (exact) or a Lead

# What a refusal of each HTTP status is, in the reader's words (the fallback's first sentence and
# the error page's title).
_STATUS_LEADS: dict[int, Any] = {
    400: _l("This request could not be carried out."),
    401: _l("Please sign in first."),
    403: _l("You are not allowed to do this."),
    404: _l("This could not be found."),
    405: _l("This page does not accept this kind of request."),
    409: _l("This clashes with what is already recorded."),
    413: _l("What you sent is too large."),
    422: _l("Some of what you entered needs correcting."),
    429: _l("Too many attempts: please wait a moment, then try again."),
    500: _l("Something went wrong on this node."),
    503: _l("This service is not available at the moment."),
}

_TITLES: dict[int, Any] = {
    400: _l("Request refused"),
    401: _l("Sign-in needed"),
    403: _l("Not allowed"),
    404: _l("Not found"),
    405: _l("Request not accepted"),
    409: _l("Conflict with what is recorded"),
    413: _l("Too large"),
    422: _l("Something to correct"),
    429: _l("Too many attempts"),
    500: _l("Error on this node"),
    503: _l("Not available"),
}

_PERIOD_NOT_TEXT = _l(
    "This is not a period: write a year (2025), a half-year (2025-H1), a quarter (2025-Q3) or "
    "a month (2025-07)."
)
_PERIOD_MALFORMED = _l(
    "“%(period)s” is not a period: write a year (2025), a half-year (2025-H1), a quarter "
    "(2025-Q3) or a month (2025-07)."
)
_PERIOD_YEAR_RANGE = _l(
    "The year %(year)s is outside the years this node accepts (%(min)s to %(max)s)."
)

# The core's own codes (node/errors.py, auth, permissions, input guard, the network core).
CORE_MESSAGES: dict[str, Message] = {
    # The classes' own codes: each stands for many sentences, so the English reason follows.
    "bad_request": Lead(_STATUS_LEADS[400]),
    "not_found": Lead(_STATUS_LEADS[404]),
    "validation_failed": Lead(_STATUS_LEADS[422]),
    "conflict": Lead(_STATUS_LEADS[409]),
    "authentication_required": _l("Please sign in first."),
    "forbidden": Lead(_STATUS_LEADS[403]),
    "role_not_allowed": _l("Your role does not allow this. Ask an administrator if you need it."),
    "role_not_allowed:workflow": _l(
        "Your role does not allow this step at this stage of the work: another participant "
        "takes it."
    ),
    "invalid_text": _l(
        "Some text contains a character that cannot be stored (an invisible control "
        "character). Retype the text instead of pasting it, then try again."
    ),
    "too_deep": _l("What you sent is nested too deeply to be read. Simplify it and try again."),
    "too_many_requests": _l(
        "Too many twinning requests are already waiting to be checked: try again in a minute."
    ),
    "invalid_period": _PERIOD_NOT_TEXT,
    "invalid_period:period_not_text": _PERIOD_NOT_TEXT,
    "invalid_period:period_malformed": _PERIOD_MALFORMED,
    "invalid_period:period_year_range": _PERIOD_YEAR_RANGE,
    # A period beside its field: the refusal keeps the API's code (validation_failed).
    "validation_failed:period_not_text": _PERIOD_NOT_TEXT,
    "validation_failed:period_malformed": _PERIOD_MALFORMED,
    "validation_failed:period_year_range": _PERIOD_YEAR_RANGE,
    # The unit rules of a figure (node.units, node.services.results).
    "value_out_of_range": Lead(_l("This value is outside what its unit allows.")),
    "value_out_of_range:percent": _l(
        "%(value)s is not possible for a percentage: a percentage is between 0 and 100."
    ),
    "value_out_of_range:count_negative": _l(
        "%(value)s is not possible: a count of people or cases cannot be negative."
    ),
    "value_out_of_range:rate_negative": _l("%(value)s is not possible: a rate cannot be negative."),
    "value_out_of_range:rate_above_base": _l(
        "%(value)s is not possible for a rate per %(base)s: it cannot be more than %(base)s. "
        "Is this a count rather than a rate?"
    ),
    "value_out_of_range:score_range": _l(
        "%(value)s is not possible: the score must be between %(low)s and %(high)s."
    ),
    "value_not_whole_number": _l(
        "%(value)s is not possible: a count of people or cases is a whole number."
    ),
    "nothing_to_publish": _l(
        "There are no validated figures for %(period)s to publish. Validate figures for this "
        "period first."
    ),
    "key_unavailable": _l(
        "This node's signing key is missing. Ask the node's administrator to check its keys."
    ),
    "key_not_found": _l("This node has no such key."),
    "key_is_current": _l(
        "The current key cannot be revoked while it signs: create a new key first, then revoke "
        "this one."
    ),
    "peer_not_found": _l("This node does not know that city (%(city)s)."),
    "peer_active": _l("You are already twinned with %(city)s."),
    "peer_requested": _l("A twinning request to %(city)s is already waiting for its answer."),
    "peer_pending": _l(
        "%(city)s has already asked to twin with you: accept their request instead."
    ),
    "peer_unreachable": Lead(
        _l("The other node could not be reached, or it did not answer as an hrcnet node.")
    ),
    "weak_public_key": _l(
        "The other node's key is not a safe key and was refused. Tell that node's administrator."
    ),
    "invalid_transition": Lead(_l("This step is not possible in the current state.")),
    "secretariat_already_pinned": _l(
        "This node already trusts a secretariat. Remove that one first if it must change."
    ),
    "not_a_city_node": _l("This node is a secretariat: it does not join another secretariat."),
    "not_an_active_twin": _l("%(city)s is not an active twin of this city: twin with it first."),
    "fingerprint_mismatch": _l(
        "This fingerprint is not the one of %(city)s's current key; nothing was changed. Check "
        "it with them again, word by word."
    ),
    "not_pinned": _l("No secretariat is trusted on this node yet."),
    "key_change_not_found": _l("There is no such key change to decide on."),
    "key_change_decided": _l("This key change has already been decided."),
    # Codes several features raise (one message each, so no feature overrides another's).
    "reason_required": _l("Say why: this step needs a reason."),
    "unknown_state": Lead(_l("This state does not exist.")),
    "unknown_action": Lead(_l("This action does not exist.")),
    "transition_not_allowed": Lead(_l("This step is not possible in the current state.")),
    "hash_mismatch": _l(
        "What you confirmed is not the current version: it changed in the meantime. Reload the "
        "page, read it again, then confirm."
    ),
    "unknown_summary": Lead(_l("This signed summary is not known here.")),
    "not_secretariat": _l("This is done on the network secretariat's node, not on a city's node."),
    "untrusted_key_document": Lead(_l("The other node's new keys could not be trusted.")),
    "key_not_in_directory": Lead(_l("The other node's new keys could not be trusted.")),
    "key_document_rollback": Lead(_l("The other node's new keys could not be trusted.")),
}

_TABLE: dict[str, Message] = dict(CORE_MESSAGES)


def register(messages: Mapping[str, Message]) -> None:
    """Add a feature's refusal messages (called from its ``init_app``; idempotent).

    A key registered twice with a different message is a programming error: two features
    would show different words for one code, silently depending on the start-up order.
    """
    for key, message in messages.items():
        held = _TABLE.get(key)
        if held is not None and held is not message:
            raise ValueError(f"refusal message {key!r} registered twice")
        _TABLE[key] = message


def known_keys() -> set[str]:
    """Every ``code`` / ``code:variant`` with a message (tests: every raised code has one)."""
    return set(_TABLE)


def _english_page() -> bool:
    locale = get_locale()
    return locale is None or locale.language == "en"


def _detail(error: object) -> str:
    detail = getattr(error, "detail", None)
    return str(detail) if detail is not None else str(error)


def _status(error: object) -> int:
    status = getattr(error, "status", None)
    return status if isinstance(status, int) else 422


def _fallback(error: object, lead: Any | None = None) -> str:
    sentence = (
        str(lead)
        if lead is not None
        else str(_STATUS_LEADS.get(_status(error), _STATUS_LEADS[400]))
    )
    return _("%(sentence)s (In English: %(detail)s)", sentence=sentence, detail=_detail(error))


def period_problem(exc: PeriodError) -> Problem:
    """A period refusal as a field message (``validation_failed``, the variant of its rule)."""
    return Problem(str(exc), "validation_failed", params=exc.params, variant=exc.variant)


def page_message(error: object) -> str:
    """The refusal ``error`` (a DomainError, a workflow refusal, a :class:`Problem`, or a plain
    message) as the page's reader should read it.

    Plain strings without a code are returned as they are (they are either already translated by
    the page or an English field message no code identifies).
    """
    code = getattr(error, "code", None)
    if not isinstance(code, str):
        return str(error)
    if _english_page():
        return _detail(error)
    variant = getattr(error, "variant", None)
    message = _TABLE.get(f"{code}:{variant}") if variant else None
    if message is None:
        message = _TABLE.get(code)
    if message is None:
        return _fallback(error)
    if isinstance(message, Lead):
        return _fallback(error, message.message)
    params = _shown(getattr(error, "params", None) or {})
    try:
        return str(message) % params if "%(" in str(message) else str(message)
    except (KeyError, ValueError, TypeError):
        # A value the message quotes is missing: the reader still gets the precise reason.
        return _fallback(error)


# Values written the page language's way: figures with its decimal sign (``19,2``), and data
# words (a figure's status) in its words. Years and codes are shown as they are.
NUMBER_PARAMS = frozenset(
    {"value", "previous", "base", "points", "factor", "low", "high", "count", "bytes"}
    | {"accepted_reviewers", "min_reviewers"}
    # The upload reader's rows, lines and counts (node/importing/table.py).
    | {"row", "line", "cells", "columns", "extra", "header_row", "position"}
    | {"max_row", "max_rows", "max_columns"}
)
WORD_PARAMS = frozenset({"status"})  # node/web/words.py lists them for translation


def _shown(params: Mapping[str, Any]) -> dict[str, Any]:
    shown: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, Items):
            shown[key] = value.shown()
        elif isinstance(value, bool):
            # A yes/no figure: Python's True/False (or our true/false) are English words.
            shown[key] = _("yes") if value else _("no")
        elif key in NUMBER_PARAMS:
            shown[key] = format_number(value)
        elif key in WORD_PARAMS and isinstance(value, str):
            shown[key] = _(value)
        else:
            shown[key] = value
    return shown


def page_errors(errors: Any) -> Any:
    """``errors`` (field → messages, nested by item or row) with every coded message translated."""
    if isinstance(errors, Mapping):
        return {key: page_errors(value) for key, value in errors.items()}
    if isinstance(errors, list | tuple):
        return [page_errors(value) for value in errors]
    if isinstance(errors, str) and getattr(errors, "code", None) is not None:
        return page_message(errors)
    return errors


def stored_message(code: str | None, detail: str | None) -> str:
    """A refusal kept in the database as (code, English detail), e.g. a failed twinning request,
    in the reader's language (its values were not kept: a message that quotes some falls back
    to the generic sentence and the English detail)."""
    if not code:
        return detail or ""
    return page_message(Problem(detail or "", code))


def init_app(app: Flask) -> None:
    """Templates get ``stored_refusal(code, detail)`` (:func:`stored_message`)."""
    app.add_template_global(stored_message, "stored_refusal")


def http_page_text(error: Any, title: str, detail: str) -> tuple[str, str]:
    """The error page's (title, text) for an HTTP error (``abort(404)``, 405…) in the page's
    language: werkzeug's own English description becomes the translated sentence of its status;
    a description our code gave (``abort(403, _("…"))``, marked for translation where it is
    written) is kept."""
    if _english_page():
        return title, detail
    status = getattr(error, "code", None) or 500
    translated_title = str(_TITLES.get(status, title))
    if not detail or detail == type(error).description:
        return translated_title, str(_STATUS_LEADS.get(status, _STATUS_LEADS[400]))
    return translated_title, detail


def page_title(error: object) -> str:
    """The error page's title for ``error``, from its HTTP status (its own title in English)."""
    if _english_page():
        return str(getattr(error, "title", "")) or str(_TITLES[400])
    title = _TITLES.get(_status(error))
    if title is not None:
        return str(title)
    return str(getattr(error, "title", "")) or str(_TITLES[400])
