"""Who receives what: every kind of recipient connected at once, nothing leaks.

Two salons with two admins each, three customers, all streams open together
(one admin with a second tab, one customer with a second stream filtered on a
salon). Each stream and each REST list must hold exactly the ids routed to its
principal.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any

from tests.utils.factories import Account, Api
from tests.utils.sse import SSEStream, open_stream

ADMIN_STREAM = "/api/v1/notifications/stream"
CUSTOMER_STREAM = "/api/v1/notifications/customer/stream"


@dataclass
class Tab:
    """One open stream and the ids that must arrive on it."""

    name: str
    account: Account
    path: str
    params: dict[str, Any] | None = None
    expected: set[int] = field(default_factory=set)
    stream: SSEStream | None = None


async def notify(api: Api, token: str, **body: Any) -> int:
    return int((await api.notify(token, **body)).id)


async def received_ids(tab: Tab) -> list[int]:
    """Collect as many notifications as expected, then make sure nothing else comes."""
    assert tab.stream is not None
    got: list[int] = []
    for _ in tab.expected:
        event = await tab.stream.next_event(timeout=5.0)
        assert event.event == "notification", f"{tab.name}: unexpected {event!r} after {got}"
        got.append(int(event.id or 0))
    try:
        await tab.stream.expect_no_event(within=0.5)
    except AssertionError as exc:
        raise AssertionError(f"{tab.name}: got {got}, then more: {exc}") from exc
    return got


async def listed_ids(api: Api, token: str, **params: Any) -> list[int]:
    return [int(n["id"]) for n in await api.notifications(token, limit=200, **params)]


async def test_every_stream_and_list_gets_exactly_what_is_routed_to_it(api: Api) -> None:
    salons = [(await api.create_salon()).id for _ in range(2)]
    admins = {s: [await api.create_admin(s) for _ in range(2)] for s in salons}
    customers = [await api.register_customer() for _ in range(3)]
    salon_a, salon_b = salons

    tabs = [Tab(f"admin {a.id} of salon {s}", a, ADMIN_STREAM) for s in salons for a in admins[s]]
    tabs.append(
        Tab(f"second tab of admin {admins[salon_a][0].id}", admins[salon_a][0], ADMIN_STREAM)
    )
    tabs += [Tab(f"customer {c.id}", c, CUSTOMER_STREAM) for c in customers]
    filtered = Tab(
        f"customer {customers[0].id} filtered on salon {salon_a}",
        customers[0],
        CUSTOMER_STREAM,
        params={"salon_id": salon_a},
    )
    tabs.append(filtered)

    def tabs_of(account: Account) -> list[Tab]:
        return [t for t in tabs if t.account.id == account.id and t.account.role == account.role]

    expected_lists: dict[tuple[str, int], set[int]] = {
        (a.role, a.id): set() for s in salons for a in admins[s]
    }
    expected_lists.update({(c.role, c.id): set() for c in customers})

    def route(nid: int, *accounts: Account) -> None:
        for account in accounts:
            expected_lists[(account.role, account.id)].add(nid)
            for tab in tabs_of(account):
                if tab is not filtered:
                    tab.expected.add(nid)

    async with contextlib.AsyncExitStack() as stack:
        for tab in tabs:
            tab.stream = await stack.enter_async_context(
                open_stream(api.client, tab.path, token=tab.account.token, params=tab.params)
            )
            assert tab.stream.status_code == 200, f"{tab.name}: {tab.stream.text}"
            connected = await tab.stream.next_event(timeout=5.0)
            assert connected.event == "connected", f"{tab.name}: {connected!r}"

        for s in salons:
            sender = admins[s][0]
            route(await notify(api, sender.token, recipient_type="salon", salon_id=s), *admins[s])
            for admin in admins[s]:
                nid = await notify(
                    api, sender.token, recipient_type="user", recipient_id=admin.id, salon_id=s
                )
                route(nid, admin)
        for customer in customers:
            to_customer = {"recipient_type": "customer", "recipient_id": customer.id}
            tagged_a = await notify(api, admins[salon_a][1].token, salon_id=salon_a, **to_customer)
            route(tagged_a, customer)
            if customer is customers[0]:
                filtered.expected.add(tagged_a)
            route(
                await notify(api, api.superadmin_token, salon_id=salon_b, **to_customer), customer
            )
            route(await notify(api, api.superadmin_token, **to_customer), customer)

        results = await asyncio.gather(*(received_ids(tab) for tab in tabs))

    for tab, got in zip(tabs, results, strict=True):
        assert len(got) == len(set(got)), f"{tab.name}: duplicates in {got}"
        assert set(got) == tab.expected, f"{tab.name}: expected {sorted(tab.expected)}, got {got}"
        assert got == sorted(got), f"{tab.name}: out of order {got}"

    accounts = {(t.account.role, t.account.id): t.account for t in tabs}
    for key, expected in expected_lists.items():
        account = accounts[key]
        got = await listed_ids(api, account.token)
        assert set(got) == expected, f"list of {account.role} {account.id}: {got}"
        assert got == sorted(got, reverse=True), "newest first"
    assert set(await listed_ids(api, customers[0].token, salon_id=salon_a)) == filtered.expected
