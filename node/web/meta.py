"""``/healthz`` and ``/.well-known/hrcnet``: how operators and other nodes find this node."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from sqlalchemy import text

from node.runtime import db_session, runtime

bp = Blueprint("meta", __name__)


@bp.get("/healthz")
def healthz() -> tuple[dict[str, Any], int]:
    db_session().execute(text("SELECT 1"))
    config = runtime().config
    return {"status": "ok", "city_id": config.city_id, "role": config.role}, 200


@bp.get("/.well-known/hrcnet")
def well_known() -> dict[str, Any]:
    config = runtime().config
    return {
        "city_id": config.city_id,
        "name": config.name,
        "role": config.role,
        "country": config.country,
        "region": config.region,
        "base_url": config.base_url,
        "federation": f"{config.base_url}/federation/v1",
        "keys": f"{config.base_url}/federation/v1/keys",
    }
