"""Several instances, one database, one Redis: nothing lost and nothing repeated when an
instance dies, and when many write at once while a client hops between instances.

Runs on both backends (the session database is shared by every instance of a test).
"""

from __future__ import annotations

import asyncio
import random

from tests.utils.cluster import (
    CUSTOMER_STREAM,
    Follower,
    assert_exactly_once_in_order,
    clients,
    instance_env,
    start_instances,
)
from tests.utils.factories import Api


async def test_clients_of_a_killed_instance_resume_on_another_with_nothing_lost_or_repeated(
    api: Api, server_factory
) -> None:
    salon = await api.create_salon()
    admin = await api.create_admin(salon.id)
    customer = await api.register_customer()
    one, two = await start_instances(server_factory, instance_env())

    async with clients(one, two) as (on_one, on_two):

        async def to_customer(via: Api) -> int:
            note = await via.notify(
                admin.token,
                recipient_type="customer",
                recipient_id=customer.id,
                salon_id=salon.id,
            )
            return int(note.id)

        async def to_salon(via: Api) -> int:
            return int(
                (await via.notify(admin.token, recipient_type="salon", salon_id=salon.id)).id
            )

        roaming = Follower(customer, CUSTOMER_STREAM)
        staying = Follower(admin)
        roaming.last_event_id = staying.last_event_id = 0  # a fresh salon and customer
        for_customer: list[int] = []
        for_salon: list[int] = []
        async with staying.connect(on_two.client) as admin_stream:
            async with roaming.connect(on_one.client) as customer_stream:
                for via in (on_one, on_two, on_one):
                    for_customer.append(await to_customer(via))
                    for_salon.append(await to_salon(via))
                await roaming.read_until(customer_stream, set(for_customer), timeout=5)

                await asyncio.to_thread(one.kill)  # SIGKILL: no drain, no goodbye
                await customer_stream.wait_closed(timeout=5)

            # While the customer is away the survivor takes every write. The session server
            # (memory broker) stands for an instance that died between commit and publish:
            # what it stores reaches the others only through the database.
            for via in (on_two, on_two):
                for_customer.append(await to_customer(via))
                for_salon.append(await to_salon(via))
            for_customer.append(await to_customer(api))

            async with roaming.connect(on_two.client) as customer_stream:
                await roaming.read_until(customer_stream, set(for_customer), timeout=5)
                for_customer.append(await to_customer(on_two))
                await roaming.read_until(customer_stream, set(for_customer), timeout=5)
                await customer_stream.expect_no_event(within=0.5)

            # Never on the bus and nothing published after it: only the periodic catch-up
            # (CATCH_UP_INTERVAL) brings it to the admin who stayed connected.
            for_salon.append(await to_salon(api))
            await staying.read_until(admin_stream, set(for_salon), timeout=3)
            await admin_stream.expect_no_event(within=0.3)

    assert roaming.connections == 2
    assert_exactly_once_in_order(roaming.ids, for_customer, "the customer who reconnected")
    assert_exactly_once_in_order(staying.ids, for_salon, "the admin who stayed connected")


CREATORS_PER_INSTANCE = 4
NOTIFICATIONS_PER_CREATOR = 25


async def test_concurrent_creators_reach_a_client_hopping_between_instances_once_and_in_order(
    api: Api, server_factory
) -> None:
    salon = await api.create_salon()
    admin = await api.create_admin(salon.id)
    one, two = await start_instances(server_factory, instance_env())
    rng = random.Random(20261127)

    async with clients(one, two) as apis:
        created: list[int] = []
        creating = True

        async def creator(via: Api, number: int) -> None:
            for _ in range(NOTIFICATIONS_PER_CREATOR):
                note = await via.notify(
                    admin.token, recipient_type="salon", salon_id=salon.id, title=f"c{number}"
                )
                created.append(int(note.id))
                await asyncio.sleep(rng.uniform(0, 0.05))

        hopping = Follower(admin)
        hopping.last_event_id = 0  # a fresh salon: everything it ever gets
        stayers = [Follower(admin), Follower(admin)]

        async def hop() -> None:
            """Reconnect again and again, alternating instances, each time after a short
            random read; sometimes the resume point is the query parameter."""
            while creating:
                via = apis[hopping.connections % 2]
                in_query = hopping.connections % 3 == 2
                async with hopping.connect(via.client, resume_in_query=in_query) as stream:
                    await asyncio.sleep(rng.uniform(0.03, 0.2))
                    assert not stream.closed, f"the server ended the stream: {stream!r}"

        async with (
            stayers[0].connect(apis[0].client) as stream_on_one,
            stayers[1].connect(apis[1].client) as stream_on_two,
        ):
            hopper = asyncio.create_task(hop())
            try:
                await asyncio.gather(
                    *(
                        creator(via, number)
                        for number in range(CREATORS_PER_INSTANCE)
                        for via in apis
                    )
                )
            finally:
                creating = False
                await asyncio.wait_for(hopper, 10)
            assert (
                len(created)
                == len(set(created))
                == 2 * CREATORS_PER_INSTANCE * NOTIFICATIONS_PER_CREATOR
            )

            via = apis[hopping.connections % 2]
            async with hopping.connect(via.client) as stream:
                await hopping.read_until(stream, set(created), timeout=10)
                await stream.expect_no_event(within=0.3)
            await stayers[0].read_until(stream_on_one, set(created), timeout=10)
            await stayers[1].read_until(stream_on_two, set(created), timeout=10)

    assert hopping.connections >= 6, f"only {hopping.connections} connections"
    assert_exactly_once_in_order(hopping.ids, created, "the client that kept reconnecting")
    for number, stayer in enumerate(stayers, 1):
        assert_exactly_once_in_order(
            stayer.ids, created, f"the client staying on instance {number}"
        )
