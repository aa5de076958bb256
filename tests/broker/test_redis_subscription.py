"""The Redis broker's subscription, past what the contract says: bursts parsed many to a read,
and a Redis that stops answering noticed by its silence, not only by a closed socket."""

from __future__ import annotations

import asyncio
import logging
import uuid

from app.broker.redis import RedisBroker
from tests.utils.redis_server import REDIS_URL


async def test_a_burst_of_thousands_arrives_whole_and_in_order():
    broker = RedisBroker(REDIS_URL, prefix=f"test-{uuid.uuid4().hex[:12]}")
    await broker.start()
    received: list[bytes] = []
    try:
        await broker.subscribe("burst", received.append)
        # Sizes that straddle socket reads: hiredis gets partial replies between reads.
        sent = [f"{i}:".encode() + b"x" * (i % 700) for i in range(5_000)]
        for start in range(0, len(sent), 1_000):
            await broker.publish_many("burst", sent[start : start + 1_000])
        async with asyncio.timeout(10):
            while len(received) < len(sent):
                await asyncio.sleep(0.01)
        assert received == sent
    finally:
        await broker.stop()


async def test_a_silent_redis_is_given_up_then_listened_to_again(private_redis, caplog):
    """Frozen (SIGSTOP: the socket stays open, nothing answers), Redis is asked for a PING
    after the health interval and dropped when none comes; thawed, it is subscribed again
    and what is published reaches the handler."""
    broker = RedisBroker(private_redis.url, prefix="test", health_check_interval=0.3)
    await broker.start()
    received: list[bytes] = []
    try:
        await broker.subscribe("news", received.append)
        with caplog.at_level(logging.WARNING, logger="app.broker.redis"):
            await asyncio.to_thread(private_redis.freeze)
            try:
                async with asyncio.timeout(5):
                    while "no answer to PING" not in caplog.text:
                        await asyncio.sleep(0.05)
            finally:
                await asyncio.to_thread(private_redis.thaw)
        async with asyncio.timeout(10):
            while private_redis.numsub("test:news") < 1 or received:
                await asyncio.sleep(0.05)
            # Subscribed again (a dropped connection's subscription is gone from Redis).
            await broker.publish("news", b"after")
            while received != [b"after"]:
                await asyncio.sleep(0.05)
    finally:
        await broker.stop()
