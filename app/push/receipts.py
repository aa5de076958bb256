"""Who has push subscriptions (this instance's copy) and which of them a stream reached.

The hub asks `watched_users` (one set look-up per delivery to a stream, and only while
someone has a subscription); a delivery to a watched user's stream is noted here and
written to push_reached in batches, where the dispatcher of any instance looks before
sending. The set is reloaded when any instance says subscriptions changed (broker) and
every REFRESH_INTERVAL anyway (a lost message).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.broker import Broker
from app.core.hub import Hub
from app.core.tasks import cancel_and_wait
from app.db.repositories.push import PushSubscriptionRepository, record_reached

logger = logging.getLogger(__name__)

REFRESH_INTERVAL = 30.0
FLUSH_DELAY = 0.05  # receipts of this long are written in one statement
MAX_PENDING = 100_000  # past it (database down) the oldest receipts are dropped


class PushReceipts:
    def __init__(
        self,
        hub: Hub,
        broker: Broker,
        channel: str,
        session_factory: async_sessionmaker[AsyncSession],
    ) -> None:
        self.hub = hub
        self.broker = broker
        self.channel = channel
        self.session_factory = session_factory
        self.users: set[int] = hub.watched_users  # the hub's own set, updated in place
        self._pending: list[tuple[int, int]] = []
        self._wake = asyncio.Event()
        self._refresh = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        await self._reload()
        self.hub.on_watched_delivery = self.reached
        await self.broker.subscribe(self.channel, self._on_change)
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._flush_forever()),
            loop.create_task(self._refresh_forever()),
        ]

    async def stop(self) -> None:
        self.hub.on_watched_delivery = None
        await self.broker.unsubscribe(self.channel, self._on_change)
        for task in self._tasks:
            await cancel_and_wait(task)
        await self._flush()  # what streams got before the stop still counts

    def reached(self, notification_id: int, user_id: int) -> None:
        """From the hub: a stream here got this notification for this watched user."""
        self._pending.append((notification_id, user_id))
        if len(self._pending) > MAX_PENDING:
            del self._pending[: len(self._pending) - MAX_PENDING]
        self._wake.set()

    async def changed(self) -> None:
        """Subscriptions changed here: reload now, and tell the other instances."""
        await self._reload()
        try:
            await self.broker.publish(self.channel, b"changed")
        except Exception as exc:  # they reload within REFRESH_INTERVAL anyway
            logger.warning("announcing a push subscription change failed: %s", exc)

    def _on_change(self, _message: bytes) -> None:
        self._refresh.set()

    async def _reload(self) -> None:
        async with self.session_factory() as session:
            users = await PushSubscriptionRepository(session).users_with_subscriptions()
        self.users.intersection_update(users)
        self.users.update(users)

    async def _refresh_forever(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._refresh.wait(), REFRESH_INTERVAL)
            self._refresh.clear()
            try:
                await self._reload()
            except Exception as exc:
                logger.warning("reloading push subscribers failed: %s", exc)

    async def _flush_forever(self) -> None:
        while True:
            await self._wake.wait()
            await asyncio.sleep(FLUSH_DELAY)
            self._wake.clear()
            await self._flush()

    async def _flush(self) -> None:
        pairs, self._pending = self._pending, []
        if not pairs:
            return
        try:
            async with self.session_factory() as session:
                await record_reached(session, pairs)
        except Exception as exc:  # at worst these users also get a push: said, not hidden
            logger.warning("recording %d stream receipts for push failed: %s", len(pairs), exc)
