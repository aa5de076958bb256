"""The seed's "WebSocket fallback": the same notifications, one JSON message each."""

from __future__ import annotations

import asyncio
import json

import httpx
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


async def _session_cookie(api: Api, account) -> str:
    form = {"username": account.email, "password": account.password}
    signed_in = await api.client.post(f"{API}/auth/session", data=form)
    assert signed_in.status_code == 200, signed_in.text
    return str(signed_in.cookies["salon_session"])


async def test_the_sse_routes_credentials_open_the_websocket_too(api: Api):
    """A stream token in the URL, and the session cookie from the server's own page."""
    customer = await api.register_customer()
    minted = await api.client.post(
        f"{API}/notifications/stream-token", headers=Api.auth(customer.token)
    )
    url = ws_url(api, CUSTOMER_WS, f"?token={minted.json()['token']}")
    async with connect(url) as ws:
        assert (await receive(ws))["data"]["customer_id"] == customer.id
    cookie = {"Cookie": f"salon_session={await _session_cookie(api, customer)}"}
    own = api.server.base_url
    async with connect(ws_url(api, CUSTOMER_WS), additional_headers=cookie, origin=own) as ws:
        assert (await receive(ws))["data"]["customer_id"] == customer.id


async def test_a_cookie_from_a_foreign_origin_counts_for_nothing(api: Api):
    """Cross-site WebSocket hijacking: the browser sends the cookie; it is as if absent, so
    the socket waits for an auth message, and a foreign page has no token to send."""
    customer = await api.register_customer()
    cookie = {"Cookie": f"salon_session={await _session_cookie(api, customer)}"}
    evil = "http://evil.example.test"
    async with connect(ws_url(api, CUSTOMER_WS), additional_headers=cookie, origin=evil) as ws:
        await ws.send(json.dumps({"type": "auth", "token": "stolen?"}))
        with pytest.raises(ConnectionClosed) as closed:
            await receive(ws)
    assert closed.value.rcvd.code == 4401


async def test_two_authorization_headers_close_with_4400(api: Api):
    customer = await api.register_customer()
    await api.ensure_superadmin()
    admin = await api.create_admin((await api.create_salon()).id)
    headers = [("Authorization", f"Bearer {customer.token}")]
    headers.append(("Authorization", f"Bearer {admin.token}"))
    async with connect(ws_url(api, ADMIN_WS), additional_headers=headers) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await receive(ws, timeout=3)
    assert closed.value.rcvd.code == 4400


async def test_the_end_of_a_streams_lifetime_closes_with_4000(server_factory):
    short = await asyncio.to_thread(server_factory, {"SSE_MAX_STREAM_SECONDS": "1"})
    async with httpx.AsyncClient(base_url=short.base_url, timeout=10) as client:
        api = Api(client, short)
        customer = await api.register_customer()
        async with connect(ws_url(api, CUSTOMER_WS), additional_headers=customer.headers) as ws:
            await receive(ws)
            with pytest.raises(ConnectionClosed) as closed:
                await receive(ws, timeout=5)
    assert closed.value.rcvd.code == 4000  # reconnect now: the credential is still good
