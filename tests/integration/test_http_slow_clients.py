"""Clients that hold a connection by being slow (the contract's "HTTP" bounds): a request
body that stalls or trickles, an answer nobody reads. Driven over raw sockets against one
server with second-long bounds; the backend is not the question, so SQLite only."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import AsyncIterator, Iterator

import pytest

from tests.utils.factories import API, connect
from tests.utils.server import ServerProcess, fresh_server

BODY_TIMEOUT = 1.0  # also the rate's grace (it is the shorter of 10 s and this)
WRITE_TIMEOUT = 1.0
REGISTER = f"{API}/auth/register"


@pytest.fixture(scope="module")
def slow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with fresh_server(
        "sqlite",
        tmp_path_factory.mktemp("slow-clients"),
        HTTP_BODY_TIMEOUT=str(BODY_TIMEOUT),
        HTTP_WRITE_TIMEOUT=str(WRITE_TIMEOUT),
    ) as process:
        yield process


@contextlib.asynccontextmanager
async def opened(port: int) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        yield reader, writer
    finally:
        writer.close()


def post_head(length: int) -> bytes:
    return (
        f"POST {REGISTER} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


async def until_closed(reader: asyncio.StreamReader, within: float) -> bytes:
    """What the server wrote before it closed the connection (fails if it didn't)."""
    received = b""
    async with asyncio.timeout(within):
        with contextlib.suppress(ConnectionResetError):
            while chunk := await reader.read(65536):
                received += chunk
    return received


def json_detail(answer: bytes) -> str:
    head, body = answer.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 408 "), answer[:300]
    assert b"content-type: application/json" in head.lower()
    return str(json.loads(body)["detail"])


async def test_a_body_that_stalls_gets_408_and_is_closed(slow_server: ServerProcess) -> None:
    async with opened(slow_server.port) as (reader, writer):
        # 2,000 of 10,000 bytes, then nothing: enough for the rate rule until ~2 s (2,000 B at
        # 1,024 B/s), so what ends it at 1 s is the stall, not the rate (with 10 bytes both
        # were due at once and either could answer).
        writer.write(post_head(10_000) + b'{"email": "' + b"x" * 1989)
        started = time.monotonic()
        answer = await until_closed(reader, BODY_TIMEOUT + 4)
        assert time.monotonic() - started >= BODY_TIMEOUT - 0.2
        assert "no byte for 1 s" in json_detail(answer)


async def test_a_body_trickling_under_the_rate_is_cut_off_after_its_grace(
    slow_server: ServerProcess,
) -> None:
    async with opened(slow_server.port) as (reader, writer):
        writer.write(post_head(1000))
        started = time.monotonic()

        async def trickle() -> None:  # a byte every 0.25 s: never idle for a second
            with contextlib.suppress(ConnectionError):
                for _ in range(40):
                    writer.write(b" ")
                    await writer.drain()
                    await asyncio.sleep(0.25)

        sender = asyncio.create_task(trickle())
        try:
            answer = await until_closed(reader, BODY_TIMEOUT + 4)
        finally:
            sender.cancel()
        assert time.monotonic() - started >= BODY_TIMEOUT - 0.2
        assert "under 1024 bytes a second" in json_detail(answer)


async def test_a_body_sent_slowly_but_steadily_is_read(slow_server: ServerProcess) -> None:
    account = {"email": "steady@example.com", "password": "steady-pass-123", "full_name": "S"}
    body = json.dumps(account).encode().ljust(3000)  # JSON may end in whitespace
    async with opened(slow_server.port) as (reader, writer):
        writer.write(post_head(len(body)))
        for start in range(0, len(body), 500):  # 2.5 KiB a second, for 1.2 s
            writer.write(body[start : start + 500])
            await writer.drain()
            await asyncio.sleep(0.2)
        async with asyncio.timeout(5):
            status = await reader.readline()
        assert status.startswith(b"HTTP/1.1 201 "), status


def unread_requests(port: int, path: str, count: int) -> socket.socket:
    """A client that asks for `path` `count` times at once (pipelined), with a small receive
    buffer, and reads nothing: the answers wait in the server."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(5)
    sock.connect(("127.0.0.1", port))
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode() * count)
    return sock


def read_all(sock: socket.socket) -> bytes:
    received = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(65536):
            received += chunk
    return received


async def test_answers_nobody_reads_are_dropped_after_the_write_timeout(
    slow_server: ServerProcess,
) -> None:
    async with connect(slow_server) as api:
        each = len((await api.client.get("/openapi.json")).content)
    count = 60  # 8 MB of answers: the kernel's buffers take 3 of them
    sock = unread_requests(slow_server.port, "/openapi.json", count)
    try:
        async with asyncio.timeout(WRITE_TIMEOUT + 4):  # from when writing stalls
            while "answer not read for 1 s" not in slow_server.log_text():
                await asyncio.sleep(0.1)
        received = await asyncio.to_thread(read_all, sock)  # ends: the server reset it
    finally:
        sock.close()
    assert len(received) < each * count, "the answers were still waiting for the client"
    # The answer under way, pipelined behind others, learns the client is gone.
    assert "Exception in ASGI application" not in slow_server.log_text()


async def test_an_idle_asgi_stream_that_keeps_reading_stays_open(
    slow_server: ServerProcess,
) -> None:
    async with connect(slow_server) as api:
        salon = await api.create_salon()
        admin = await api.create_admin(salon.id)
        customer = await api.register_customer()
        # HTTP/1.0: served through the app (ASGI), not taken over as a direct stream.
        async with opened(slow_server.port) as (reader, writer):
            writer.write(
                f"GET {API}/notifications/customer/stream HTTP/1.0\r\nHost: x\r\n"
                f"Authorization: Bearer {customer.token}\r\n\r\n".encode()
            )
            seen = b""
            async with asyncio.timeout(5):
                while b"event: connected" not in seen:
                    seen += await reader.read(65536)
            await asyncio.sleep(WRITE_TIMEOUT + 0.5)  # nothing to send: no bytes wait
            sent = await api.notify(
                admin.token, recipient_type="customer", recipient_id=customer.id
            )
            async with asyncio.timeout(5):
                while f"id: {sent.id}\n".encode() not in seen:
                    data = await reader.read(65536)
                    assert data, "the stream was closed"
                    seen += data
