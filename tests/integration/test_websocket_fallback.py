"""The seed's "WebSocket fallback": the same notifications, one JSON message each."""

from __future__ import annotations

import asyncio
import json

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.utils.factories import API, Api
from tests.utils.stats import read_stats, wait_for_stats

ADMIN_WS = f"{API}/notifications/ws"
CUSTOMER_WS = f"{API}/notifications/customer/ws"


def ws_url(api: Api, path: str, query: str = "") -> str:
    return api.server.base_url.replace("http://", "ws://") + path + query


async def receive(ws, timeout: float = 5.0) -> dict:
    """The next message that is not a ping."""
    async with asyncio.timeout(timeout):
        while True:
            message = json.loads(await ws.recv())
            if message["event"] != "ping":
                return message


async def test_admin_gets_connected_then_its_salons_notifications_with_header_auth(api: Api):
    await api.ensure_superadmin()
    salon = await api.create_salon()
    admin = await api.create_admin(salon.id)
    async with connect(ws_url(api, ADMIN_WS), additional_headers=admin.headers) as ws:
        hello = await receive(ws)
        assert hello["event"] == "connected"
        assert hello["data"]["user_id"] == admin.id and hello["data"]["salon_id"] == salon.id
        sent = await api.notify(admin.token, recipient_type="salon", salon_id=salon.id)
        message = await receive(ws)
    assert message == {"event": "notification", "id": sent.id, "data": dict(sent)}


async def test_browser_style_auth_message_and_customer_filter(api: Api):
    await api.ensure_superadmin()
    salon, other = await api.create_salon(), await api.create_salon()
    admin = await api.create_admin(salon.id)
    customer = await api.register_customer()
    url = ws_url(api, CUSTOMER_WS, f"?salon_id={salon.id}")
    async with connect(url) as ws:
        await ws.send(json.dumps({"type": "auth", "token": customer.token}))
        hello = await receive(ws)
        assert hello["data"] == {
            "customer_id": customer.id,
            "salon_id": salon.id,
            "server_time": hello["data"]["server_time"],
        }
        skipped = await api.notify(
            api.superadmin_token,
            recipient_type="customer",
            recipient_id=customer.id,
            salon_id=other.id,
        )
        kept = await api.notify(admin.token, recipient_type="customer", recipient_id=customer.id)
        message = await receive(ws)
    assert message["id"] == kept.id != skipped.id


@pytest.mark.parametrize("how", ["no-auth-message", "bad-token", "wrong-role"])
async def test_refused_sockets_are_closed_with_a_reason(api: Api, how: str):
    customer = await api.register_customer()
    token = {"bad-token": "not-a-token", "wrong-role": customer.token}.get(how)
    async with connect(ws_url(api, ADMIN_WS)) as ws:
        await ws.send(json.dumps({"type": "auth", "token": token} if token else {"hello": 1}))
        with pytest.raises(ConnectionClosed) as closed:
            await receive(ws)
    assert closed.value.rcvd.code == (4403 if how == "wrong-role" else 4401)


async def test_closing_the_socket_frees_the_connection(api: Api):
    await api.ensure_superadmin()
    customer = await api.register_customer()
    async with connect(ws_url(api, CUSTOMER_WS), additional_headers=customer.headers) as ws:
        await receive(ws)
        assert customer.id in (await read_stats(api))["customers"]
    await wait_for_stats(api, lambda stats: customer.id not in stats["customers"], 3)


@pytest.mark.parametrize("header", ["Bearer ", "Bearer", "Basic dXNlcjpwYXNzd29yZA=="])
async def test_an_authorization_header_without_a_bearer_token_is_refused_at_once(
    api: Api, header: str
):
    """Read as the REST endpoints read it; not taken as "no header", which would wait
    AUTH_TIMEOUT (10 s) for an auth message."""
    async with connect(ws_url(api, ADMIN_WS), additional_headers={"Authorization": header}) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await receive(ws, timeout=3)
    assert closed.value.rcvd.code == 4401
