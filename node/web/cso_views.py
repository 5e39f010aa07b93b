"""Civil-society parallel figures: the CSO partner's page, and the signed statements (public).

A CSO partner enters its own figure for an indicator and period (its method and source
stated) and publishes it; the node then signs it as the CSO's statement. Officials see it but
cannot change it: it is civil society's word, shown beside the city's figure, never merged.
"""

from __future__ import annotations

from flask import Blueprint, Response

from node.errors import NotFoundError
from node.runtime import db_session
from node.services import cso_figures

bp = Blueprint("cso_web", __name__)


@bp.get("/public/cso-statements/<sha256>")
def public_statement(sha256: str) -> Response:
    """A published CSO figure's signed statement, verbatim (the exact bytes the node signed)."""
    raw = cso_figures.statement(db_session(), sha256)
    if raw is None:
        raise NotFoundError("No published civil-society statement has this hash.")
    response = Response(raw.encode("utf-8"), mimetype="application/json")
    response.headers["Cache-Control"] = "public, max-age=86400, immutable"  # hash-addressed
    return response
