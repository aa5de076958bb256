"""The one way a notification is made: validate routing -> store -> commit -> publish."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.broker import Broker
from app.core.connection import Route, encode_envelope
from app.core.metrics import Metrics
from app.core.security import Principal
from app.core.sse import event_frame
from app.db.base import utcnow
from app.db.models import Notification, User
from app.db.repositories.accounts import AccountRepository
from app.db.repositories.notifications import NotificationRepository
from app.schemas.notification import (
    PRIORITY_RANK,
    NotificationCreate,
    NotificationFilter,
    NotificationPublic,
)
from app.services import policy
from app.services.errors import InvalidRequest, NotFound

logger = logging.getLogger(__name__)


# Every transaction that creates notifications takes this PostgreSQL advisory lock before
# its first insert: ids are then given and committed in one order across all instances,
# so a reader that has seen id N has seen every committed id below N.
NOTIFICATION_WRITE_LOCK = 0x5A10_0001


def notification_frame(notification: Notification) -> bytes:
    """The SSE event for a notification, serialized once for all its recipients."""
    data = NotificationPublic.model_validate(notification).model_dump_json().encode()
    return event_frame("notification", data, notification.id)


def route_of(notification: Notification) -> Route:
    return Route(
        notification.id,
        notification.recipient_type,
        notification.recipient_id,
        notification.salon_id,
        notification.notification_type,
        PRIORITY_RANK[notification.priority],
        notification.created_at.timestamp(),
    )


def envelope_of(notification: Notification) -> bytes:
    return encode_envelope(route_of(notification), notification_frame(notification))


class NotificationPublisher:
    """Hands committed notifications to the broker; the hubs of every instance route them."""

    def __init__(self, broker: Broker, channel: str, metrics: Metrics) -> None:
        self.broker = broker
        self.channel = channel
        self.metrics = metrics
        self._write_lock = asyncio.Lock()

    @asynccontextmanager
    async def ordered_write(self) -> AsyncIterator[None]:
        """One notification-creating transaction at a time in this process, published in
        commit order (other instances are ordered by the database lock, and every hub by
        the delivery sequencer). Take it before the first write."""
        async with self._write_lock:
            yield

    async def publish(self, notifications: Sequence[Notification]) -> None:
        for notification in notifications:
            self.metrics.created.labels(notification.recipient_type).inc()
            try:
                await self.broker.publish(self.channel, envelope_of(notification))
            except Exception as exc:
                self.metrics.publish_failures.inc()
                # Stored already: the database is the truth; every instance catches up from it.
                logger.warning("publishing notification %s failed: %s", notification.id, exc)


class NotificationService:
    def __init__(self, session: AsyncSession, publisher: NotificationPublisher) -> None:
        self.session = session
        self.publisher = publisher
        self.accounts = AccountRepository(session)
        self.repo = NotificationRepository(session)

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
    ) -> Notification:
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

    async def create(self, principal: Principal, data: NotificationCreate) -> Notification:
        """POST /notifications: the caller's rights first, then as send_notification."""
        return await self._create(policy.authorize_create(principal, data))

    @asynccontextmanager
    async def writing(self) -> AsyncIterator[None]:
        """A transaction that creates notifications: in publication order, rolled back on error
        before the next writer goes (SQLite would otherwise keep it waiting on our lock)."""
        async with self.publisher.ordered_write():
            try:
                if self.session.get_bind().dialect.name == "postgresql":
                    await self.session.execute(
                        text("SELECT pg_advisory_xact_lock(:key)"), {"key": NOTIFICATION_WRITE_LOCK}
                    )
                yield
            except BaseException:
                await self.session.rollback()
                raise

    async def _create(self, data: NotificationCreate) -> Notification:
        await self._check_routing(data)
        async with self.writing():
            notification = self.stage_checked(data)
            await self.commit_and_publish([notification])
        return notification

    async def stage(self, data: NotificationCreate) -> Notification:
        """Validate routing and add to the session, uncommitted: for callers that write rows
        of their own in the same transaction, inside `writing()`."""
        await self._check_routing(data)
        return self.stage_checked(data)

    def stage_checked(self, data: NotificationCreate) -> Notification:
        notification = Notification(**data.model_dump())
        self.session.add(notification)
        return notification

    async def commit_and_publish(self, notifications: Sequence[Notification]) -> None:
        await self.session.commit()
        await self.publisher.publish(notifications)

    async def _check_routing(self, data: NotificationCreate) -> None:
        kind = data.recipient_type
        if data.salon_id is not None and await self.accounts.salon(data.salon_id) is None:
            raise InvalidRequest(f"salon {data.salon_id} does not exist")
        if kind == "salon":
            if data.salon_id is None:
                raise InvalidRequest("a salon notification needs salon_id")
            if data.recipient_id is not None:
                raise InvalidRequest("a salon notification goes to every admin: omit recipient_id")
        elif kind == "user":
            if data.salon_id is None or data.recipient_id is None:
                raise InvalidRequest("a user notification needs salon_id and recipient_id")
            admin = await self.accounts.user(data.recipient_id)
            if not _is_admin_of(admin, data.salon_id):
                raise InvalidRequest(
                    f"user {data.recipient_id} is not an admin of salon {data.salon_id}"
                )
        else:
            if data.recipient_id is None:
                raise InvalidRequest("a customer notification needs recipient_id")
            customer = await self.accounts.user(data.recipient_id)
            if customer is None or customer.role != "customer":
                raise InvalidRequest(f"customer {data.recipient_id} does not exist")

    async def list_for(
        self,
        principal: Principal,
        *,
        limit: int,
        before_id: int | None,
        unread_only: bool,
        salon_id: int | None,
        filter: NotificationFilter,
    ) -> Sequence[Notification]:
        policy.require_recipient(principal)
        if principal.role != "customer":
            salon_id = None  # the salon filter is a customer's; an admin sees its own salon
        return await self.repo.list_for(
            principal,
            limit=limit,
            before_id=before_id,
            unread_only=unread_only,
            salon_id=salon_id,
            filter=filter,
        )

    async def unread_count(self, principal: Principal) -> int:
        policy.require_recipient(principal)
        return await self.repo.count_unread(principal)

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


def _is_admin_of(user: User | None, salon_id: int) -> bool:
    return user is not None and user.role == "admin" and user.salon_id == salon_id
