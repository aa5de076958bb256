"""A notification as the writer stored it: the row's fields, no ORM state, and its public
JSON serialized once for the POST response and the SSE frame alike."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app.schemas.notification import NotificationCreate, NotificationPublic


@dataclass(slots=True, eq=False)
class StoredNotification:
    """The same attributes as the `Notification` model (what NotificationPublic reads)."""

    id: int
    notification_type: str
    title: str
    message: str
    recipient_type: str
    recipient_id: int | None
    salon_id: int | None
    entity_type: str | None
    entity_id: int | None
    extra_data: dict[str, Any] | None
    priority: str
    created_at: datetime
    is_read: bool = False
    delivered_at: datetime | None = None
    _json: bytes | None = field(default=None, repr=False)

    @classmethod
    def created(cls, item: NotificationCreate, created_at: datetime) -> StoredNotification:
        """A validated create body as the writer stores it, before its id is known."""
        return cls(
            0,
            item.notification_type,
            item.title,
            item.message,
            item.recipient_type,
            item.recipient_id,
            item.salon_id,
            item.entity_type,
            item.entity_id,
            item.extra_data,
            item.priority,
            created_at,
        )

    def public_json(self) -> bytes:
        """NotificationPublic as JSON, computed on first use."""
        if self._json is None:
            self._json = NotificationPublic.model_validate(self).model_dump_json().encode()
        return self._json


def batch_json(notifications: list[StoredNotification]) -> bytes:
    """NotificationBatchPublic as JSON, from the notifications' own."""
    return b'{"notifications":[' + b",".join(n.public_json() for n in notifications) + b"]}"
