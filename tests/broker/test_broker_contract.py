"""One contract for every broker backend."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from app.broker import create_broker
from tests.utils.redis_server import REDIS_URL


@pytest.fixture(params=["memory", "redis"])
async def broker(request):
    """Each backend; Redis gets a key prefix of its own so runs never mix. A Redis that does
    not answer fails the test (CI must have it), it is never skipped."""
    url = REDIS_URL if request.param == "redis" else "memory://"
    instance = create_broker(url, prefix=f"test-{uuid.uuid4().hex[:12]}")
    await instance.start()
    assert await instance.ping(), f"no broker answers at {url}"
    yield instance
    await instance.stop()


async def collect(broker, channel: str) -> tuple[list[bytes], asyncio.Event]:
    received: list[bytes] = []
    arrived = asyncio.Event()

    def handler(message: bytes) -> None:
        received.append(message)
        arrived.set()

    await broker.subscribe(channel, handler)
    return received, arrived


async def test_published_bytes_reach_every_subscriber_of_the_channel(broker):
    first, first_arrived = await collect(broker, "a")
    second, second_arrived = await collect(broker, "a")
    other, _ = await collect(broker, "b")
    await broker.publish("a", b"\x00payload\n")
    await asyncio.wait_for(first_arrived.wait(), 2)
    await asyncio.wait_for(second_arrived.wait(), 2)
    assert first == second == [b"\x00payload\n"]
    assert other == []


async def test_order_is_kept(broker):
    received, _ = await collect(broker, "ordered")
    for n in range(100):
        await broker.publish("ordered", str(n).encode())
    async with asyncio.timeout(2):
        while len(received) < 100:
            await asyncio.sleep(0.01)
    assert received == [str(n).encode() for n in range(100)]


async def test_publish_many_keeps_order_with_single_publishes(broker):
    received, _ = await collect(broker, "many")
    await broker.publish("many", b"first")
    await broker.publish_many("many", [str(n).encode() for n in range(250)])
    await broker.publish_many("many", [])
    await broker.publish("many", b"last")
    async with asyncio.timeout(2):
        while len(received) < 252:
            await asyncio.sleep(0.01)
    assert received == [b"first", *(str(n).encode() for n in range(250)), b"last"]


async def test_unsubscribed_handler_gets_nothing_more(broker):
    received: list[bytes] = []
    await broker.subscribe("c", received.append)
    await broker.unsubscribe("c", received.append)
    witness, arrived = await collect(broker, "c")
    await broker.publish("c", b"x")
    await asyncio.wait_for(arrived.wait(), 2)  # the witness heard it, so it was delivered
    assert witness == [b"x"]
    assert received == []


async def test_redis_brokers_of_one_prefix_hear_each_other_and_no_other_prefix():
    """Two instances of a deployment share a prefix; another deployment on the same Redis
    does not hear them."""
    prefix = f"test-{uuid.uuid4().hex[:12]}"
    one, two, stranger = (create_broker(REDIS_URL, p) for p in (prefix, prefix, prefix + "x"))
    for instance in (one, two, stranger):
        await instance.start()
    try:
        received, arrived = await collect(two, "shared")
        overheard, _ = await collect(stranger, "shared")
        await one.publish("shared", b"across")
        await asyncio.wait_for(arrived.wait(), 2)
        await asyncio.sleep(0.1)
        assert received == [b"across"]
        assert overheard == []
    finally:
        for instance in (one, two, stranger):
            await instance.stop()


async def test_a_failing_handler_does_not_stop_the_others(broker):
    def boom(message: bytes) -> None:
        raise RuntimeError("subscriber bug")

    await broker.subscribe("d", boom)
    received, _ = await collect(broker, "d")
    await broker.publish("d", b"y")
    await broker.publish_many("d", [b"z", b"w"])
    async with asyncio.timeout(2):
        while len(received) < 3:
            await asyncio.sleep(0.01)
    assert received == [b"y", b"z", b"w"]


async def test_ping_answers(broker):
    assert await broker.ping() is True


def test_unknown_scheme_is_named():
    with pytest.raises(ValueError, match="kafka"):
        create_broker("kafka://localhost")
