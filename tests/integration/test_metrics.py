"""GET /metrics: read before and after, the counters and gauges move by exactly what was done.

Nothing else moves a test's figures meanwhile: the first reading has a server of its own,
the others share the module's, which each leaves with no stream open. Whole
readings are compared: every `salon_*` series that moved is listed, so a counter moving
when it should not fails as surely as one that stays still.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from tests.utils.cluster import REDIS_URL, clients, instance_env, start_instances
from tests.utils.factories import API, Account, Api, connect
from tests.utils.metrics import Samples, changes, moved, scrape, value
from tests.utils.server import ServerProcess
from tests.utils.sse import SSEStream, open_stream

ADMIN_STREAM = f"{API}/notifications/stream"
CUSTOMER_STREAM = f"{API}/notifications/customer/stream"
# What streams and notifications move. Others move with time (event loop lag, say) or with
# timing (delivery from the database instead of the bus), not with what a test does.
FAMILIES = (
    "salon_active_connections",
    "salon_connections_opened_total",
    "salon_connections_closed_total",
    "salon_connection_duration_seconds_count",
    "salon_notifications_created_total",
    "salon_deliveries_total",
    "salon_delivery_latency_seconds_count",
    "salon_failed_deliveries_total",
    "salon_slow_consumers_dropped_total",
    "salon_replayed_events_total",
    "salon_broker_publish_failures_total",
    "salon_limit_refusals_total",
)


async def settle(client: httpx.AsyncClient, check: Callable[[Samples], bool]) -> Samples:
    """Scrape until `check` holds (the server notices a closed stream a moment later)."""
    async with asyncio.timeout(10):
        while not check(samples := await scrape(client)):
            await asyncio.sleep(0.05)
    return samples


@contextlib.asynccontextmanager
async def streams(api: Api, *opened: tuple[str, Account]) -> AsyncIterator[list[SSEStream]]:
    async with contextlib.AsyncExitStack() as stack:
        got = []
        for path, account in opened:
            stream = await stack.enter_async_context(
                open_stream(api.client, path, token=account.token)
            )
            assert (await stream.next_event()).event == "connected"
            got.append(stream)
        yield got


async def test_every_series_is_there_from_the_start_in_prometheus_text(
    server_factory: Callable[..., ServerProcess],
) -> None:
    srv = await asyncio.to_thread(server_factory)
    async with httpx.AsyncClient(base_url=srv.base_url, timeout=10) as client:
        response = await client.get("/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain; version=")
        samples = await scrape(client)
    names = {name for name, _ in samples}
    assert set(FAMILIES) <= names, set(FAMILIES) - names
    for kind in ("admin", "customer"):
        assert value(samples, "salon_active_connections", kind=kind) == 0
        assert value(samples, "salon_connections_closed_total", kind=kind, reason="expired") == 0
    for limit in ("streams_per_principal", "streams_per_salon", "stream_opens", "body_size"):
        assert value(samples, "salon_limit_refusals_total", limit=limit) == 0
    assert not any(name.endswith("_created") for name in names), "no *_created series"


@pytest.fixture(scope="module")
def srv(module_server_factory: Callable[..., ServerProcess]) -> ServerProcess:
    return module_server_factory()


def no_stream_open(samples: Samples) -> bool:
    kinds = ("admin", "customer")
    return sum(value(samples, "salon_active_connections", kind=kind) for kind in kinds) == 0


async def test_streams_and_notifications_move_the_figures_by_exactly_their_number(
    srv: ServerProcess,
) -> None:
    async with connect(srv) as api:
        salon = await api.create_salon()
        admin_a, admin_b = await api.create_admin(salon.id), await api.create_admin(salon.id)
        customer = await api.register_customer()
        before = await scrape(api.client)

        opened = [(ADMIN_STREAM, admin_a), (ADMIN_STREAM, admin_b), (CUSTOMER_STREAM, customer)]
        async with streams(api, *opened) as (stream_a, stream_b, stream_c):
            after_open = await scrape(api.client)
            assert changes(before, after_open, FAMILIES) == {
                'salon_active_connections{kind="admin"}': 2,
                'salon_active_connections{kind="customer"}': 1,
                'salon_connections_opened_total{kind="admin"}': 2,
                'salon_connections_opened_total{kind="customer"}': 1,
            }

            await api.notify(admin_a.token, recipient_type="salon")  # streams a and b
            await api.notify(admin_a.token, recipient_type="user", recipient_id=admin_a.id)
            await api.notify(admin_a.token, recipient_type="customer", recipient_id=customer.id)
            for stream, count in ((stream_a, 2), (stream_b, 1), (stream_c, 1)):
                for _ in range(count):
                    await stream.next_notification()
            after_send = await scrape(api.client)
            assert changes(after_open, after_send, FAMILIES) == {
                'salon_notifications_created_total{recipient_type="salon"}': 1,
                'salon_notifications_created_total{recipient_type="user"}': 1,
                'salon_notifications_created_total{recipient_type="customer"}': 1,
                "salon_deliveries_total{}": 4,
                "salon_delivery_latency_seconds_count{}": 4,
            }
            latency = moved(after_open, after_send, "salon_delivery_latency_seconds_sum")
            assert 0 < latency < 4 * 5, latency

        after_close = await settle(api.client, no_stream_open)
        assert changes(after_send, after_close, FAMILIES) == {
            'salon_active_connections{kind="admin"}': -2,
            'salon_active_connections{kind="customer"}': -1,
            'salon_connections_closed_total{kind="admin",reason="client_gone"}': 2,
            'salon_connections_closed_total{kind="customer",reason="client_gone"}': 1,
            'salon_connection_duration_seconds_count{kind="admin"}': 2,
            'salon_connection_duration_seconds_count{kind="customer"}': 1,
        }


async def test_replayed_notifications_are_counted_apart_from_live_deliveries(
    srv: ServerProcess,
) -> None:
    async with connect(srv) as api:
        salon = await api.create_salon()
        admin = await api.create_admin(salon.id)
        first = await api.notify(admin.token, recipient_type="salon")
        for _ in range(2):
            await api.notify(admin.token, recipient_type="salon")
        before = await scrape(api.client)
        async with open_stream(
            api.client, ADMIN_STREAM, token=admin.token, last_event_id=first.id - 1
        ) as stream:
            assert (await stream.next_event()).event == "connected"
            replayed = [int((await stream.next_notification()).id or 0) for _ in range(3)]
            assert replayed == [first.id, first.id + 1, first.id + 2]
            during = await scrape(api.client)
        await settle(api.client, no_stream_open)  # the module's server as it was found
    assert changes(before, during, FAMILIES) == {
        'salon_active_connections{kind="admin"}': 1,
        'salon_connections_opened_total{kind="admin"}': 1,
        "salon_replayed_events_total{}": 3,
    }


async def test_each_instance_exposes_its_own_figures(
    server_factory: Callable[..., ServerProcess],
) -> None:
    """Two instances on one Redis: a notification created on B and delivered on A is
    created in B's figures and delivered in A's; summing the instances gives the deployment."""
    instance_a, instance_b = await start_instances(server_factory, instance_env(REDIS_URL))
    async with clients(instance_a, instance_b) as (api_a, api_b):
        await api_a.ensure_superadmin()
        await api_b.ensure_superadmin()
        salon = await api_a.create_salon()
        admin = await api_a.create_admin(salon.id)
        before_a, before_b = await scrape(api_a.client), await scrape(api_b.client)
        async with open_stream(api_a.client, ADMIN_STREAM, token=admin.token) as stream:
            assert (await stream.next_event()).event == "connected"
            await api_b.notify(admin.token, recipient_type="salon")
            await stream.next_notification(timeout=10)
            after_a, after_b = await scrape(api_a.client), await scrape(api_b.client)
    assert changes(before_a, after_a, FAMILIES) == {
        'salon_active_connections{kind="admin"}': 1,
        'salon_connections_opened_total{kind="admin"}': 1,
        "salon_deliveries_total{}": 1,
        "salon_delivery_latency_seconds_count{}": 1,
    }
    assert changes(before_b, after_b, FAMILIES) == {
        'salon_notifications_created_total{recipient_type="salon"}': 1,
    }
