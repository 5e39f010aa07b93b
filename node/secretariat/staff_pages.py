"""Pages of the secretariat's staff (filled in below)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("secretariat_web", __name__, template_folder="templates")
