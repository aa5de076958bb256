"""Connection statistics as the superadmin sees them while clients come and go.

Other tests share the server, so each test takes the stats it finds as its
baseline and expects exactly the baseline plus its own fresh principals.
"""

from __future__ import annotations

import contextlib
from typing import Any

import httpx
import pytest

from tests.utils.factories import Account, Api, assert_json_error
from tests.utils.server import ServerProcess
from tests.utils.sse import open_stream
from tests.utils.stats import STATS, read_stats, wait_for_stats

ADMIN_STREAM = "/api/v1/notifications/stream"
CUSTOMER_STREAM = "/api/v1/notifications/customer/stream"
KEYS = (
    "active_admin_connections",
    "active_customer_connections",
    "total_connections",
    "admins",
    "customers",
)


def _view(body: dict[str, Any]) -> dict[str, Any]:
    assert body["admins"] == sorted(body["admins"]), f"admins not sorted: {body}"
    assert body["customers"] == sorted(body["customers"]), f"customers not sorted: {body}"
    return {key: body[key] for key in KEYS}


async def get_stats(api: Api) -> dict[str, Any]:
    return _view(await read_stats(api))


def expected_stats(
    baseline: dict[str, Any], admin_conns: list[Account], customer_conns: list[Account]
) -> dict[str, Any]:
    """Baseline plus one connection per entry; principals listed once, sorted."""
    pairs = {tuple(p) for p in baseline["admins"]} | {(a.salon_id, a.id) for a in admin_conns}
    admins = baseline["active_admin_connections"] + len(admin_conns)
    customers = baseline["active_customer_connections"] + len(customer_conns)
    return {
        "active_admin_connections": admins,
        "active_customer_connections": customers,
        "total_connections": admins + customers,
        "admins": [list(p) for p in sorted(pairs)],
        "customers": sorted(set(baseline["customers"]) | {c.id for c in customer_conns}),
    }


async def wait_for(api: Api, expected: dict[str, Any], within: float = 3.0) -> None:
    await wait_for_stats(api, expected, within, view=_view)


class Streams:
    """Streams that can be opened and closed one by one."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.open: dict[str, tuple[Account, contextlib.AsyncExitStack]] = {}

    async def connect(self, name: str, account: Account, path: str, **params: Any) -> None:
        stack = contextlib.AsyncExitStack()
        stream = await stack.enter_async_context(
            open_stream(self.api.client, path, token=account.token, params=params or None)
        )
        assert stream.status_code == 200, f"{name}: {stream.text}"
        event = await stream.next_event(timeout=5.0)
        assert event.event == "connected", f"{name}: {event!r}"
        self.open[name] = (account, stack)

    async def close(self, name: str) -> None:
        _, stack = self.open.pop(name)
        await stack.aclose()

    async def close_all(self) -> None:
        for name in list(self.open):
            await self.close(name)

    def accounts(self, prefix: str) -> list[Account]:
        return [account for name, (account, _) in self.open.items() if name.startswith(prefix)]


async def test_stats_count_connections_and_list_each_connected_principal_once(
    api: Api,
) -> None:
    salon_a = (await api.create_salon()).id
    salon_b = (await api.create_salon()).id
    a1, a2 = await api.create_admin(salon_a), await api.create_admin(salon_a)
    b1 = await api.create_admin(salon_b)
    c1, c2, c3 = [await api.register_customer() for _ in range(3)]
    baseline = await get_stats(api)

    streams = Streams(api)
    try:
        await streams.connect("admin a1 tab 1", a1, ADMIN_STREAM)
        await streams.connect("admin a1 tab 2", a1, ADMIN_STREAM)
        await streams.connect("admin a2", a2, ADMIN_STREAM)
        await streams.connect("admin b1", b1, ADMIN_STREAM)
        await streams.connect("customer c1 all", c1, CUSTOMER_STREAM)
        await streams.connect("customer c1 salon a", c1, CUSTOMER_STREAM, salon_id=salon_a)
        await streams.connect("customer c2", c2, CUSTOMER_STREAM)
        await streams.connect("customer c3", c3, CUSTOMER_STREAM)

        async def check() -> None:
            expected = expected_stats(
                baseline, streams.accounts("admin"), streams.accounts("customer")
            )
            await wait_for(api, expected)

        await check()
        current = await get_stats(api)
        assert current["active_admin_connections"] - baseline["active_admin_connections"] == 4
        assert current["active_customer_connections"] - baseline["active_customer_connections"] == 4

        # One of two tabs closed: one connection fewer, the admin still listed once.
        await streams.close("admin a1 tab 2")
        await check()
        assert [salon_a, a1.id] in (await get_stats(api))["admins"]

        # The only stream of a2 closed: a2 no longer listed.
        await streams.close("admin a2")
        await check()
        assert [salon_a, a2.id] not in (await get_stats(api))["admins"]

        await streams.close("customer c1 all")
        await check()
        assert c1.id in (await get_stats(api))["customers"]

        await streams.close("customer c3")
        await check()
        assert c3.id not in (await get_stats(api))["customers"]
    finally:
        await streams.close_all()

    await wait_for(api, expected_stats(baseline, [], []))


async def test_stats_drop_back_when_clients_go_away(api: Api, server: ServerProcess) -> None:
    salon_id = (await api.create_salon()).id
    admins = [await api.create_admin(salon_id) for _ in range(2)]
    customers = [await api.register_customer() for _ in range(2)]
    baseline = await get_stats(api)

    # Each stream on its own client, as separate browsers would be.
    async with contextlib.AsyncExitStack() as stack:
        for account in [*admins, *customers]:
            own = await stack.enter_async_context(httpx.AsyncClient(base_url=server.base_url))
            path = ADMIN_STREAM if account.role == "admin" else CUSTOMER_STREAM
            stream = await stack.enter_async_context(open_stream(own, path, token=account.token))
            assert stream.status_code == 200, stream.text
            assert (await stream.next_event(timeout=5.0)).event == "connected"
        await wait_for(api, expected_stats(baseline, admins, customers))

    await wait_for(api, expected_stats(baseline, [], []))


@pytest.mark.parametrize("role", ["admin", "customer", "anonymous"])
async def test_stats_are_for_the_superadmin_only(api: Api, role: str) -> None:
    headers: dict[str, str] = {}
    if role == "admin":
        salon_id = (await api.create_salon()).id
        headers = api.auth((await api.create_admin(salon_id)).token)
    elif role == "customer":
        headers = api.auth((await api.register_customer()).token)
    response = await api.client.get(STATS, headers=headers)
    assert_json_error(response, (401 if role == "anonymous" else 403))


async def test_refused_streams_are_never_counted(api: Api) -> None:
    customer = await api.register_customer()
    salon_id = (await api.create_salon()).id
    admin = await api.create_admin(salon_id)
    baseline = await get_stats(api)
    for account, path in [(customer, ADMIN_STREAM), (admin, CUSTOMER_STREAM)]:
        async with open_stream(api.client, path, token=account.token) as stream:
            assert stream.status_code == 403, stream.text
            assert await get_stats(api) == expected_stats(baseline, [], [])
