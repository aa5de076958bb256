"""The plain log as an operator's terminal shows it: no escape sequence from a request
path reaches it raw, and uvicorn's WebSocket lines carry no query string (tokens)."""

from __future__ import annotations

import asyncio

from websockets.asyncio.client import connect as ws_connect

from tests.utils.factories import API, connect


async def test_escape_sequences_and_websocket_queries_stay_out_of_the_plain_log(
    server_factory,
) -> None:
    srv = await asyncio.to_thread(server_factory, {"LOG_FORMAT": "plain"})
    async with connect(srv) as api:
        salon = await api.create_salon()
        admin = await api.create_admin(salon.id)
        # A path holding a terminal escape (red text, a bell, a cursor-up).
        response = await api.client.get("/api/v1/%1B[31mred%07%1B[1A")  # decoded by the server
        assert response.status_code == 404
        url = srv.base_url.replace("http://", "ws://") + f"{API}/notifications/ws"
        async with ws_connect(
            url + "?types=query-marker-7f3a", additional_headers=admin.headers, open_timeout=5
        ) as ws:
            assert '"connected"' in str(await asyncio.wait_for(ws.recv(), 5))

    async with asyncio.timeout(5):
        while "WebSocket /api/v1/notifications/ws" not in srv.log_text():
            await asyncio.sleep(0.05)
    log = srv.log_text()
    assert "\x1b" not in log and "\x07" not in log
    assert "\\x1b[31mred\\x07\\x1b[1A" in log  # the refusal is there, escaped
    assert "query-marker-7f3a" not in log
