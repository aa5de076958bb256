"""No resource is held across a client's back-pressure: streams that stop reading (replaying
a long history or live) hold no database connection and are closed after
SSE_WRITE_TIMEOUT, and a request that can't get a connection is a quick 503.

One server per backend for the module, with a small pool and short timeouts; clients that
stop reading are raw sockets with a small receive buffer, so the server's writes really
wait for them."""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

from tests.utils.factories import API, Account, Api, connect
from tests.utils.server import ServerProcess, fresh_server
from tests.utils.stats import read_stats, wait_for_stats

ADMIN_STREAM = f"{API}/notifications/stream"
POOL_TIMEOUT = 1.0
WRITE_TIMEOUT = 1.5
# Past what the kernel takes into a socket's send queue (about 4 MB here): a client that
# reads none of it makes the server's writes wait.
HISTORY = 600  # more than a page of 500 rows
BIG = {
    "notification_type": "promo",
    "title": "t",
    "recipient_type": "salon",
    "message": "m" * 5000,
    "extra_data": {"pad": "x" * 4000},
}  # a frame of about 9 KB: 5.5 MB in all
SETTINGS = {
    "DATABASE_POOL_SIZE": "3",
    "DATABASE_MAX_OVERFLOW": "0",
    "DATABASE_POOL_TIMEOUT": str(POOL_TIMEOUT),
    "SSE_WRITE_TIMEOUT": str(WRITE_TIMEOUT),
    "SSE_MAX_PENDING_BYTES": str(1024 * 1024),  # replay pages of 256 KiB
    "LIMIT_STREAMS_PER_PRINCIPAL": "0",  # one admin opens them all (an admin can add a second)
}


@dataclass
class World:
    server: ServerProcess
    admin: Account  # of the salon with the long history
    history: list[int]  # its notifications' ids, in order


@pytest.fixture(scope="module")
def slow_server(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with fresh_server(backend, tmp_path_factory.mktemp(f"pressure-{backend}"), **SETTINGS) as srv:
        yield srv


@pytest.fixture(scope="module")
async def world(slow_server: ServerProcess) -> World:
    async with connect(slow_server) as api:
        salon = (await api.create_salon()).id
        admin = await api.create_admin(salon)
        history: list[int] = []
        for _ in range(HISTORY // 300):
            batch = [BIG] * 300
            response = await api.client.post(
                f"{API}/notifications/batch",
                json={"notifications": batch},
                headers=admin.headers,
            )
            assert response.status_code == 201, response.text
            history += [n["id"] for n in response.json()["notifications"]]
        return World(slow_server, admin, history)


def stream_request(token: str, path: str = ADMIN_STREAM, *extra: str) -> bytes:
    head = [f"GET {path} HTTP/1.1", "Host: salon.test", f"Authorization: Bearer {token}", *extra]
    return ("\r\n".join(head) + "\r\n\r\n").encode()


@contextlib.contextmanager
def stalled(server: ServerProcess, requests: list[bytes]) -> Iterator[list[socket.socket]]:
    """Clients that send their request, then never read (a 4 KiB receive buffer)."""
    sockets = []
    try:
        for request in requests:
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.settimeout(5)
            sock.connect(("127.0.0.1", server.port))
            sock.sendall(request)
            sockets.append(sock)
        yield sockets
    finally:
        for sock in sockets:
            sock.close()


async def slowly_read_replay(server: ServerProcess, token: str, expected: list[int]) -> list[int]:
    """A client on a slow link: a 16 KiB receive buffer, read a little at a time."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", server.port))
    reader, writer = await asyncio.open_connection(sock=sock, limit=16384)
    writer.write(stream_request(token, ADMIN_STREAM, "Last-Event-ID: 0"))
    got: list[int] = []
    data = b""
    try:
        while len(got) < len(expected):
            chunk = await reader.read(16384)
            assert chunk, f"the stream ended after {len(got)} of {len(expected)}"
            data += chunk
            *frames, data = data.split(b"\n\n")
            got += [int(m) for f in frames for m in re.findall(rb"^id: (\d+)$", f, re.M)]
            await asyncio.sleep(0.001)
    finally:
        writer.close()
    return got


async def answers_quickly(api: Api, admin: Account) -> None:
    """What other clients do meanwhile: each answered, within two seconds."""
    client = api.client
    checks = [
        ("POST", f"{API}/notifications", {**BIG, "message": "m"}, 201),
        ("GET", f"{API}/notifications", None, 200),
        ("GET", f"{API}/auth/me", None, 200),  # FastAPI's route and its session
        ("GET", "/readyz", None, 200),
    ]
    for method, path, body, status in checks:
        started = time.monotonic()
        response = await client.request(method, path, json=body, headers=admin.headers, timeout=2.5)
        assert response.status_code == status, (path, response.status_code, response.text)
        assert time.monotonic() - started < 2, path


async def test_forty_stalled_replays_leave_the_database_to_everyone_else(world: World) -> None:
    """40 streams open from the start of a long history (several pages) and never read:
    meanwhile creates, lists, FastAPI's routes and /readyz answer at once, and a client
    reading slowly gets the whole history in order; after SSE_WRITE_TIMEOUT the 40 are
    closed as slow consumers."""
    srv = world.server
    async with connect(srv) as api:
        before = (await read_stats(api))["slow_consumers_dropped"]
        request = stream_request(world.admin.token, ADMIN_STREAM, "Last-Event-ID: 0")
        with stalled(srv, [request] * 40):
            await wait_for_stats(api, lambda s: s["active_admin_connections"] >= 40, 10)
            await asyncio.sleep(0.3)  # their replays under way, their sockets full
            slow = asyncio.create_task(slowly_read_replay(srv, world.admin.token, world.history))
            try:
                await answers_quickly(api, world.admin)
                assert (await asyncio.wait_for(slow, 15))[: len(world.history)] == world.history
            finally:
                slow.cancel()
            await wait_for_stats(
                api,
                lambda s: (
                    s["slow_consumers_dropped"] >= before + 40
                    and s["active_admin_connections"] == 0
                ),
                WRITE_TIMEOUT * 1.5 + 3,
            )


@contextlib.asynccontextmanager
async def database_locked(srv: ServerProcess, backend: str) -> AsyncIterator[None]:
    """Another program holds the lock that writes to notifications need (reads go on)."""
    url = srv.database_url
    if backend == "postgres":
        conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
        transaction = conn.transaction()
        await transaction.start()
        await conn.execute("LOCK TABLE notifications IN SHARE MODE")
        try:
            yield
        finally:
            await transaction.rollback()
            await conn.close()
    else:
        path = Path(url.split("///", 1)[1])
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            other.execute("ROLLBACK")
            other.close()


async def test_a_request_that_gets_no_connection_is_a_503_with_retry_after(
    world: World, backend: str
) -> None:
    """Three requests wait on a lock, each holding one of the pool's three connections; the
    next one that needs the database is told to come back, within DATABASE_POOL_TIMEOUT."""
    admin = world.admin
    async with connect(world.server) as api:
        async with database_locked(world.server, backend):
            blocked = [
                asyncio.create_task(
                    api.client.post(f"{API}/notifications/read-all", headers=admin.headers)
                )
                for _ in range(3)
            ]
            await asyncio.sleep(0.3)
            started = time.monotonic()
            response = await api.client.get(f"{API}/auth/me", headers=admin.headers, timeout=5)
            waited = time.monotonic() - started
            assert response.status_code == 503, response.text
            assert int(response.headers["retry-after"]) >= 1
            assert "no database connection" in response.json()["detail"]
            assert POOL_TIMEOUT * 0.9 < waited < POOL_TIMEOUT + 1.5
            assert not any(task.done() for task in blocked)
        # The lock gone, the waiting requests are answered.
        for answer in await asyncio.wait_for(asyncio.gather(*blocked), 10):
            assert answer.status_code == 200, answer.text


def websocket_request(token: str) -> bytes:
    return stream_request(
        token,
        f"{API}/notifications/ws",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version: 13",
    )


async def test_live_streams_that_take_nothing_are_closed_on_every_transport(
    world: World,
) -> None:
    """A stream on each transport (the direct socket, ASGI with an Origin, the WebSocket)
    gets a burst it doesn't read, below every backlog bound: it is closed as a slow
    consumer after SSE_WRITE_TIMEOUT, not kept waiting for ever."""
    srv = world.server
    async with connect(srv) as api:
        admin = await api.create_admin((await api.create_salon()).id)
        requests = [
            stream_request(admin.token),
            stream_request(admin.token, ADMIN_STREAM, "Origin: https://elsewhere.test"),
            websocket_request(admin.token),
        ]
        stats = await read_stats(api)
        before, active = stats["slow_consumers_dropped"], stats["active_admin_connections"]
        with stalled(srv, requests):
            await wait_for_stats(api, lambda s: s["active_admin_connections"] == active + 3, 10)
            burst = [BIG] * 90  # 830 KB: past the socket's queue, within every backlog bound
            response = await api.client.post(
                f"{API}/notifications/batch", json={"notifications": burst}, headers=admin.headers
            )
            assert response.status_code == 201, response.text
            sent = time.monotonic()
            await wait_for_stats(
                api, lambda s: s["slow_consumers_dropped"] >= before + 3, WRITE_TIMEOUT * 1.25 + 3
            )
            assert time.monotonic() - sent >= WRITE_TIMEOUT * 0.9
