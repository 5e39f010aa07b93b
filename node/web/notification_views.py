"""The signed-in user's notifications page, and the unread count shown in the navigation."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import login_required
from flask_wtf import FlaskForm
from sqlalchemy.exc import SQLAlchemyError

from node.auth import page_user
from node.models import User
from node.runtime import db_session, now
from peer_review import notifications

bp = Blueprint("notifications_web", __name__)


class ReadForm(FlaskForm):
    """Only the CSRF token: marking read is a change, so it is a protected POST."""


def _unread_count() -> int | None:
    user = page_user()
    if user is None:
        return None
    try:
        return notifications.unread_count(db_session(), user.id)
    except SQLAlchemyError:
        # Error pages extend base.html too: a broken database must not break its own error page.
        return None


@bp.app_context_processor
def _navigation() -> dict[str, Any]:
    return {"unread_notifications": _unread_count}


def _signed_in() -> User:
    user = page_user()
    assert user is not None  # login_required ran first
    return user


@bp.get("/notifications")
@login_required
def notifications_page() -> Any:
    rows = notifications.list_notifications(db_session(), _signed_in().id, limit=100)
    return render_template("notifications.html", rows=rows)


@bp.post("/notifications/<rowid:notification_id>/read")
@login_required
def mark_read(notification_id: int) -> Any:
    if not ReadForm().validate_on_submit():
        abort(400)
    # Someone else's id is a 404, exactly like a missing one (NotFoundError → error page).
    notifications.mark_read(db_session(), _signed_in().id, notification_id, now())
    return redirect(url_for("notifications_web.notifications_page"))


@bp.post("/notifications/read-all")
@login_required
def mark_all_read() -> Any:
    if not ReadForm().validate_on_submit():
        abort(400)
    count = notifications.mark_all_read(db_session(), _signed_in().id, now())
    flash(_("%(count)d notifications marked read.", count=count), "success")
    return redirect(url_for("notifications_web.notifications_page"))
