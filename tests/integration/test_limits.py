"""Limits: streams open per principal and per salon, streams opened and stats requests per
window, the largest body, and the longest a stream may live.

Past a limit the answer is 429 with a JSON `detail` and `Retry-After` (413 for a body),
counted in `salon_limit_refusals_total{limit=...}`. With BROKER_URL=redis:// the limits
hold across instances: two instances share one count.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
import redis.asyncio as aioredis
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

from tests.utils.cluster import REDIS_URL, clients, instance_env, start_instances
from tests.utils.factories import API, Account, Api, connect
from tests.utils.metrics import moved, scrape
from tests.utils.server import ServerProcess
from tests.utils.sse import SSEStream, open_stream
from tests.utils.stats import STATS

ADMIN_STREAM = f"{API}/notifications/stream"
CUSTOMER_STREAM = f"{API}/notifications/customer/stream"
ADMIN_WS = f"{API}/notifications/ws"
OVERVIEW = f"{API}/ops/overview"
REFUSALS = "salon_limit_refusals_total"
OPENS = 12  # the opening rate of the two-instance test: room for the admin's retries


def assert_limited(status: int, headers: httpx.Headers, body: object, window: float = 60) -> None:
    assert status == 429, f"expected 429, got {status}: {body}"
    assert isinstance(body, dict) and isinstance(body.get("detail"), str), body
    assert headers["content-type"] == "application/json"
    wait = headers.get("retry-after", "")
    assert wait.isdigit() and 1 <= int(wait) <= max(1, window), headers


@contextlib.asynccontextmanager
async def live(api: Api, account: Account, path: str = ADMIN_STREAM) -> AsyncIterator[SSEStream]:
    """A stream that must open."""
    async with open_stream(api.client, path, token=account.token) as stream:
        assert stream.is_event_stream, f"{stream.status_code} {stream.text}"
        assert (await stream.next_event()).event == "connected"
        yield stream


async def refused(api: Api, account: Account, path: str = ADMIN_STREAM) -> SSEStream:
    """A stream that must be refused by a limit; its 429 is checked and returned."""
    async with open_stream(api.client, path, token=account.token) as stream:
        assert_limited(stream.status_code, stream.headers, stream.json() if stream.body else None)
        return stream


async def opens_eventually(api: Api, account: Account, path: str = ADMIN_STREAM) -> None:
    """The server frees a slot a moment after the client leaves: retry until it opens."""
    async with asyncio.timeout(10):
        while True:
            async with open_stream(api.client, path, token=account.token) as stream:
                if stream.is_event_stream:
                    assert (await stream.next_event()).event == "connected"
                    return
                assert stream.status_code == 429, stream.text
            await asyncio.sleep(0.1)


async def test_streams_per_principal_sse_and_websocket_alike(
    server_factory: Callable[..., ServerProcess],
) -> None:
    srv = await asyncio.to_thread(server_factory, {"LIMIT_STREAMS_PER_PRINCIPAL": "2"})
    async with connect(srv) as api:
        salon = await api.create_salon()
        admin, colleague = await api.create_admin(salon.id), await api.create_admin(salon.id)
        before = await scrape(api.client)
        async with live(api, admin), live(api, admin):
            stream = await refused(api, admin)
            assert "at most 2" in stream.json()["detail"]
            url = srv.base_url.replace("http://", "ws://") + ADMIN_WS
            async with ws_connect(url, additional_headers=admin.headers) as ws:
                with pytest.raises(ConnectionClosed) as closed:
                    async with asyncio.timeout(5):
                        await ws.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4429
            async with live(api, colleague):  # others are not held back
                pass
            after = await scrape(api.client)
        await opens_eventually(api, admin)
    assert moved(before, after, REFUSALS, limit="streams_per_principal") == 2


async def test_streams_per_salon_count_every_admin_of_it(
    server_factory: Callable[..., ServerProcess],
) -> None:
    srv = await asyncio.to_thread(server_factory, {"LIMIT_STREAMS_PER_SALON": "2"})
    async with connect(srv) as api:
        salon, other_salon = await api.create_salon(), await api.create_salon()
        admins = [await api.create_admin(salon.id) for _ in range(3)]
        elsewhere = await api.create_admin(other_salon.id)
        customer = await api.register_customer()
        before = await scrape(api.client)
        async with live(api, admins[0]), live(api, admins[1]):
            stream = await refused(api, admins[2])
            assert "salon" in stream.json()["detail"]
            async with live(api, elsewhere), live(api, customer, CUSTOMER_STREAM):
                pass
            after = await scrape(api.client)
        await opens_eventually(api, admins[2])
    assert moved(before, after, REFUSALS, limit="streams_per_salon") == 1


async def test_stream_opening_rate_per_principal_resets_with_its_window(
    server_factory: Callable[..., ServerProcess],
) -> None:
    srv = await asyncio.to_thread(
        server_factory, {"LIMIT_STREAM_OPENS": "3", "LIMIT_STREAM_OPENS_WINDOW": "4"}
    )
    async with connect(srv) as api:
        customer, other = await api.register_customer(), await api.register_customer()
        before = await scrape(api.client)
        for _ in range(3):
            async with live(api, customer, CUSTOMER_STREAM):
                pass
        stream = await refused(api, customer, CUSTOMER_STREAM)
        wait = int(stream.headers["retry-after"])
        assert wait <= 4
        async with live(api, other, CUSTOMER_STREAM):
            pass
        await asyncio.sleep(wait)
        async with live(api, customer, CUSTOMER_STREAM):
            pass
        after = await scrape(api.client)
    assert moved(before, after, REFUSALS, limit="stream_opens") == 1


async def test_stats_requests_per_caller(server_factory: Callable[..., ServerProcess]) -> None:
    srv = await asyncio.to_thread(server_factory, {"LIMIT_STATS_REQUESTS": "3"})
    async with connect(srv) as api:
        root = api.auth(api.superadmin_token)
        # The operations overview draws on the same allowance as the stats.
        for path in (STATS, OVERVIEW, STATS):
            assert (await api.client.get(path, headers=root)).status_code == 200
        response = await api.client.get(OVERVIEW, headers=root)
        assert_limited(response.status_code, response.headers, response.json())
        customer = await api.register_customer()  # the policy still answers first
        assert (await api.client.get(STATS, headers=customer.headers)).status_code == 403
        samples = await scrape(api.client)
    assert samples[(REFUSALS, (("limit", "stats_requests"),))] == 1


async def test_a_body_past_the_limit_is_413_declared_or_chunked(
    server_factory: Callable[..., ServerProcess],
) -> None:
    srv = await asyncio.to_thread(server_factory, {"MAX_REQUEST_BODY_BYTES": "2048"})
    async with connect(srv) as api:
        salon = await api.create_salon()
        admin = await api.create_admin(salon.id)
        before = await scrape(api.client)
        fits = await api.send_notification(admin.token, recipient_type="salon", message="x" * 1500)
        assert fits.status_code == 201, fits.text
        declared = await api.send_notification(
            admin.token, recipient_type="salon", message="x" * 3000
        )
        body = b'{"notification_type": "t", "title": "t", "recipient_type": "salon", '
        body += b'"message": "' + b"x" * 3000 + b'"}'

        async def chunks() -> AsyncIterator[bytes]:
            for start in range(0, len(body), 500):
                yield body[start : start + 500]

        chunked = await api.client.post(
            f"{API}/notifications",
            content=chunks(),
            headers={**admin.headers, "Content-Type": "application/json"},
        )
        assert "content-length" not in chunked.request.headers
        after = await scrape(api.client)
    for response in (declared, chunked):
        assert response.status_code == 413, response.text
        assert "2048" in response.json()["detail"]
    assert moved(before, after, REFUSALS, limit="body_size") == 2
    assert moved(before, after, "salon_notifications_created_total", recipient_type="salon") == 1


async def test_no_stream_outlives_the_maximum_lifetime(
    server_factory: Callable[..., ServerProcess],
) -> None:
    srv = await asyncio.to_thread(server_factory, {"SSE_MAX_STREAM_SECONDS": "1"})
    async with connect(srv) as api:
        customer = await api.register_customer()  # its token lives an hour
        before = await scrape(api.client)
        started = time.monotonic()
        async with live(api, customer, CUSTOMER_STREAM) as stream:
            await stream.wait_closed(timeout=5)
        lasted = time.monotonic() - started
        assert 0.8 <= lasted < 3, lasted
        url = srv.base_url.replace("http://", "ws://") + f"{API}/notifications/customer/ws"
        started = time.monotonic()
        async with ws_connect(url, additional_headers=customer.headers) as ws:
            with pytest.raises(ConnectionClosed):
                async with asyncio.timeout(5):
                    while True:
                        await ws.recv()
        assert time.monotonic() - started < 3
        async with live(api, customer, CUSTOMER_STREAM):  # the client simply reconnects
            pass
        after = await scrape(api.client)
    expired = moved(
        before, after, "salon_connections_closed_total", kind="customer", reason="expired"
    )
    assert expired == 2


async def test_limits_hold_across_instances_sharing_redis(
    server_factory: Callable[..., ServerProcess],
) -> None:
    env = instance_env(
        REDIS_URL,
        LIMIT_STREAMS_PER_PRINCIPAL="2",
        LIMIT_STREAM_OPENS=str(OPENS),
        LIMIT_STATS_REQUESTS="3",
    )
    instance_a, instance_b = await start_instances(server_factory, env)
    redis = aioredis.from_url(REDIS_URL)
    async with clients(instance_a, instance_b) as (on_a, on_b):
        await on_a.ensure_superadmin()
        await on_b.ensure_superadmin()
        salon = await on_a.create_salon()
        admin = await on_a.create_admin(salon.id)
        customer = await on_a.register_customer()
        try:
            # Concurrent streams: one on each instance fills the principal's two slots.
            async with live(on_a, admin) as first:
                async with live(on_b, admin):
                    key = f"{env['BROKER_PREFIX']}:limits:streams:user:{admin.id}"
                    assert await redis.zcard(key) == 2
                    await refused(on_a, admin)
                    await refused(on_b, admin)
                del first
            await opens_eventually(on_b, admin)  # A's slot came back when its stream ended

            # Opening rate (refused attempts count too): OPENS opens over both instances,
            # then the next is refused on either.
            for number in range(OPENS):
                async with live((on_a, on_b)[number % 2], customer, CUSTOMER_STREAM):
                    pass
            await refused(on_a, customer, CUSTOMER_STREAM)
            await refused(on_b, customer, CUSTOMER_STREAM)

            # Stats requests, likewise.
            root = on_a.auth(on_a.superadmin_token)
            for via in (on_a, on_b, on_a):
                assert (await via.client.get(STATS, headers=root)).status_code == 200
            response = await on_b.client.get(STATS, headers=root)
            assert_limited(response.status_code, response.headers, response.json())
        finally:
            await redis.aclose()
