"""The language menu's one route: remember the language a person picks, go back to the page."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, request, session

from node.i18n import SESSION_KEY, SUPPORTED_LOCALES
from node.web.views import _safe_next

bp = Blueprint("language", __name__)


@bp.post("/language")
def choose_language() -> Any:
    """Keep the chosen language in the session (signed cookie) and return to ``next``.

    A POST with the CSRF token (like every page form): another site cannot switch someone's
    pages to a language they do not read. An unknown code is ignored rather than stored, and
    ``next`` must be a path on this site (the same check as after signing in: no open redirect).
    """
    code = request.form.get("locale", "")
    if code in SUPPORTED_LOCALES:
        session[SESSION_KEY] = code
    return redirect(_safe_next(request.form.get("next")), code=303)
