"""Stream stats of a deployment: every instance answers for all of them, with a breakdown
per instance; an instance that dies stops being counted after a few presence intervals."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any

from tests.utils.cluster import (
    ADMIN_STREAM,
    CUSTOMER_STREAM,
    clients,
    instance_env,
    start_instances,
)
from tests.utils.factories import Account, Api
from tests.utils.server import ServerProcess
from tests.utils.sse import open_stream
from tests.utils.stats import wait_for_stats

PRESENCE_INTERVAL = 0.2
# Presence counts a silent instance for 12 intervals (2.4 s here): allow that and some.
DEAD_FORGOTTEN_WITHIN = 12 * PRESENCE_INTERVAL + 2.5


def instance_name(instance: ServerProcess) -> str:
    return f"{socket.gethostname()}:{instance.pid}"


def expected_stats(tabs: dict[ServerProcess, list[Account]]) -> dict[str, Any]:
    """The stats of these open streams: totals, principals once each, and per instance."""
    per_instance = []
    for instance, accounts in tabs.items():
        admins = sum(1 for a in accounts if a.role == "admin")
        per_instance.append(
            {
                "instance": instance_name(instance),
                "active_admin_connections": admins,
                "active_customer_connections": len(accounts) - admins,
                "total_connections": len(accounts),
                "slow_consumers_dropped": 0,
            }
        )
    everyone = [a for accounts in tabs.values() for a in accounts]
    admins = sum(s["active_admin_connections"] for s in per_instance)
    return {
        "active_admin_connections": admins,
        "active_customer_connections": len(everyone) - admins,
        "total_connections": len(everyone),
        "admins": sorted({(a.salon_id, a.id) for a in everyone if a.role == "admin"}),
        "customers": sorted({a.id for a in everyone if a.role == "customer"}),
        "slow_consumers_dropped": 0,
        "instances": sorted(per_instance, key=lambda s: s["instance"]),
    }


def _view(body: dict[str, Any]) -> dict[str, Any]:
    return {**body, "admins": [tuple(pair) for pair in body["admins"]]}


class Tabs:
    """Streams opened on given instances, closed one by one or all at the end."""

    def __init__(self, stack: contextlib.AsyncExitStack) -> None:
        self.stack = stack
        self.open: dict[ServerProcess, list[Account]] = {}

    async def open_on(self, api: Api, account: Account) -> None:
        path = ADMIN_STREAM if account.role == "admin" else CUSTOMER_STREAM
        stream = await self.stack.enter_async_context(
            open_stream(api.client, path, token=account.token)
        )
        assert (await stream.next_event()).event == "connected"
        self.open.setdefault(api.server, []).append(account)

    def forget(self, instance: ServerProcess) -> None:
        self.open.pop(instance)


async def test_every_instance_reports_the_whole_deployment_and_forgets_a_dead_one(
    api: Api, server_factory
) -> None:
    salon = await api.create_salon()
    admin = await api.create_admin(salon.id)
    customer = await api.register_customer()
    env = instance_env(PRESENCE_INTERVAL=str(PRESENCE_INTERVAL))
    one, two, three = await start_instances(server_factory, env, 3)

    async with clients(one, two, three) as apis, contextlib.AsyncExitStack() as stack:
        for each in apis:
            each.server.cache["superadmin_token"] = api.superadmin_token
        on_one, on_two, on_three = apis
        tabs = Tabs(stack)
        await tabs.open_on(on_one, admin)
        await tabs.open_on(on_one, admin)  # a second tab: two connections, one pair
        await tabs.open_on(on_one, customer)
        await tabs.open_on(on_two, admin)
        await tabs.open_on(on_two, customer)
        await tabs.open_on(on_three, customer)
        expected = expected_stats(tabs.open)
        assert (expected["total_connections"], len(expected["instances"])) == (6, 3)
        await wait_for_stats(apis, expected, 3, view=_view)

        await asyncio.to_thread(two.kill)  # SIGKILL: no goodbye, its snapshot goes stale
        tabs.forget(two)
        expected = expected_stats(tabs.open)
        await wait_for_stats([on_one, on_three], expected, DEAD_FORGOTTEN_WITHIN, view=_view)

        await three.astop()  # SIGTERM: it says goodbye, so it is forgotten at once
        tabs.forget(three)
        await wait_for_stats([on_one], expected_stats(tabs.open), 1.5, view=_view)
