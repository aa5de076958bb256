"""Hostile WebSocket openings get a clean close, not a traceback: a first message nested
8,000 deep, and a bad Last-Event-ID on /ws (refused with 4400, the contract's 4000 + the SSE
route's 400, without an ERROR line). A message past 8 KiB, before or after authentication,
closes with 1009; compression is not offered."""

from __future__ import annotations

import asyncio
import contextlib
import json

import pytest
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

from tests.utils.factories import API, Api, connect
from tests.utils.server import ServerProcess

WS = f"{API}/notifications/ws"


@pytest.fixture(scope="module")
def srv(module_server_factory) -> ServerProcess:
    """The module's own server, for the tests that read its log (from where they began)."""
    return module_server_factory()


async def test_a_deeply_nested_first_message_is_closed_cleanly(srv: ServerProcess) -> None:
    logged_before = len(srv.log_text())
    url = srv.base_url.replace("http://", "ws://") + WS
    async with ws_connect(url, open_timeout=5, max_size=None) as ws:
        await ws.send("[" * 8000)  # within the 8 KiB bound, 8 times Python's recursion limit
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    await asyncio.sleep(0.3)
    log = srv.log_text()[logged_before:]
    assert "RecursionError" not in log and "Traceback" not in log, log[-3000:]


@pytest.mark.parametrize("last_event_id", ["abc", "9" * 40, "-1"])
async def test_a_bad_last_event_id_on_the_websocket_is_refused_quietly(
    srv: ServerProcess, last_event_id: str
) -> None:
    logged_before = len(srv.log_text())
    async with connect(srv) as api:
        admin = await api.create_admin((await api.create_salon()).id)
    url = srv.base_url.replace("http://", "ws://") + WS
    headers = {**admin.headers, "Last-Event-ID": last_event_id}
    with pytest.raises(ConnectionClosed) as refused:
        async with ws_connect(url, additional_headers=headers, open_timeout=5) as ws:
            await asyncio.wait_for(ws.recv(), 5)
    assert refused.value.rcvd is not None and refused.value.rcvd.code == 4400
    assert "Last-Event-ID" in refused.value.rcvd.reason
    await asyncio.sleep(0.3)
    log = srv.log_text()[logged_before:]
    assert " ERROR " not in log and "Traceback" not in log, log[-3000:]
    assert "Last-Event-ID must be a notification id" in log  # refused, and said why


async def _closed_with(ws, message: str | list[str]) -> int | None:
    """The code the server closes with after `message` (whatever it sent before it), or
    None when the connection was reset before its close frame could be read."""
    # The server closes as soon as it has read past the bound; the rest of the message,
    # still unread in its socket, makes TCP reset the connection, which can fail this send
    # and lose the close frame: a client then sees 1006, as a browser would (websockets
    # raises the OSError itself or, once it has noticed, ConnectionClosed).
    with contextlib.suppress(OSError, ConnectionClosed):
        await ws.send(message)
    with pytest.raises(ConnectionClosed) as closed:
        async with asyncio.timeout(5):
            while True:
                await ws.recv()
    return None if closed.value.rcvd is None else closed.value.rcvd.code


async def test_a_message_past_8_kib_closes_with_1009_before_and_after_auth(api: Api) -> None:
    admin = await api.create_admin((await api.create_salon()).id)
    url = api.server.base_url.replace("http://", "ws://") + WS
    big = "x" * 65536
    for message in (big, ["x" * 4096] * 16):  # in one frame, and in 16 fragments of 4 KiB
        async with ws_connect(url, open_timeout=5) as ws:  # a browser's: the token comes first
            assert await _closed_with(ws, message) in (1009, None)  # never let in
    async with ws_connect(url, additional_headers=admin.headers, open_timeout=5) as ws:
        await asyncio.wait_for(ws.recv(), 5)  # connected: authenticated and streaming
        assert await _closed_with(ws, big) in (1009, None)  # ended, not kept
    async with ws_connect(url, open_timeout=5) as ws:  # the bound is a bound, not less
        await ws.send(json.dumps({"type": "auth", "token": admin.token, "pad": "x" * 7000}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["event"] == "connected"


async def test_compression_is_not_offered(api: Api) -> None:
    url = api.server.base_url.replace("http://", "ws://") + WS
    # The client asks for permessage-deflate (Sec-WebSocket-Extensions), as browsers do.
    async with ws_connect(url, open_timeout=5, compression="deflate") as ws:
        assert "permessage-deflate" in ws.request.headers["Sec-WebSocket-Extensions"]
        assert "Sec-WebSocket-Extensions" not in ws.response.headers, ws.response.headers
