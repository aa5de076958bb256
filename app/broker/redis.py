"""Redis pub/sub broker: every instance sharing one Redis hears every publication.

Pub/sub delivers only to who is listening at that moment; what an instance misses
while disconnected is caught up from the database, the source of truth.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict, deque
from collections.abc import Callable, Sequence
from typing import Any

import hiredis
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from app.broker.base import BrokerError, Handler
from app.core import redis_wire
from app.core.tasks import cancel_and_wait

logger = logging.getLogger(__name__)

RECONNECT_DELAYS = (0.1, 0.2, 0.5, 1.0, 2.0)
COMMAND_TIMEOUT = 1.0  # seconds a publish or ping may wait for Redis
DOWN_BACKOFF = 1.0  # seconds publishes are skipped after one failed
HEALTH_CHECK_INTERVAL = 10.0  # seconds of silence on the subscription before a PING


class RedisBroker:
    batch_size = 200  # one pipelined round trip: ~14 us a message, against ~23 at 20, ~100 alone

    def __init__(
        self, url: str, prefix: str = "salon", health_check_interval: float = HEALTH_CHECK_INTERVAL
    ) -> None:
        self._url = url
        self._health_check_interval = health_check_interval
        self._prefix = prefix
        self._handlers: defaultdict[str, list[Handler]] = defaultdict(list)
        self._redis: aioredis.Redis | None = None
        self._subscription: _Subscription | None = None
        self._subscribed = asyncio.Event()  # connected, every channel with handlers on it
        self._listener: asyncio.Task[None] | None = None
        self._down_until = 0.0  # after a failed publish, don't wait on Redis again before

    def key(self, channel: str) -> str:
        """The one place channel names get their prefix."""
        return f"{self._prefix}:{channel}"

    async def start(self) -> None:
        # Short timeouts: a Redis that stops answering must not hold up writers (the
        # notifications are stored already; instances catch up from the database).
        # One immediate retry on a broken connection: after a Redis restart the pooled
        # connections are dead, and the first command on each would fail otherwise.
        self._redis = aioredis.from_url(
            self._url,
            health_check_interval=10,
            socket_timeout=COMMAND_TIMEOUT,
            socket_connect_timeout=COMMAND_TIMEOUT,
            retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        )

    async def stop(self) -> None:
        await cancel_and_wait(self._listener)
        self._listener = None
        if self._subscription is not None:
            self._subscription.fail("the broker is stopped")
            self._subscription = None
        if self._redis is not None:
            await self._redis.aclose()
        self._handlers.clear()

    async def publish(self, channel: str, message: bytes) -> None:
        loop = asyncio.get_running_loop()
        if loop.time() < self._down_until:
            raise BrokerError("redis was unreachable a moment ago; not waiting on it again")
        try:
            await self._client().publish(self.key(channel), message)
        except (RedisError, OSError) as exc:
            self._down_until = loop.time() + DOWN_BACKOFF
            raise BrokerError(f"publish on {channel!r} failed: {exc}") from exc

    async def publish_many(self, channel: str, messages: Sequence[bytes]) -> None:
        """One pipelined round trip (not a transaction) for all of them, in order."""
        loop = asyncio.get_running_loop()
        if loop.time() < self._down_until:
            raise BrokerError("redis was unreachable a moment ago; not waiting on it again")
        key = self.key(channel)
        try:
            async with self._client().pipeline(transaction=False) as pipe:
                for message in messages:
                    pipe.publish(key, message)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            self._down_until = loop.time() + DOWN_BACKOFF
            raise BrokerError(f"publish on {channel!r} failed: {exc}") from exc

    async def subscribe(self, channel: str, handler: Handler) -> None:
        first = not self._handlers[channel]
        self._handlers[channel].append(handler)
        if self._listener is None:
            self._listener = asyncio.get_running_loop().create_task(self._listen_forever())
        if not first:
            return
        try:  # subscribed when this returns, unless Redis is down: the listener then retries
            async with asyncio.timeout(COMMAND_TIMEOUT * 2):
                await self._subscribed.wait()  # the listener's connection, all channels on it
                subscription = self._subscription
                if subscription is None:  # lost again: the listener's next one takes them all
                    raise BrokerError("the subscription was lost")
                await subscription.subscribe([self.key(channel)])
        except (BrokerError, TimeoutError) as exc:
            logger.warning("redis subscribe to %s failed (%s); will retry", channel, exc)

    async def unsubscribe(self, channel: str, handler: Handler) -> None:
        handlers = self._handlers.get(channel)
        if handlers and handler in handlers:
            handlers.remove(handler)
            if not handlers and self._subscription is not None:
                self._subscription.unsubscribe(self.key(channel))

    async def ping(self) -> bool:
        try:
            return bool(await self._client().ping())
        except RedisError:
            return False

    async def _listen_forever(self) -> None:
        """Hold a subscribed connection; when it is lost (or stops answering), back off,
        then listen again on a fresh one subscribed to every channel."""
        attempt = 0
        while True:
            try:
                subscription = _Subscription(
                    await redis_wire.connect(self._client(), COMMAND_TIMEOUT), self._dispatch
                )
                self._subscription = subscription
                channels = [self.key(c) for c, handlers in self._handlers.items() if handlers]
                if channels:
                    async with asyncio.timeout(COMMAND_TIMEOUT):
                        await subscription.subscribe(channels)
                self._subscribed.set()
                self._down_until = 0.0  # Redis answers again: publishing may wait on it
                attempt = 0
                why = await subscription.watch(self._health_check_interval, COMMAND_TIMEOUT)
            except (RedisError, OSError, TimeoutError, BrokerError) as exc:
                why = str(exc) or type(exc).__name__
            self._subscribed.clear()
            if self._subscription is not None:
                self._subscription.fail("replaced")
                self._subscription = None
            delay = RECONNECT_DELAYS[min(attempt, len(RECONNECT_DELAYS) - 1)]
            logger.warning("redis pub/sub lost (%s); retrying in %.1f s", why, delay)
            attempt += 1
            await asyncio.sleep(delay)

    def _dispatch(self, key: bytes, data: bytes) -> None:
        self._down_until = 0.0  # Redis speaks: publishing may wait on it again
        channel = key.decode().removeprefix(f"{self._prefix}:")
        for handler in tuple(self._handlers.get(channel, ())):
            try:
                handler(data)
            except Exception:
                logger.exception("broker handler failed on channel %s", channel)

    def _client(self) -> aioredis.Redis:
        if self._redis is None:
            raise BrokerError("the broker is not started")
        return self._redis


class _Subscription(redis_wire.TakenConnection):
    """The connection this instance hears its channels on: each message is dispatched as
    it is parsed, many per read (redis-py's PubSub cost ~30 µs a message; this ~3)."""

    def __init__(self, made_by: Any, dispatch: Callable[[bytes, bytes], None]) -> None:
        super().__init__(made_by)
        self._dispatch = dispatch
        loop = asyncio.get_running_loop()
        self._lost: asyncio.Future[str] = loop.create_future()
        self._confirming: deque[tuple[bytes, asyncio.Future[None]]] = deque()
        self._heard = loop.time()

    async def subscribe(self, keys: list[str]) -> None:
        """Subscribed to `keys` once Redis has confirmed each."""
        self.write([("SUBSCRIBE", *keys)])
        loop = asyncio.get_running_loop()
        confirmations = [loop.create_future() for _ in keys]
        self._confirming.extend(zip((k.encode() for k in keys), confirmations, strict=True))
        await asyncio.gather(*confirmations)

    def unsubscribe(self, key: str) -> None:
        if self.usable:
            self.write([("UNSUBSCRIBE", key)])

    async def watch(self, interval: float, answer_within: float) -> str:
        """Until the connection is lost, why; silent for `interval`, it is asked for a PING,
        and given up if nothing comes within `answer_within` (a Redis that stopped)."""
        loop = asyncio.get_running_loop()
        while not self._lost.done():
            await asyncio.wait([self._lost], timeout=interval)
            if self._lost.done() or loop.time() - self._heard < interval:
                continue
            asked = loop.time()
            self.write([("PING",)])
            await asyncio.wait([self._lost], timeout=answer_within)
            if self._heard < asked:
                self.fail(f"no answer to PING within {answer_within} s")
        return self._lost.result()

    def data_received(self, data: bytes) -> None:
        self._heard = asyncio.get_running_loop().time()
        super().data_received(data)

    def reply_received(self, reply: Any) -> None:
        if isinstance(reply, list) and len(reply) == 3:  # RESP3: a push, a list subclass
            kind = reply[0]
            if kind == b"message":
                self._dispatch(reply[1], reply[2])
                return
            if kind == b"subscribe" and self._confirming:
                key, confirmed = self._confirming.popleft()
                if key != reply[1]:
                    self.fail("a confirmation out of step")
                elif not confirmed.done():
                    confirmed.set_result(None)
                return
        if isinstance(reply, hiredis.ReplyError):
            self.fail(f"redis: {reply}")
        # Otherwise an unsubscribe's confirmation or a PONG: hearing it was the point.

    def failed(self, why: str) -> None:
        for _, confirmed in self._confirming:
            if not confirmed.done():
                confirmed.set_exception(BrokerError(why))
        self._confirming.clear()
        if not self._lost.done():
            self._lost.set_result(why)
