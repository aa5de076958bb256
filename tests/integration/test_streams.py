"""The admin and customer streams as a client sees them over real HTTP.

Headers, the retry/connected handshake, pings, delivery of notifications with
their id and the JSON the API returned, the customer's salon filter, who may
open which stream, and a burst arriving complete and in order.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from tests.utils.factories import Account, Api
from tests.utils.sse import open_stream

ADMIN_STREAM = "/api/v1/notifications/stream"
CUSTOMER_STREAM = "/api/v1/notifications/customer/stream"
NOTIFICATIONS = "/api/v1/notifications"


# --------------------------------------------------------------------------- helpers


async def notify(api: Api, token: str, **body: Any) -> dict[str, Any]:
    """Create a notification through the API and return the JSON it answered."""
    body.setdefault("notification_type", "test")
    body.setdefault("title", "Title")
    body.setdefault("message", "Message")
    response = await api.send_notification(token, **body)
    assert response.status_code == 201, response.text
    return response.json()


async def salon_with_admin(api: Api) -> tuple[int, Account]:
    salon = await api.create_salon()
    admin = await api.create_admin(salon.id)
    return salon.id, admin


async def next_notification(stream: Any) -> Any:
    event = await stream.next_event(timeout=5.0)
    assert event.event == "notification", f"expected a notification, got {event!r}"
    return event


async def wait_connected(stream: Any) -> Any:
    """Return the `connected` event, the first one the stream dispatches."""
    event = await stream.next_event(timeout=5.0)
    assert event.event == "connected", f"first event should be connected, got {event!r}"
    return event


def parse_blocks(raw: str) -> list[dict[str, list[str]]]:
    """Split raw event-stream text into blocks of field -> values (comments dropped)."""
    blocks = []
    for chunk in raw.replace("\r\n", "\n").replace("\r", "\n").split("\n\n"):
        fields: dict[str, list[str]] = {}
        for line in chunk.split("\n"):
            if not line or line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            fields.setdefault(name, []).append(value.removeprefix(" "))
        if fields:
            blocks.append(fields)
    return blocks


async def read_handshake(response: httpx.Response) -> str:
    """Read raw text until the `connected` event's block is complete (5 s at most)."""
    text = ""
    async with asyncio.timeout(5.0):
        async for chunk in response.aiter_text():
            text += chunk
            normalized = text.replace("\r\n", "\n")
            start = normalized.find("event: connected")
            if start != -1 and "\n\n" in normalized[start:]:
                return normalized
    raise AssertionError(f"stream ended before the connected event: {text!r}")


async def status_of(
    client: httpx.AsyncClient, path: str, headers: dict[str, str] | None = None, **params: Any
) -> httpx.Response:
    """Open a stream only to see its status; read the body only if it is an error."""
    async with (
        asyncio.timeout(5.0),
        client.stream("GET", path, headers=headers or {}, params=params) as response,
    ):
        if response.status_code != 200:
            await response.aread()
        return response


# --------------------------------------------------------------------------- handshake


@pytest.mark.parametrize("kind", ["admin", "customer"])
async def test_stream_answers_event_stream_headers_then_retry_then_connected(
    client: httpx.AsyncClient, api: Api, kind: str
) -> None:
    salon_id, admin = await salon_with_admin(api)
    if kind == "admin":
        account, path = admin, ADMIN_STREAM
    else:
        account, path = await api.register_customer(), CUSTOMER_STREAM

    async with client.stream("GET", path, headers=api.auth(account.token)) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].split(";")[0].strip() == "text/event-stream"
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["x-accel-buffering"] == "no"
        raw = await read_handshake(response)

    blocks = parse_blocks(raw)
    assert blocks[0].get("retry") == ["3000"], f"stream must start with retry: 3000, got {raw!r}"
    dispatched = [b for b in blocks if "data" in b]
    assert dispatched, raw
    connected = dispatched[0]
    assert connected.get("event") == ["connected"], raw
    data = json.loads("\n".join(connected["data"]))
    assert "server_time" in data
    if kind == "admin":
        assert data["user_id"] == admin.id
        assert data["salon_id"] == salon_id
    else:
        assert data["customer_id"] == account.id


async def test_customer_stream_connected_event_names_the_salon_filter(api: Api) -> None:
    salon_id, _ = await salon_with_admin(api)
    customer = await api.register_customer()
    async with open_stream(
        api.client, CUSTOMER_STREAM, token=customer.token, params={"salon_id": salon_id}
    ) as stream:
        data = (await wait_connected(stream)).json()
    assert data["customer_id"] == customer.id
    assert data["salon_id"] == salon_id


@pytest.mark.parametrize("kind", ["admin", "customer"])
async def test_ping_with_timestamp_arrives_every_interval(api: Api, kind: str) -> None:
    _, admin = await salon_with_admin(api)
    account = admin if kind == "admin" else await api.register_customer()
    path = ADMIN_STREAM if kind == "admin" else CUSTOMER_STREAM
    async with open_stream(api.client, path, token=account.token) as stream:
        await wait_connected(stream)
        # SSE_PING_INTERVAL=1 on the session server: two pings within ~2.5 s.
        for _ in range(2):
            ping = await stream.next_event(timeout=1.5, skip_pings=False)
            assert ping.event == "ping"
            assert isinstance(ping.json()["timestamp"], str)
            assert ping.json()["timestamp"]


# --------------------------------------------------------------------------- delivery


async def test_admin_receives_salon_notification_with_its_id_and_the_posted_json(
    api: Api,
) -> None:
    salon_id, admin = await salon_with_admin(api)
    before = await notify(api, admin.token, recipient_type="salon", salon_id=salon_id)
    async with open_stream(api.client, ADMIN_STREAM, token=admin.token) as stream:
        await wait_connected(stream)
        created = await notify(
            api,
            admin.token,
            recipient_type="salon",
            salon_id=salon_id,
            notification_type="new_appointment",
            title="New appointment",
            message="Jane booked a haircut",
            entity_type="appointment",
            entity_id=42,
            extra_data={"service_name": "Haircut"},
            priority="high",
        )
        event = await next_notification(stream)
        # Without Last-Event-ID the stream starts live: the earlier one is not replayed.
        assert int(event.id) != before["id"]
        assert int(event.id) == created["id"]
        assert event.json() == created
        await stream.expect_no_event(within=0.3)


async def test_customer_receives_own_notification_with_its_id_and_the_posted_json(
    api: Api,
) -> None:
    salon_id, admin = await salon_with_admin(api)
    customer = await api.register_customer()
    async with open_stream(api.client, CUSTOMER_STREAM, token=customer.token) as stream:
        await wait_connected(stream)
        created = await notify(
            api,
            admin.token,
            recipient_type="customer",
            recipient_id=customer.id,
            salon_id=salon_id,
            notification_type="appointment_confirmed",
            extra_data={"appointment_date": "2030-01-16T14:00:00+00:00", "service_name": "Cut"},
        )
        event = await next_notification(stream)
        assert int(event.id) == created["id"]
        assert event.json() == created
        await stream.expect_no_event(within=0.3)


async def test_customer_stream_with_salon_filter_gets_only_that_salons_notifications(
    api: Api,
) -> None:
    salon_a, admin_a = await salon_with_admin(api)
    salon_b, admin_b = await salon_with_admin(api)
    customer = await api.register_customer()
    async with open_stream(
        api.client, CUSTOMER_STREAM, token=customer.token, params={"salon_id": salon_a}
    ) as stream:
        await wait_connected(stream)
        to_customer = {"recipient_type": "customer", "recipient_id": customer.id}
        from_b = await notify(api, admin_b.token, salon_id=salon_b, **to_customer)
        untagged = await notify(api, api.superadmin_token, **to_customer)
        assert untagged["salon_id"] is None
        from_a = await notify(api, admin_a.token, salon_id=salon_a, **to_customer)

        event = await next_notification(stream)
        assert int(event.id) == from_a["id"], (
            f"filtered on salon {salon_a}: got {event.json()}, not salon B's {from_b['id']} "
            f"nor the untagged {untagged['id']}"
        )
        await stream.expect_no_event(within=0.3)


async def test_customer_stream_without_filter_gets_all_its_own_and_no_one_elses(
    api: Api,
) -> None:
    salon_a, admin_a = await salon_with_admin(api)
    salon_b, admin_b = await salon_with_admin(api)
    customer = await api.register_customer()
    other = await api.register_customer()
    async with open_stream(api.client, CUSTOMER_STREAM, token=customer.token) as stream:
        await wait_connected(stream)
        mine = {"recipient_type": "customer", "recipient_id": customer.id}
        theirs = {"recipient_type": "customer", "recipient_id": other.id}
        await notify(api, admin_a.token, salon_id=salon_a, **theirs)
        await notify(api, admin_a.token, recipient_type="salon", salon_id=salon_a)
        expected = [
            (await notify(api, admin_a.token, salon_id=salon_a, **mine))["id"],
            (await notify(api, admin_b.token, salon_id=salon_b, **mine))["id"],
            (await notify(api, api.superadmin_token, **mine))["id"],
        ]
        await notify(api, api.superadmin_token, **theirs)
        got = [int((await next_notification(stream)).id) for _ in expected]
        assert got == expected
        await stream.expect_no_event(within=0.3)


async def test_burst_of_50_sequential_notifications_arrives_complete_and_in_order(
    api: Api,
) -> None:
    salon_id, admin = await salon_with_admin(api)
    async with open_stream(api.client, ADMIN_STREAM, token=admin.token) as stream:
        await wait_connected(stream)
        sent = [
            (await notify(api, admin.token, recipient_type="salon", salon_id=salon_id))["id"]
            for _ in range(50)
        ]
        got = [int((await next_notification(stream)).id) for _ in sent]
        assert got == sent
        assert got == sorted(got) and len(set(got)) == 50
        await stream.expect_no_event(within=0.3)


async def test_burst_of_50_concurrent_notifications_arrives_complete_and_in_order(
    api: Api,
) -> None:
    salon_id, admin = await salon_with_admin(api)
    customer = await api.register_customer()
    async with open_stream(api.client, CUSTOMER_STREAM, token=customer.token) as stream:
        await wait_connected(stream)
        created = await asyncio.gather(
            *(
                notify(
                    api,
                    admin.token,
                    recipient_type="customer",
                    recipient_id=customer.id,
                    salon_id=salon_id,
                    title=f"n{i}",
                )
                for i in range(50)
            )
        )
        got = [int((await next_notification(stream)).id) for _ in created]
        assert sorted(got) == sorted(n["id"] for n in created), "every one arrives, once"
        assert got == sorted(got), "ids strictly increasing on the stream"
        await stream.expect_no_event(within=0.3)


# --------------------------------------------------------------------------- access


@pytest.mark.parametrize(
    ("role", "path"),
    [
        ("customer", ADMIN_STREAM),
        ("admin", CUSTOMER_STREAM),
        ("superadmin", ADMIN_STREAM),
        ("superadmin", CUSTOMER_STREAM),
    ],
)
async def test_stream_refuses_the_wrong_role_with_403(
    client: httpx.AsyncClient, api: Api, role: str, path: str
) -> None:
    if role == "customer":
        token = (await api.register_customer()).token
    elif role == "admin":
        token = (await salon_with_admin(api))[1].token
    else:
        token = api.superadmin_token
    response = await status_of(client, path, headers=api.auth(token))
    assert response.status_code == 403, response.text
    assert "detail" in response.json()


@pytest.mark.parametrize("path", [ADMIN_STREAM, CUSTOMER_STREAM])
@pytest.mark.parametrize("credential", ["none", "garbage", "access_token_in_url"])
async def test_stream_without_valid_credentials_is_401(
    client: httpx.AsyncClient, api: Api, path: str, credential: str
) -> None:
    headers: dict[str, str] = {}
    params: dict[str, Any] = {}
    if credential == "garbage":
        headers = {"Authorization": "Bearer not-a-jwt"}
    elif credential == "access_token_in_url":
        # A full access token is never accepted in a URL.
        _, admin = await salon_with_admin(api)
        customer = await api.register_customer()
        params = {"token": admin.token if path == ADMIN_STREAM else customer.token}
    response = await status_of(client, path, headers=headers, **params)
    assert response.status_code == 401, response.text
    assert "detail" in response.json()
