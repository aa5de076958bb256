"""Redis down or silent for a while: notifications are still accepted and stored, the
clients that stay connected get them anyway (the database catch-up), and /readyz says so.

Each test runs its own redis-server on a free port and breaks that one; the machine's
Redis on 6379, which other tests share, is never touched.
"""

from __future__ import annotations

import asyncio
import time

import httpx

from tests.utils.cluster import (
    CUSTOMER_STREAM,
    Follower,
    assert_exactly_once_in_order,
    clients,
    instance_env,
    read_notifications,
    start_instances,
    wait_until,
)
from tests.utils.factories import API, Api, connect
from tests.utils.redis_server import RedisServer
from tests.utils.server import free_port
from tests.utils.sse import open_stream

ADMIN_STREAM = f"{API}/notifications/stream"

# Slow enough that a notification arriving well before it came over the bus.
CATCH_UP_INTERVAL = 2.0


async def readiness(api: Api, timeout: float = 2.0) -> tuple[int, dict[str, object], float]:
    """/readyz: status, body and how long it took to answer (it must answer in `timeout`)."""
    started = time.monotonic()
    try:
        response = await api.client.get("/readyz", timeout=timeout)
    except httpx.TimeoutException:
        raise AssertionError(
            f"/readyz of {api.server.base_url} did not answer within {timeout}s"
        ) from None
    return response.status_code, response.json(), time.monotonic() - started


async def test_redis_restart_loses_nothing_for_connected_clients_and_readyz_reports_it(
    api: Api, server_factory, private_redis: RedisServer
) -> None:
    salon = await api.create_salon()
    admin = await api.create_admin(salon.id)
    customer = await api.register_customer()
    env = instance_env(private_redis.url, CATCH_UP_INTERVAL=str(CATCH_UP_INTERVAL))
    one, two = await start_instances(server_factory, env)
    channel = f"{env['BROKER_PREFIX']}:notifications"

    async with clients(one, two) as (on_one, on_two):

        async def to_salon(via: Api) -> int:
            return int(
                (await via.notify(admin.token, recipient_type="salon", salon_id=salon.id)).id
            )

        async def to_customer(via: Api) -> int:
            note = await via.notify(
                admin.token, recipient_type="customer", recipient_id=customer.id
            )
            return int(note.id)

        admin_side, customer_side = Follower(admin), Follower(customer, CUSTOMER_STREAM)
        admin_side.last_event_id = customer_side.last_event_id = 0
        for_salon: list[int] = []
        for_customer: list[int] = []
        async with (
            admin_side.connect(on_one.client) as admin_stream,
            customer_side.connect(on_two.client) as customer_stream,
        ):
            for via in (on_one, on_two):
                assert (await readiness(via))[:2] == (
                    200,
                    {"ready": True, "database": True, "broker": True},
                )
            for_salon.append(await to_salon(on_two))
            for_customer.append(await to_customer(on_one))
            await admin_side.read_until(admin_stream, set(for_salon), timeout=1)
            await customer_side.read_until(customer_stream, set(for_customer), timeout=1)

            await asyncio.to_thread(private_redis.kill)

            for via in (on_one, on_two):
                status, body, _ = await readiness(via)
                assert (status, body["broker"], body["database"]) == (503, False, True), body
            # Accepted and stored while the bus is down, on either instance.
            for via in (on_one, on_two, on_one):
                for_salon.append(await to_salon(via))
                for_customer.append(await to_customer(via))
            stored = await api.notifications(admin.token, limit=200)
            assert {n["id"] for n in stored} >= set(for_salon)
            # The streams stay open and get them from the database, without reconnecting.
            deadline = CATCH_UP_INTERVAL + 2
            await admin_side.read_until(admin_stream, set(for_salon), timeout=deadline)
            await customer_side.read_until(customer_stream, set(for_customer), timeout=deadline)
            for via in (on_one, on_two):  # the outage lasts: still reported
                assert (await readiness(via))[0] == 503

            await asyncio.to_thread(private_redis.start)

            async def both_ready() -> bool:
                return all([(await readiness(via))[0] == 200 for via in (on_one, on_two)])

            await wait_until(both_ready, 10, "/readyz answers 200 on both instances again")

            async def both_listening() -> bool:
                return await asyncio.to_thread(private_redis.numsub, channel) == 2

            await wait_until(both_listening, 10, f"both instances subscribed to {channel} again")

            # Over the bus again: each arrives long before a catch-up round would bring it.
            for _ in range(3):
                started = time.monotonic()
                expected = await to_customer(on_one)
                for_customer.append(expected)
                assert await read_notifications(customer_stream, 1, timeout=deadline) == [expected]
                took = time.monotonic() - started
                assert took < CATCH_UP_INTERVAL / 4, f"{took:.2f}s: not over the bus"
            for_salon.append(await to_salon(on_two))
            await admin_side.read_until(admin_stream, set(for_salon), timeout=2)
            await admin_stream.expect_no_event(within=0.3)
            await customer_stream.expect_no_event(within=0.3)

    assert admin_side.connections == customer_side.connections == 1
    assert_exactly_once_in_order(admin_side.ids, for_salon, "admin connected through the outage")
    assert_exactly_once_in_order(
        customer_side.ids, for_customer, "customer connected through the outage"
    )


CONCURRENT_WRITES = 4
WRITE_BUDGET = 2.5  # seconds for all of them together while Redis does not answer
READYZ_BUDGET = 3.0  # a probe gives up after a few seconds; a hung check must not outlast it


async def test_a_redis_that_stops_answering_slows_neither_writes_nor_readiness(
    api: Api, server_factory, private_redis: RedisServer
) -> None:
    """A partition (Redis accepts connections but never answers, here SIGSTOP) must not
    hold writers for the client's socket timeout, one after the other: notifications are
    accepted about as fast as usual, /readyz answers 503 promptly, and connected clients
    get the notifications from the database."""
    salon = await api.create_salon()
    admin = await api.create_admin(salon.id)
    env = instance_env(private_redis.url, CATCH_UP_INTERVAL="0.2")
    one, two = await start_instances(server_factory, env)

    async with clients(one, two) as (on_one, on_two):
        on_one.client.timeout = httpx.Timeout(30)
        follower = Follower(admin)
        follower.last_event_id = 0
        async with follower.connect(on_two.client) as stream:
            await asyncio.to_thread(private_redis.freeze)
            try:

                async def create() -> tuple[int | str, float]:
                    started = time.monotonic()
                    try:
                        response = await on_one.send_notification(
                            admin.token, recipient_type="salon", salon_id=salon.id
                        )
                        outcome: int | str = response.status_code
                    except httpx.HTTPError as exc:
                        outcome = repr(exc)
                    return outcome, time.monotonic() - started

                started = time.monotonic()
                writes = await asyncio.gather(*(create() for _ in range(CONCURRENT_WRITES)))
                writes_took = time.monotonic() - started
                ready_status, ready_body, ready_took = await readiness(on_one, timeout=10)
                stored = [n["id"] for n in await api.notifications(admin.token, limit=200)]
                # Whatever the write path did, what was stored reaches the connected client.
                await follower.read_until(stream, set(stored), timeout=3)
            finally:
                await asyncio.to_thread(private_redis.thaw)

            problems = []
            if [outcome for outcome, _ in writes] != [201] * CONCURRENT_WRITES:
                problems.append(f"answers {writes}")
            if writes_took > WRITE_BUDGET:
                problems.append(
                    f"{CONCURRENT_WRITES} concurrent POST /notifications took {writes_took:.1f}s "
                    f"(each: {[round(t, 1) for _, t in writes]}), budget {WRITE_BUDGET}s"
                )
            if ready_status != 503 or ready_took > READYZ_BUDGET:
                problems.append(
                    f"/readyz answered {ready_status} {ready_body} after {ready_took:.1f}s; "
                    f"expected 503 within {READYZ_BUDGET}s"
                )
            assert not problems, "while Redis did not answer: " + "; ".join(problems)
            assert len(stored) == CONCURRENT_WRITES

            async def ready_again() -> bool:
                return (await readiness(on_one, timeout=10))[0] == 200

            await wait_until(ready_again, 15, "/readyz answers 200 once Redis answers again")
            expected = (await on_two.notify(admin.token, recipient_type="salon")).id
            stored.append(expected)
            await follower.read_until(stream, {expected}, timeout=3)

    assert follower.connections == 1
    assert_exactly_once_in_order(follower.ids, stored, "admin connected through the partition")


async def test_an_instance_starts_while_redis_is_down_and_says_so(server_factory):
    dead = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    srv = await asyncio.to_thread(server_factory, instance_env(dead))
    async with connect(srv) as api:
        ready = await api.client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["broker"] is False
        await api.ensure_superadmin()
        # The superadmin's operations view says so too, in words, and still answers.
        ops = await api.client.get(f"{API}/ops/overview", headers=api.auth(api.superadmin_token))
        assert ops.status_code == 200, ops.text
        health = ops.json()["health"]
        assert (health["status"], health["database"], health["broker"]) == (
            "degraded",
            True,
            False,
        ), health
        salon = await api.create_salon()
        admin = await api.create_admin(salon.id)
        async with open_stream(api.client, ADMIN_STREAM, token=admin.token) as stream:
            await stream.next_event()
            sent = await api.notify(admin.token, recipient_type="salon")  # stored: 201
            # No bus at all: the instance's own catch-up from the database delivers it.
            assert int((await stream.next_notification(timeout=5)).id) == sent.id
