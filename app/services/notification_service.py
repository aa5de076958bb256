"""The notification domain: create (validate routing, then the writer stores and publishes),
read marks, acknowledge (reads: app/services/notification_reads.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.security import Principal
from app.db.base import utcnow
from app.db.models import Notification
from app.db.reads import Reads
from app.db.repositories.notifications import NotificationRepository
from app.schemas.notification import NotificationCreate
from app.services import policy
from app.services.errors import NotFound, PermissionDenied
from app.services.routing import RoutingCache, check_routing, in_session, through, within
from app.services.stored import StoredNotification
from app.services.writer import NotificationWriter


class NotificationCreator:
    """Creating notifications, one per process: needs no session of the request's (the
    routing checks use the cache or a short session of their own, the writer its grouped
    transaction), and keeps what the routing checks found (`RoutingCache`)."""

    def __init__(self, writer: NotificationWriter, reads: Reads | None = None) -> None:
        self.writer = writer
        self.routing = RoutingCache()
        # Unknown ids are looked up without a session when the runtime's Reads is given.
        self._lookup = through(reads) if reads else in_session(writer.session_factory)

    async def send_notification(
        self,
        *,
        notification_type: str,
        title: str,
        message: str,
        recipient_type: str,
        recipient_id: int | None = None,
        salon_id: int | None = None,
        entity_type: str | None = None,
        entity_id: int | None = None,
        extra_data: dict[str, Any] | None = None,
        priority: str = "normal",
    ) -> StoredNotification:
        """The seed's entry point: store the notification, commit, push it to live streams."""
        data = NotificationCreate.model_validate(
            {
                "notification_type": notification_type,
                "title": title,
                "message": message,
                "recipient_type": recipient_type,
                "recipient_id": recipient_id,
                "salon_id": salon_id,
                "entity_type": entity_type,
                "entity_id": entity_id,
                "extra_data": extra_data,
                "priority": priority,
            }
        )
        return await self._create(data)

    async def create(self, principal: Principal, data: NotificationCreate) -> StoredNotification:
        """POST /notifications: the caller's rights first, then as send_notification."""
        return await self._create(policy.authorize_create(principal, data))

    async def create_batch(
        self, principal: Principal, items: Sequence[NotificationCreate]
    ) -> list[StoredNotification]:
        """POST /notifications/batch: each item as if created alone, all stored or none."""
        authorized = []
        for index, item in enumerate(items):
            try:
                authorized.append(policy.authorize_create(principal, item))
            except PermissionDenied as exc:
                raise PermissionDenied(f"notifications[{index}]: {exc.detail}") from exc
        await self.check(authorized, batch=True)
        return await self.writer.create(authorized)

    async def _create(self, data: NotificationCreate) -> StoredNotification:
        await self.check([data])
        return (await self.writer.create([data]))[0]

    async def check(
        self,
        items: Sequence[NotificationCreate],
        *,
        batch: bool = False,
        session: AsyncSession | None = None,
    ) -> None:
        """Routing checks, from the cache or else on `session`, or a session of their own
        returned to the pool before waiting for the writer: a request holding a connection
        while queued could starve the writer."""
        lookup = self._lookup if session is None else in_session(within(session))
        await check_routing(lookup, items, batch=batch, cache=self.routing)


class NotificationService:
    """A principal's notifications: read marks and acknowledgements (the list and the count
    are app/services/notification_reads.py)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.repo = NotificationRepository(session)

    async def mark_read(self, principal: Principal, notification_id: int) -> Notification:
        policy.require_recipient(principal)
        notification = await self.repo.get_for(principal, notification_id)
        if notification is None:
            raise NotFound(f"notification {notification_id} not found")
        notification.is_read = True
        notification.delivered_at = notification.delivered_at or utcnow()
        await self.session.commit()
        return notification

    async def acknowledge(self, principal: Principal, ids: Sequence[int]) -> int:
        """Record receipt of the caller's notifications among `ids`; others are ignored."""
        policy.require_recipient(principal)
        updated = await self.repo.mark_delivered(principal, ids)
        await self.session.commit()
        return updated

    async def mark_all_read(self, principal: Principal) -> int:
        policy.require_recipient(principal)
        updated = await self.repo.mark_all_read(principal)
        await self.session.commit()
        return updated
