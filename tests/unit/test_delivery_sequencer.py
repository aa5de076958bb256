"""The delivery sequencer on its own (a real SQLite file, the memory broker, the real hub):
whatever order the bus brings ids in, a stream gets each one once, in id order, the
missing ones read from the database."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import pytest

from app.broker.memory import MemoryBroker
from app.core.connection import Connection, Subscription
from app.core.hub import Hub
from app.db.reads import Reads
from app.services.delivery import GAP_GRACE, DeliverySequencer
from app.services.publishing import envelope_of
from app.services.stored import StoredNotification
from app.services.writer import NotificationWriter
from tests.utils.rows import add_account, notification

CHANNEL = "notifications"


@pytest.fixture
async def hub() -> AsyncIterator[Hub]:
    manager = Hub(ping_interval=3600, max_pending=10_000)
    await manager.start()
    yield manager
    await manager.stop()


@pytest.fixture
async def sequencer(hub, sessions) -> AsyncIterator[DeliverySequencer]:
    # No periodic catch-up during the test: only what the bus brings starts a fill.
    reads = Reads(sessions.kw["bind"])
    sequencer = DeliverySequencer(hub, MemoryBroker(), CHANNEL, sessions, reads, poll_interval=3600)
    await sequencer.start()
    yield sequencer
    await sequencer.stop()
    await reads.stop()


async def store(writer: NotificationWriter, customer: int, count: int) -> list[StoredNotification]:
    item = notification("customer", recipient_id=customer)
    return await writer.create([item] * count)


async def received_ids(conn: Connection, expected: int) -> list[int]:
    """The ids of the notification frames the stream gets, until `expected` of them."""
    ids: list[int] = []
    async with asyncio.timeout(5):
        while len(ids) < expected:
            chunk = await conn.take()
            assert chunk is not None
            ids += [int(n) for n in re.findall(rb"^id: (\d+)$", chunk, re.MULTILINE)]
    return ids


def caught_up(hub: Hub) -> float:
    value = hub.metrics.registry.get_sample_value("salon_caught_up_from_database_total")
    return value or 0.0


async def test_out_of_order_ids_are_held_and_the_gap_read_from_the_database(
    hub, sequencer, sessions, quiet_writer
):
    customer = await add_account(sessions, "customer", None)
    stored = await store(quiet_writer, customer, 6)
    with hub.connect(Subscription("customer", customer)) as conn:
        for n in (stored[4], stored[2]):  # 5th then 3rd: 1, 2, 4 and 6 never came
            await sequencer.broker.publish(CHANNEL, envelope_of(n))
        assert await received_ids(conn, 6) == [n.id for n in stored]
        assert caught_up(hub) == 4
        assert sequencer.cursor == stored[-1].id


async def test_repeats_are_dropped_and_the_next_id_goes_straight_through(
    hub, sequencer, sessions, quiet_writer
):
    customer = await add_account(sessions, "customer", None)
    first = await store(quiet_writer, customer, 3)
    with hub.connect(Subscription("customer", customer)) as conn:
        for n in first:
            await sequencer.broker.publish(CHANNEL, envelope_of(n))
        assert await received_ids(conn, 3) == [n.id for n in first]
        [later] = await store(quiet_writer, customer, 1)
        for n in (first[1], first[0], later, later):
            await sequencer.broker.publish(CHANNEL, envelope_of(n))
        assert await received_ids(conn, 1) == [later.id]
        await asyncio.sleep(0.05)
        assert not conn.take_nowait()  # the repeats came to nothing
        assert caught_up(hub) == 0  # all in order: no database read


async def test_a_gap_longer_than_a_page_is_read_page_by_page(
    hub, sequencer, sessions, quiet_writer
):
    customer = await add_account(sessions, "customer", None)
    stored = await store(quiet_writer, customer, 1234)
    with hub.connect(Subscription("customer", customer)) as conn:
        await sequencer.broker.publish(CHANNEL, envelope_of(stored[-1]))
        assert await received_ids(conn, 1234) == [n.id for n in stored]
        assert caught_up(hub) == 1233


async def test_a_gap_the_bus_closes_within_the_grace_reads_nothing_from_the_database(
    hub, sequencer, sessions, quiet_writer
):
    """Two instances' publications racing: 2 arrives a moment before 1, 4 before 3. Each
    gap closes by itself, so the stream gets them in order with no database read."""
    customer = await add_account(sessions, "customer", None)
    stored = await store(quiet_writer, customer, 4)
    with hub.connect(Subscription("customer", customer)) as conn:
        for n in (stored[1], stored[0], stored[3], stored[2]):
            await sequencer.broker.publish(CHANNEL, envelope_of(n))
            await asyncio.sleep(GAP_GRACE / 10)  # each arrives on a later turn of the loop
        assert await received_ids(conn, 4) == [n.id for n in stored]
        await asyncio.sleep(GAP_GRACE * 3)  # past the grace: had a read been due, it ran
        assert caught_up(hub) == 0
        assert not conn.take_nowait()  # and nothing came twice


async def test_what_the_bus_never_brought_comes_with_the_next_poll(hub, sessions, quiet_writer):
    """A silent bus (a publisher that crashed after its commit): the periodic look at the
    newest id finds it past the cursor and the stream gets it from the database."""
    reads = Reads(sessions.kw["bind"])
    sequencer = DeliverySequencer(hub, MemoryBroker(), CHANNEL, sessions, reads, poll_interval=0.05)
    await sequencer.start()
    try:
        customer = await add_account(sessions, "customer", None)
        with hub.connect(Subscription("customer", customer)) as conn:
            stored = await store(quiet_writer, customer, 2)  # published where nobody hears
            assert await received_ids(conn, 2) == [n.id for n in stored]
            assert caught_up(hub) == 2
    finally:
        await sequencer.stop()
        await reads.stop()
