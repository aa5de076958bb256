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
from tests.utils.sse import SSEEvent, SSEStream, open_stream

ADMIN_STREAM = "/api/v1/notifications/stream"
CUSTOMER_STREAM = "/api/v1/notifications/customer/stream"


# --------------------------------------------------------------------------- helpers


async def salon_with_admin(api: Api) -> tuple[int, Account]:
    salon = await api.create_salon()
    return salon.id, await api.create_admin(salon.id)


async def wait_connected(stream: SSEStream) -> SSEEvent:
    """The `connected` event, which must be the first one the stream dispatches."""
    assert stream.status_code == 200, stream.text
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

    async with open_stream(client, path, token=account.token) as stream:
        assert stream.status_code == 200, stream.text
        assert stream.headers["content-type"].split(";")[0].strip() == "text/event-stream"
        assert stream.headers["cache-control"] == "no-cache"
        assert stream.headers["x-accel-buffering"] == "no"
        connected = await wait_connected(stream)
        raw = stream.raw.decode()

    blocks = parse_blocks(raw)
    assert blocks[0].get("retry") == ["3000"], f"stream must open with retry: 3000, got {raw!r}"
    first_dispatched = next(b for b in blocks if "data" in b)
    assert first_dispatched.get("event") == ["connected"], raw
    data = connected.json()
    assert json.loads("\n".join(first_dispatched["data"])) == data
    assert isinstance(data["server_time"], str) and data["server_time"]
    if kind == "admin":
        assert data["user_id"] == admin.id
        assert data["salon_id"] == salon_id
    else:
        assert data["customer_id"] == account.id


async def test_customer_stream_connected_event_names_the_salon_filter(api: Api) -> None:
    salon_id, _ = await salon_with_admin(api)
    customer = await api.register_customer()
    params = {"salon_id": salon_id}
    async with open_stream(api.client, CUSTOMER_STREAM, customer.token, params) as stream:
        data = (await wait_connected(stream)).json()
    assert data["customer_id"] == customer.id
    assert data["salon_id"] == salon_id


@pytest.mark.parametrize("kind", ["admin", "customer"])
async def test_ping_with_a_timestamp_arrives_every_interval(api: Api, kind: str) -> None:
    _, admin = await salon_with_admin(api)
    account = admin if kind == "admin" else await api.register_customer()
    path = ADMIN_STREAM if kind == "admin" else CUSTOMER_STREAM
    async with open_stream(api.client, path, token=account.token) as stream:
        await wait_connected(stream)
        # SSE_PING_INTERVAL=1 on the session server: one ping at least every ~1.5 s.
        for _ in range(2):
            ping = await stream.next_event(timeout=1.5, skip_pings=False)
            assert ping.event == "ping", ping
            timestamp = ping.json()["timestamp"]
            assert isinstance(timestamp, str | int | float) and timestamp, ping


# --------------------------------------------------------------------------- delivery


async def test_admin_receives_a_salon_notification_with_its_id_and_the_posted_json(
    api: Api,
) -> None:
    salon_id, admin = await salon_with_admin(api)
    await api.notify(admin.token, recipient_type="salon", salon_id=salon_id)
    async with open_stream(api.client, ADMIN_STREAM, token=admin.token) as stream:
        await wait_connected(stream)
        created = await api.notify(
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
        # Without Last-Event-ID the stream starts live: the earlier one is not replayed.
        event = await stream.next_notification()
        assert event.id == str(created["id"])
        assert event.json() == created
        await stream.expect_no_event(within=0.3)


async def test_customer_receives_its_notification_with_its_id_and_the_posted_json(
    api: Api,
) -> None:
    salon_id, admin = await salon_with_admin(api)
    customer = await api.register_customer()
    async with open_stream(api.client, CUSTOMER_STREAM, token=customer.token) as stream:
        await wait_connected(stream)
        created = await api.notify(
            admin.token,
            recipient_type="customer",
            recipient_id=customer.id,
            salon_id=salon_id,
            notification_type="appointment_confirmed",
            extra_data={"appointment_date": "2030-01-16T14:00:00+00:00", "service_name": "Cut"},
        )
        event = await stream.next_notification()
        assert event.id == str(created["id"])
        assert event.json() == created
        await stream.expect_no_event(within=0.3)


async def test_customer_stream_filtered_on_a_salon_gets_only_that_salons_notifications(
    api: Api,
) -> None:
    salon_a, admin_a = await salon_with_admin(api)
    salon_b, admin_b = await salon_with_admin(api)
    customer = await api.register_customer()
    params = {"salon_id": salon_a}
    async with open_stream(api.client, CUSTOMER_STREAM, customer.token, params) as stream:
        await wait_connected(stream)
        to_customer = {"recipient_type": "customer", "recipient_id": customer.id}
        from_b = await api.notify(admin_b.token, salon_id=salon_b, **to_customer)
        untagged = await api.notify(api.superadmin_token, **to_customer)
        assert untagged["salon_id"] is None
        from_a = await api.notify(admin_a.token, salon_id=salon_a, **to_customer)

        event = await stream.next_notification()
        assert event.id == str(from_a["id"]), (
            f"filtered on salon {salon_a}: want only {from_a['id']}, not salon B's "
            f"{from_b['id']} nor the untagged {untagged['id']}; got {event!r}"
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
        await api.notify(admin_a.token, salon_id=salon_a, **theirs)
        await api.notify(admin_a.token, recipient_type="salon", salon_id=salon_a)
        expected = [
            (await api.notify(admin_a.token, salon_id=salon_a, **mine)).id,
            (await api.notify(admin_b.token, salon_id=salon_b, **mine)).id,
            (await api.notify(api.superadmin_token, **mine)).id,
        ]
        await api.notify(api.superadmin_token, **theirs)
        got = [int((await stream.next_notification()).id or 0) for _ in expected]
        assert got == expected
        await stream.expect_no_event(within=0.3)


async def test_a_burst_of_50_notifications_arrives_complete_and_in_order(api: Api) -> None:
    salon_id, admin = await salon_with_admin(api)
    async with open_stream(api.client, ADMIN_STREAM, token=admin.token) as stream:
        await wait_connected(stream)
        sent = [
            (await api.notify(admin.token, recipient_type="salon", salon_id=salon_id)).id
            for _ in range(50)
        ]
        got = [int((await stream.next_notification()).id or 0) for _ in sent]
        assert got == sent
        assert sent == sorted(set(sent)), "ids grow in the order notifications are created"
        await stream.expect_no_event(within=0.3)


async def test_a_concurrent_burst_of_50_arrives_complete_once_each_in_increasing_ids(
    api: Api,
) -> None:
    salon_id, admin = await salon_with_admin(api)
    customer = await api.register_customer()
    body = {"recipient_type": "customer", "recipient_id": customer.id, "salon_id": salon_id}
    async with open_stream(api.client, CUSTOMER_STREAM, token=customer.token) as stream:
        await wait_connected(stream)
        created = await asyncio.gather(*(api.notify(admin.token, **body) for _ in range(50)))
        got = [int((await stream.next_notification()).id or 0) for _ in created]
        assert sorted(got) == sorted(n.id for n in created), "every one arrives, once"
        # A client resuming from the last id it saw must not skip one: ids only increase.
        assert got == sorted(got), f"ids out of order on the stream: {got}"
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
async def test_a_stream_refuses_the_wrong_role_with_403(api: Api, role: str, path: str) -> None:
    if role == "customer":
        token = (await api.register_customer()).token
    elif role == "admin":
        token = (await salon_with_admin(api))[1].token
    else:
        token = api.superadmin_token
    async with open_stream(api.client, path, token=token) as stream:
        assert stream.status_code == 403, stream.text
        assert "detail" in stream.json()


@pytest.mark.parametrize("path", [ADMIN_STREAM, CUSTOMER_STREAM])
@pytest.mark.parametrize("credential", ["none", "garbage", "access_token_in_url"])
async def test_a_stream_without_valid_credentials_is_401(
    api: Api, path: str, credential: str
) -> None:
    headers: dict[str, str] = {}
    params: dict[str, Any] = {}
    if credential == "garbage":
        headers = {"Authorization": "Bearer not-a-jwt"}
    elif credential == "access_token_in_url":
        # A full access token is never accepted in a URL.
        if path == ADMIN_STREAM:
            account = (await salon_with_admin(api))[1]
        else:
            account = await api.register_customer()
        params = {"token": account.token}
    async with open_stream(api.client, path, params=params, headers=headers) as stream:
        assert stream.status_code == 401, stream.text
        assert "detail" in stream.json()
