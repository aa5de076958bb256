"""Redis pub/sub broker: every instance sharing one Redis hears every publication.

Pub/sub delivers only to who is listening at that moment; what an instance misses
while disconnected is caught up from the database, the source of truth.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from contextlib import suppress

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from app.broker.base import BrokerError, Handler

logger = logging.getLogger(__name__)

RECONNECT_DELAYS = (0.1, 0.2, 0.5, 1.0, 2.0)


class RedisBroker:
    def __init__(self, url: str, prefix: str = "salon") -> None:
        self._url = url
        self._prefix = prefix
        self._handlers: defaultdict[str, list[Handler]] = defaultdict(list)
        self._redis: aioredis.Redis | None = None
        self._pubsub: aioredis.client.PubSub | None = None
        self._reader: asyncio.Task[None] | None = None

    def key(self, channel: str) -> str:
        """The one place channel names get their prefix."""
        return f"{self._prefix}:{channel}"

    async def start(self) -> None:
        self._redis = aioredis.from_url(self._url, health_check_interval=10)
        self._pubsub = self._redis.pubsub(ignore_subscribe_messages=True)

    async def stop(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None
        if self._pubsub is not None:
            await self._pubsub.aclose()
        if self._redis is not None:
            await self._redis.aclose()
        self._handlers.clear()

    async def publish(self, channel: str, message: bytes) -> None:
        try:
            await self._client().publish(self.key(channel), message)
        except RedisError as exc:
            raise BrokerError(f"publish on {channel!r} failed: {exc}") from exc

    async def subscribe(self, channel: str, handler: Handler) -> None:
        first = not self._handlers[channel]
        self._handlers[channel].append(handler)
        if first:
            await self._listener().subscribe(self.key(channel))
        if self._reader is None:
            self._reader = asyncio.get_running_loop().create_task(self._read_forever())

    async def unsubscribe(self, channel: str, handler: Handler) -> None:
        handlers = self._handlers.get(channel)
        if handlers and handler in handlers:
            handlers.remove(handler)
            if not handlers and self._pubsub is not None:
                with suppress(RedisError):
                    await self._pubsub.unsubscribe(self.key(channel))

    async def ping(self) -> bool:
        try:
            return bool(await self._client().ping())
        except RedisError:
            return False

    async def _read_forever(self) -> None:
        """Dispatch messages; on a lost connection, back off and listen again (redis-py
        subscribes the same channels again when it reconnects)."""
        attempt = 0
        while True:
            try:
                message = await self._listener().get_message(timeout=1.0)
                attempt = 0
            except (RedisError, OSError) as exc:
                delay = RECONNECT_DELAYS[min(attempt, len(RECONNECT_DELAYS) - 1)]
                logger.warning("redis pub/sub lost (%s); retrying in %.1f s", exc, delay)
                attempt += 1
                await asyncio.sleep(delay)
                continue
            if message is not None and message["type"] == "message":
                self._dispatch(message["channel"].decode(), message["data"])

    def _dispatch(self, key: str, data: bytes) -> None:
        channel = key.removeprefix(f"{self._prefix}:")
        for handler in tuple(self._handlers.get(channel, ())):
            try:
                handler(data)
            except Exception:
                logger.exception("broker handler failed on channel %s", channel)

    def _client(self) -> aioredis.Redis:
        if self._redis is None:
            raise BrokerError("the broker is not started")
        return self._redis

    def _listener(self) -> aioredis.client.PubSub:
        if self._pubsub is None:
            raise BrokerError("the broker is not started")
        return self._pubsub
