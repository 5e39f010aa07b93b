"""``/api/v1/notifications``: the caller's own in-app notifications (bearer token)."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from node.api.common import BEARER, problems
from node.auth import api_user
from node.errors import AuthenticationRequiredError
from node.models import User
from node.runtime import db_session, now
from peer_review import notifications
from schemas.notifications import (
    NotificationListSchema,
    NotificationQuerySchema,
    NotificationSchema,
)

blp = Blueprint("notifications", __name__, description="Your in-app notifications")


def _caller() -> User:
    # Notifications are personal: any role, but a token is required (no anonymous reads).
    user = api_user()
    if user is None:
        raise AuthenticationRequiredError("Send 'Authorization: Bearer <token>' to read these.")
    return user


@blp.route("/notifications")
class Notifications(MethodView):
    @blp.arguments(NotificationQuerySchema, location="query")
    @blp.response(200, NotificationListSchema)
    @blp.doc(security=BEARER)
    @problems(blp, 401, 422)
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """Your notifications, newest first, with the number still unread."""
        user, session = _caller(), db_session()
        rows = notifications.list_notifications(
            session, user.id, unread_only=query["unread"], limit=query["limit"]
        )
        return {
            "items": [notifications.to_wire(row) for row in rows],
            "unread_count": notifications.unread_count(session, user.id),
        }


@blp.route("/notifications/<rowid:notification_id>/read")
class NotificationRead(MethodView):
    @blp.response(200, NotificationSchema)
    @blp.doc(security=BEARER)
    @problems(blp, 401, 404)
    def post(self, notification_id: int) -> dict[str, Any]:
        """Mark one of your notifications read (someone else's answers 404)."""
        user = _caller()
        row = notifications.mark_read(db_session(), user.id, notification_id, now())
        return notifications.to_wire(row)
