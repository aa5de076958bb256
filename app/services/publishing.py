"""A committed notification on its way out: its SSE frame (built once), its route, the bus."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from app.broker import Broker
from app.core.connection import Route, encode_envelope
from app.core.logging import log_event
from app.core.metrics import Metrics
from app.core.sse import event_frame
from app.db.models import Notification
from app.schemas.notification import PRIORITY_RANK, NotificationPublic
from app.services.stored import StoredNotification

logger = logging.getLogger(__name__)


# A row read back by the ORM, or one the writer just stored.
AnyNotification = Notification | StoredNotification


def notification_frame(notification: AnyNotification) -> bytes:
    """The SSE event for a notification, serialized once for all its recipients."""
    if isinstance(notification, StoredNotification):
        data = notification.public_json()  # the POST response's body too
    else:
        data = NotificationPublic.model_validate(notification).model_dump_json().encode()
    return event_frame("notification", data, notification.id)


def route_of(notification: AnyNotification) -> Route:
    return Route(
        notification.id,
        notification.recipient_type,
        notification.recipient_id,
        notification.salon_id,
        notification.notification_type,
        PRIORITY_RANK[notification.priority],
        notification.created_at.timestamp(),
    )


def envelope_of(notification: AnyNotification) -> bytes:
    return encode_envelope(route_of(notification), notification_frame(notification))


class NotificationPublisher:
    """Hands committed notifications to the broker; the hubs of every instance route them."""

    def __init__(self, broker: Broker, channel: str, metrics: Metrics) -> None:
        self.broker = broker
        self.channel = channel
        self.metrics = metrics

    async def publish(self, notifications: Sequence[AnyNotification]) -> None:
        size = self.broker.batch_size
        for start in range(0, len(notifications), size):
            if start:
                # A grouped write may hold thousands: let the streams write between chunks
                # (the memory broker fans out synchronously).
                await asyncio.sleep(0)
            chunk = notifications[start : start + size]
            for notification in chunk:
                self.metrics.notification_created(notification.recipient_type)
                if logger.isEnabledFor(logging.INFO):  # a message per notification: only if kept
                    log_event(
                        logger,
                        "notification_created",
                        f"notification {notification.id} created",
                        notification_id=notification.id,
                        notification_type=notification.notification_type,
                        recipient_type=notification.recipient_type,
                        recipient_id=notification.recipient_id,
                        salon_id=notification.salon_id,
                    )
            try:
                await self.broker.publish_many(self.channel, [envelope_of(n) for n in chunk])
            except Exception as exc:
                self.metrics.publish_failures.inc(len(chunk))
                # Stored already: the database is the truth; every instance catches up from it.
                ids = f"{chunk[0].id}-{chunk[-1].id}" if len(chunk) > 1 else f"{chunk[0].id}"
                logger.warning("publishing notifications %s failed: %s", ids, exc)
