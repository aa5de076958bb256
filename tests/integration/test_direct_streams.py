"""Streams handed straight to the socket by the HTTP server (app/api/transports/direct.py), seen
from a raw socket: the wire format, and that leaving, refusals and old clients still work."""

from __future__ import annotations

import asyncio
import json

from tests.utils.factories import API, connect
from tests.utils.stats import wait_for_stats

CUSTOMER_STREAM = f"{API}/notifications/customer/stream"


async def _request(port: int, head: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(head.encode())
    await writer.drain()
    return reader, writer


async def _read_until(reader: asyncio.StreamReader, marker: bytes, seen: bytes = b"") -> bytes:
    async with asyncio.timeout(10):
        while marker not in seen:
            data = await reader.read(65536)
            if not data:
                raise AssertionError(f"closed before {marker!r}; got {seen!r}")
            seen += data
    return seen


async def _customers_connected(api, count: int) -> None:
    await wait_for_stats(api, lambda stats: stats["active_customer_connections"] == count, 10)


async def test_a_stream_on_a_raw_socket_is_chunked_sse_and_leaving_unregisters_it(server):
    async with connect(server) as api:
        await api.ensure_superadmin()
        salon = await api.create_salon()
        admin = await api.create_admin(salon.id)
        customer = await api.register_customer()
        reader, writer = await _request(
            server.port,
            f"GET {CUSTOMER_STREAM} HTTP/1.1\r\nHost: x\r\n"
            f"Authorization: Bearer {customer.token}\r\n\r\n",
        )
        try:
            seen = await _read_until(reader, b"event: connected")
            head = seen.split(b"\r\n\r\n", 1)[0].decode().lower().split("\r\n")
            assert head[0] == "http/1.1 200 ok"
            for line in (
                "content-type: text/event-stream",
                "cache-control: no-cache",
                "x-accel-buffering: no",
                "transfer-encoding: chunked",
                "connection: close",  # the socket ends with the stream
            ):
                assert line in head
            assert any(line.startswith("date: ") for line in head)
            sent = await api.notify(
                admin.token, recipient_type="customer", recipient_id=customer.id
            )
            seen = await _read_until(reader, f"id: {sent.id}\n".encode(), seen)
            data = seen.split(f"id: {sent.id}\ndata: ".encode(), 1)[1].split(b"\n", 1)[0]
            assert json.loads(data)["id"] == sent.id
            await _customers_connected(api, 1)
        finally:
            writer.close()
        await _customers_connected(api, 0)  # gone at once, not at the next ping


async def test_http_1_0_clients_and_refusals_still_get_their_answers(server):
    async with connect(server) as api:
        customer = await api.register_customer()
        # Not taken over (HTTP/1.0): the stream comes through the app and works as well.
        reader, writer = await _request(
            server.port,
            f"GET {CUSTOMER_STREAM} HTTP/1.0\r\nHost: x\r\n"
            f"Authorization: Bearer {customer.token}\r\n\r\n",
        )
        try:
            seen = await _read_until(reader, b"event: connected")
            assert seen.startswith(b"HTTP/1.1 200")
        finally:
            writer.close()
        reader, writer = await _request(
            server.port,
            f"GET {CUSTOMER_STREAM} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer nope\r\n\r\n",
        )
        try:
            seen = await _read_until(reader, b"}")
            assert seen.startswith(b"HTTP/1.1 401")
            assert b'"detail"' in seen
        finally:
            writer.close()
