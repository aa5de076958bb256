"""One contract for every broker backend."""

from __future__ import annotations

import asyncio

import pytest

from app.broker import create_broker


@pytest.fixture(params=["memory://"])
async def broker(request):
    instance = create_broker(request.param)
    await instance.start()
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


async def test_unsubscribed_handler_gets_nothing_more(broker):
    received: list[bytes] = []
    await broker.subscribe("c", received.append)
    await broker.unsubscribe("c", received.append)
    await broker.publish("c", b"x")
    await asyncio.sleep(0.05)
    assert received == []


async def test_a_failing_handler_does_not_stop_the_others(broker):
    def boom(message: bytes) -> None:
        raise RuntimeError("subscriber bug")

    await broker.subscribe("d", boom)
    received, arrived = await collect(broker, "d")
    await broker.publish("d", b"y")
    await asyncio.wait_for(arrived.wait(), 2)
    assert received == [b"y"]


async def test_ping_answers(broker):
    assert await broker.ping() is True


def test_unknown_scheme_is_named():
    with pytest.raises(ValueError, match="kafka"):
        create_broker("kafka://localhost")
