"""The operations overview (GET /api/v1/ops/overview): superadmins only, and its figures
follow what happens, on one instance and across a deployment of two sharing the database
and the bus (PostgreSQL + Redis on the postgres backend)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.utils.cluster import (
    ADMIN_STREAM,
    CUSTOMER_STREAM,
    clients,
    instance_env,
    start_instances,
)
from tests.utils.factories import API, Api, assert_json_error, connect
from tests.utils.server import ServerProcess
from tests.utils.sse import open_stream

OVERVIEW = f"{API}/ops/overview"
SAMPLE_INTERVAL = "0.2"  # seconds per chart point, so the charts move within a test


async def overview(api: Api) -> dict[str, Any]:
    response = await api.client.get(OVERVIEW, headers=api.auth(api.superadmin_token))
    assert response.status_code == 200, response.text
    return dict(response.json())


async def overview_until(
    api: Api, check: Callable[[dict[str, Any]], bool], what: str, within: float = 10.0
) -> dict[str, Any]:
    """Poll the overview until `check` holds; fail with the last answer after `within` s."""
    deadline = time.monotonic() + within
    while True:
        body = await overview(api)
        if check(body):
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within}s: {what}\nlast overview: {body}")
        await asyncio.sleep(0.1)


def salon_row(body: dict[str, Any], salon_id: int) -> dict[str, Any]:
    return next((r for r in body["busiest_salons"] if r["salon_id"] == salon_id), {})


async def test_overview_is_for_superadmins_only(api: Api) -> None:
    salon = await api.create_salon()
    admin = await api.create_admin(salon.id)
    customer = await api.register_customer()

    assert_json_error(await api.client.get(OVERVIEW), 401)
    for account in (admin, customer):
        refused = await api.client.get(OVERVIEW, headers=account.headers)
        assert assert_json_error(refused, 403)["detail"] == "superadmin only"
    body = await overview(api)
    assert body["health"]["database"] is True and body["health"]["broker"] is True


async def test_figures_move_when_streams_open_and_notifications_are_created(
    api: Api, server_factory: Callable[..., ServerProcess]
) -> None:
    instance = await server_factory(
        {"OPS_SAMPLE_INTERVAL": SAMPLE_INTERVAL}, share_database=True, start=False
    ).astart()
    async with connect(instance) as ops, contextlib.AsyncExitStack() as stack:
        salon = await ops.create_salon()
        admin = await ops.create_admin(salon.id)
        customer = await ops.register_customer()
        before = await overview(ops)
        assert before["totals"]["total_connections"] == 0, before["totals"]
        assert before["health"]["database"] and before["health"]["broker"], before["health"]
        assert not salon_row(before, salon.id)

        admin_stream = await stack.enter_async_context(
            open_stream(ops.client, ADMIN_STREAM, token=admin.token)
        )
        await stack.enter_async_context(
            open_stream(ops.client, CUSTOMER_STREAM, token=customer.token)
        )
        assert (await admin_stream.next_event()).event == "connected"
        for _ in range(5):
            await ops.notify(admin.token, recipient_type="salon")
        for _ in range(5):
            await admin_stream.next_notification()

        def moved(body: dict[str, Any]) -> bool:
            series = body["series"]
            return (
                body["totals"]["active_admin_connections"] == 1
                and body["totals"]["active_customer_connections"] == 1
                and salon_row(body, salon.id).get("notifications_last_hour") == 5
                and round(sum(series["created_per_second"]) * series["interval"]) == 5
                and round(sum(series["deliveries_per_second"]) * series["interval"]) == 5
                and max(series["streams"], default=0) == 2
            )

        body = await overview_until(ops, moved, "streams and notifications in the overview")
        assert salon_row(body, salon.id) == {
            "salon_id": salon.id,
            "name": salon.name,
            "streams": 1,
            "notifications_last_hour": 5,
        }
        [row] = body["instances"]
        assert (row["instance"], row["total_connections"]) == (body["instance"], 2)
        latencies = [v for v in body["series"]["latency_p99_ms"] if v is not None]
        assert latencies and all(0 <= v < 10_000 for v in latencies), body["series"]
        points = len(body["series"]["t"])
        assert body["series"]["t"] == sorted(body["series"]["t"])

    # The streams closed: the open-streams figure falls back, the history stays.
    async with connect(instance) as ops:
        body = await overview_until(
            ops,
            lambda b: b["totals"]["total_connections"] == 0 and b["series"]["streams"][-1] == 0,
            "streams closed",
        )
        assert len(body["series"]["t"]) > points


@pytest.mark.timeout(90)
async def test_two_instances_appear_together(
    api: Api, server_factory: Callable[..., ServerProcess]
) -> None:
    salon = await api.create_salon()
    admin = await api.create_admin(salon.id)
    env = instance_env(OPS_SAMPLE_INTERVAL=SAMPLE_INTERVAL)
    one, two = await start_instances(server_factory, env, 2)
    async with clients(one, two) as apis, contextlib.AsyncExitStack() as stack:
        for each in apis:
            each.server.cache["superadmin_token"] = api.superadmin_token
        streams = [
            await stack.enter_async_context(open_stream(each.client, ADMIN_STREAM, admin.token))
            for each in apis
        ]
        for stream in streams:
            assert (await stream.next_event()).event == "connected"
        for _ in range(3):
            await apis[0].notify(admin.token, recipient_type="salon")
        for stream in streams:
            for _ in range(3):
                await stream.next_notification()

        def whole_deployment(body: dict[str, Any]) -> bool:
            series = body["series"]
            return (
                len(body["instances"]) == 2
                and body["totals"]["total_connections"] == 2
                and salon_row(body, salon.id).get("streams") == 2
                and round(sum(series["deliveries_per_second"]) * series["interval"]) == 6
                and round(sum(series["created_per_second"]) * series["interval"]) == 3
            )

        # Each instance answers for both: its own figures and the other's, from the bus.
        for each in apis:
            body = await overview_until(each, whole_deployment, f"both in {each.server.base_url}")
            assert [row["total_connections"] for row in body["instances"]] == [1, 1]
            ages = {row["instance"]: row["last_announcement_seconds"] for row in body["instances"]}
            assert ages[body["instance"]] == 0 and max(ages.values()) < 5, ages
            assert all(row["deliveries_per_second"] is not None for row in body["instances"])
