"""The local API's view of a user's in-app notifications (reminders, escalations)."""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

NOTIFICATION_KINDS = (
    "reminder_upcoming",
    "reminder_due",
    "reminder_overdue",
    "deadline_escalation",
)


class NotificationSchema(Schema):
    id = fields.Integer()
    kind = fields.String(metadata={"description": " | ".join(NOTIFICATION_KINDS) + " | ..."})
    title = fields.String()
    body = fields.String()
    link = fields.String(
        allow_none=True, metadata={"description": "path on this node where to act, if any"}
    )
    created_at = fields.DateTime()
    read = fields.Boolean()
    read_at = fields.DateTime(allow_none=True)


class NotificationQuerySchema(Schema):
    class Meta:
        unknown = RAISE

    unread = fields.Boolean(load_default=False, metadata={"description": "only unread ones"})
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 200))


class NotificationListSchema(Schema):
    items = fields.List(fields.Nested(NotificationSchema), metadata={"description": "newest first"})
    unread_count = fields.Integer()
