"""Limit counts shared by every instance on one Redis (BROKER_URL=redis://), under BROKER_PREFIX.

Rates: one counter per key and window, INCR then PEXPIRE on the first hit (a fixed window),
in one script so a crash between the two can't leave a counter that never expires.
A sign-in attempt is checked and counted in its windows (account and address, address,
account) in one script too, on a connection of its own: two instances can't both let in
the last attempt a window allows.
Opening a stream counts its rate and takes its slots in the same script: one round trip,
shared by the admissions asked for in the same turn of the event loop, on a connection of
its own (ScriptChannel: the stream-opening path, where redis-py's own work showed).

Concurrent streams: a sorted set per key (a principal, a salon) whose members are stream
leases scored by when they lapse. Admission is one script: drop lapsed leases, check every
key, add the lease to all or none. Each instance renews its own leases every third of
LEASE_SECONDS, so the streams of an instance that died stop counting within LEASE_SECONDS.
Why not the presence snapshots: they arrive every PRESENCE_INTERVAL, so two instances could
both admit the last slot in between; here the check and the take are one atomic step, and
Redis's own clock (TIME) is the only clock, whatever the instances' clocks say.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from contextlib import suppress
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from app.core.tasks import cancel_and_wait
from app.limits.base import LimitStoreError, Rate
from app.limits.script_channel import ScriptChannel

logger = logging.getLogger(__name__)

LEASE_SECONDS = 30.0
TIMEOUT = 1.0  # a stream is not held up longer than this by a slow or frozen Redis
RENEW_BATCH = 500

_NOW_MS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""
# A rate hit (INCR, and PEXPIRE on the first) then, within the rate, the slots: drop
# lapsed leases, check every key, add the lease to all or none.
# KEYS = [the rate's key if ARGV[2] > 0] + slot keys;
# ARGV = slot count, rate limit (0: none), window ms, lease, lease ms, slot limits...
ADMIT = (
    _NOW_MS
    + """
local slots, rate_limit, window = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local lease, ttl, first = ARGV[4], tonumber(ARGV[5]), 1
if rate_limit > 0 then
  first = 2
  local count = redis.call('INCR', KEYS[1])
  local left = redis.call('PTTL', KEYS[1])
  if left < 0 then
    redis.call('PEXPIRE', KEYS[1], window)
    left = window
  end
  if count > rate_limit then
    return {-1, left}
  end
end
for i = 1, slots do
  local key = KEYS[first + i - 1]
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  if redis.call('ZCARD', key) >= tonumber(ARGV[5 + i]) then
    return {i, 0}
  end
end
for i = 1, slots do
  local key = KEYS[first + i - 1]
  redis.call('ZADD', key, now + ttl, lease)
  redis.call('PEXPIRE', key, ttl)
end
return {0, 0}
"""
)
# A sign-in attempt counted in several windows at once or in none (ARGV[1] = 1), or one hit
# taken back from each (ARGV[1] = -1, never below 0).
# KEYS = the windows; ARGV = step, then a limit and a window (ms) per key.
COUNT = """
if tonumber(ARGV[1]) < 0 then
  for _, key in ipairs(KEYS) do
    if (tonumber(redis.call('GET', key)) or 0) > 0 then
      redis.call('DECR', key)
    end
  end
  return {0, 0}
end
for i, key in ipairs(KEYS) do
  if (tonumber(redis.call('GET', key)) or 0) >= tonumber(ARGV[2 * i]) then
    return {i, redis.call('PTTL', key)}
  end
end
for i, key in ipairs(KEYS) do
  redis.call('INCR', key)
  if redis.call('PTTL', key) < 0 then
    redis.call('PEXPIRE', key, ARGV[2 * i + 1])
  end
end
return {0, 0}
"""
RENEW = (
    _NOW_MS
    + """
local ttl = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, now + ttl, ARGV[i + 1])
  redis.call('PEXPIRE', key, ttl)
end
return #KEYS
"""
)


class RedisLimitStore:
    def __init__(self, url: str, prefix: str = "salon", lease_seconds: float = LEASE_SECONDS):
        self._url = url
        self._prefix = prefix
        self._lease_ms = int(lease_seconds * 1000)
        self._redis: aioredis.Redis | None = None
        self._renew: Any = None  # the RENEW script, registered with the client
        self._leases: dict[str, tuple[str, ...]] = {}  # this instance's: lease -> its keys
        self._renewer: asyncio.Task[None] | None = None
        self._admissions: ScriptChannel | None = None
        self._counts: ScriptChannel | None = None  # sign-in attempts (COUNT)

    def key(self, name: str) -> str:
        """The one place limit keys get their prefix."""
        return f"{self._prefix}:limits:{name}"

    async def start(self) -> None:
        self._redis = aioredis.from_url(
            self._url,
            socket_timeout=TIMEOUT,
            socket_connect_timeout=TIMEOUT,
            retry=Retry(NoBackoff(), 1),
        )
        self._renew = self._redis.register_script(RENEW)
        self._admissions = ScriptChannel(self._redis, ADMIT, TIMEOUT)
        self._counts = ScriptChannel(self._redis, COUNT, TIMEOUT)
        self._renewer = asyncio.get_running_loop().create_task(self._renew_forever())

    async def stop(self) -> None:
        await cancel_and_wait(self._renewer)
        self._renewer = None
        for channel in (self._admissions, self._counts):
            if channel is not None:
                channel.close()
        self._admissions = self._counts = None
        leases, self._leases = self._leases, {}
        if self._redis is not None:
            with suppress(RedisError, OSError):
                async with self._redis.pipeline(transaction=False) as pipe:
                    for lease, keys in leases.items():
                        for key in keys:
                            pipe.zrem(key, lease)
                    await pipe.execute()
            await self._redis.aclose()
            self._redis = None

    async def hit(self, key: str, limit: int, window: float) -> float:
        return (await self.hit_and_acquire(Rate(key, limit, window), "", []))[0]

    async def count(self, rates: Sequence[Rate]) -> tuple[int | None, float]:
        windows = [(rate.limit, max(1, int(rate.window * 1000))) for rate in rates]
        code, wait_ms = await self._count([rate.key for rate in rates], 1, windows)
        return (int(code) - 1, max(0, int(wait_ms)) / 1000) if int(code) else (None, 0.0)

    async def take_back(self, keys: Sequence[str]) -> None:
        await self._count(keys, -1, [])

    async def _count(
        self, keys: Sequence[str], step: int, windows: Sequence[tuple[int, int]]
    ) -> Any:
        """COUNT's reply: [index + 1 of the first full window (0: none), its ms left]."""
        if self._counts is None:
            raise LimitStoreError("the limit store is not started")
        args = [step, *(n for window in windows for n in window)]
        return await self._counts.run([self.key(name) for name in keys], args)

    async def acquire(self, lease: str, slots: Sequence[tuple[str, int]]) -> int | None:
        return (await self.hit_and_acquire(None, lease, slots))[1]

    async def hit_and_acquire(
        self, rate: Rate | None, lease: str, slots: Sequence[tuple[str, int]]
    ) -> tuple[float, int | None]:
        keys = [self.key(name) for name, _ in slots]
        head = [self.key(rate.key)] if rate is not None else []
        limit, window = (rate.limit, max(1, int(rate.window * 1000))) if rate else (0, 0)
        args = [len(slots), limit, window, lease, self._lease_ms, *(n for _, n in slots)]
        if self._admissions is None:
            raise LimitStoreError("the limit store is not started")
        code, wait_ms = await self._admissions.run(head + keys, args)
        if int(code) == -1:
            return int(wait_ms) / 1000, None
        if int(code):
            return 0.0, int(code) - 1
        if keys:
            self._leases[lease] = tuple(keys)
        return 0.0, None

    async def release(self, lease: str) -> None:
        held = self._leases.pop(lease, None)
        if not held or self._redis is None:
            return
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for key in held:
                    pipe.zrem(key, lease)
                await pipe.execute()
        except (RedisError, OSError) as exc:  # it lapses within LEASE_SECONDS anyway
            logger.warning("releasing a stream slot failed: %s", exc)

    async def _renew_forever(self) -> None:
        while True:
            await asyncio.sleep(self._lease_ms / 3000)
            pairs = [(key, lease) for lease, keys in self._leases.items() for key in keys]
            for start in range(0, len(pairs), RENEW_BATCH):
                batch = pairs[start : start + RENEW_BATCH]
                try:
                    await self._renew(
                        keys=[k for k, _ in batch], args=[self._lease_ms, *(m for _, m in batch)]
                    )
                except (RedisError, OSError) as exc:
                    logger.warning("renewing stream slots failed: %s", exc)
                    break
