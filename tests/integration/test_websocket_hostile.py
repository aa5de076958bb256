"""Hostile WebSocket openings get a clean close, not a traceback: a first message nested
100,000 deep, and a bad Last-Event-ID on /ws (refused with 4400, as the contract's 4000 +
the SSE route's 400, without an ERROR line)."""

from __future__ import annotations

import asyncio

import pytest
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

from tests.utils.factories import API, connect

WS = f"{API}/notifications/ws"


async def test_a_deeply_nested_first_message_is_closed_cleanly(server_factory) -> None:
    srv = await asyncio.to_thread(server_factory)
    url = srv.base_url.replace("http://", "ws://") + WS
    async with ws_connect(url, open_timeout=5, max_size=None) as ws:
        await ws.send("[" * 100_000)
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    await asyncio.sleep(0.3)
    log = srv.log_text()
    assert "RecursionError" not in log and "Traceback" not in log, log[-3000:]


@pytest.mark.parametrize("last_event_id", ["abc", "9" * 40, "-1"])
async def test_a_bad_last_event_id_on_the_websocket_is_refused_quietly(
    server_factory, last_event_id: str
) -> None:
    srv = await asyncio.to_thread(server_factory)
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
    log = srv.log_text()
    assert " ERROR " not in log and "Traceback" not in log, log[-3000:]
    assert "Last-Event-ID must be a notification id" in log  # refused, and said why
