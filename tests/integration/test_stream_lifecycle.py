"""How streams end: retention resets, slow consumers, expiring credentials, graceful shutdown."""

from __future__ import annotations

import asyncio
import signal
import socket
import time

import httpx

from tests.utils.factories import API, connect
from tests.utils.sse import open_stream
from tests.utils.stats import read_stats, wait_for_stats

CUSTOMER_STREAM = f"{API}/notifications/customer/stream"
ADMIN_STREAM = f"{API}/notifications/stream"


async def test_resuming_from_before_retention_gets_reset_first(server_factory):
    # 1e-5 days is under a second: what is sent now is purged almost at once.
    srv = await asyncio.to_thread(
        server_factory,
        {"NOTIFICATION_RETENTION_DAYS": "0.00001", "RETENTION_INTERVAL_SECONDS": "0.2"},
    )
    async with connect(srv) as api:
        await api.ensure_superadmin()
        salon = await api.create_salon()
        admin = await api.create_admin(salon.id)
        old = await api.notify(admin.token, recipient_type="salon")
        async with asyncio.timeout(10):
            while await api.notifications(admin.token):
                await asyncio.sleep(0.2)
        async with open_stream(
            api.client, ADMIN_STREAM, token=admin.token, last_event_id=old.id - 1
        ) as stream:
            assert (await stream.next_event()).event == "connected"
            reset = await stream.next_event()
            assert reset.event == "reset"
            assert reset.json()["purged_through"] >= old.id
            live = await api.notify(admin.token, recipient_type="salon")
            assert int((await stream.next_notification()).id) == live.id


async def test_a_client_that_stops_reading_is_dropped_and_counted(server_factory):
    srv = await asyncio.to_thread(server_factory, {"SSE_MAX_PENDING_EVENTS": "5"})
    async with connect(srv) as api:
        await api.ensure_superadmin()
        salon = await api.create_salon()
        admin = await api.create_admin(salon.id)
        # A raw socket with a tiny receive buffer that never reads after the request.
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", srv.port))
        sock.sendall(
            f"GET {ADMIN_STREAM} HTTP/1.1\r\nHost: x\r\n"
            f"Authorization: Bearer {admin.token}\r\n\r\n".encode()
        )
        try:
            await wait_for_stats(api, lambda stats: stats["active_admin_connections"] > 0, 30)
            big = "x" * 4000
            async with asyncio.timeout(30):
                while True:
                    await api.notify(admin.token, recipient_type="salon", message=big)
                    stats = await read_stats(api)
                    if stats["slow_consumers_dropped"] == 1:
                        break
            assert stats["active_admin_connections"] == 0
            # Everyone else is unaffected: a new stream still gets what is sent.
            async with open_stream(api.client, ADMIN_STREAM, token=admin.token) as stream:
                await stream.next_event()
                live = await api.notify(admin.token, recipient_type="salon")
                assert int((await stream.next_notification()).id) == live.id
        finally:
            sock.close()


async def test_a_stream_ends_when_its_token_expires(server_factory):
    srv = await asyncio.to_thread(server_factory, {"ACCESS_TOKEN_EXPIRE_MINUTES": "0.05"})
    async with connect(srv) as api:
        customer = await api.register_customer()
        started = time.monotonic()
        async with open_stream(api.client, CUSTOMER_STREAM, token=customer.token) as stream:
            await stream.next_event()
            await stream.wait_closed(timeout=10)
        assert time.monotonic() - started < 8
        async with open_stream(api.client, CUSTOMER_STREAM, token=customer.token) as again:
            assert again.status_code == 401  # the client must come back with a fresh token


async def test_sigterm_drains_streams_over_the_window_and_fails_readiness(server_factory):
    srv = await asyncio.to_thread(server_factory, {"SSE_DRAIN_SECONDS": "1.5"})
    async with connect(srv) as api:
        customer = await api.register_customer()
        ended_at: list[float] = []

        async def listen(stream) -> None:
            await stream.wait_closed(timeout=10)
            ended_at.append(time.monotonic())

        async with (
            open_stream(api.client, CUSTOMER_STREAM, token=customer.token) as s1,
            open_stream(api.client, CUSTOMER_STREAM, token=customer.token) as s2,
            open_stream(api.client, CUSTOMER_STREAM, token=customer.token) as s3,
            open_stream(api.client, CUSTOMER_STREAM, token=customer.token) as s4,
        ):
            streams = (s1, s2, s3, s4)
            for stream in streams:
                await stream.next_event()
            listeners = [asyncio.create_task(listen(s)) for s in streams]
            srv.proc.terminate()
            await asyncio.sleep(0.2)
            async with httpx.AsyncClient(base_url=srv.base_url, timeout=2) as probe:
                assert (await probe.get("/readyz")).status_code == 503
            await asyncio.gather(*listeners)
        assert max(ended_at) - min(ended_at) >= 0.7  # spread, not all at once
        # uvicorn re-raises the signal once it has shut down cleanly: killed by SIGTERM,
        # after the drain (a hard kill would be SIGKILL, or a timeout here).
        assert await asyncio.to_thread(srv.proc.wait, 15) in (0, -signal.SIGTERM)
        assert "Application shutdown complete" in srv.log_text()
