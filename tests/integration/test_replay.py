"""Last-Event-ID: a reconnecting client first gets what it missed, in order, then live ones,
with no gap and no duplicate at the seam."""

from __future__ import annotations

import asyncio

import pytest

from tests.utils.factories import API, Account, Api
from tests.utils.sse import open_stream

CUSTOMER_STREAM = f"{API}/notifications/customer/stream"
ADMIN_STREAM = f"{API}/notifications/stream"


@pytest.fixture
async def people(api: Api) -> tuple[Account, Account, Account, int]:
    await api.ensure_superadmin()
    salon = await api.create_salon()
    admin = await api.create_admin(salon.id)
    customer, other = await api.register_customer(), await api.register_customer()
    return admin, customer, other, salon.id


async def send(api: Api, admin: Account, customer: Account, **extra) -> int:
    note = await api.notify(
        admin.token, recipient_type="customer", recipient_id=customer.id, **extra
    )
    return int(note.id)


async def ids_until(stream, expected: list[int]) -> list[int]:
    got: list[int] = []
    while len(got) < len(expected):
        got.append(int((await stream.next_notification()).id))
    return got


async def test_resume_sends_what_was_missed_then_live(api: Api, people):
    admin, customer, other, _ = people
    sent = [await send(api, admin, customer) for _ in range(4)]
    await send(api, admin, other)  # someone else's: never replayed here
    async with open_stream(
        api.client, CUSTOMER_STREAM, token=customer.token, last_event_id=sent[0]
    ) as stream:
        assert (await stream.next_event()).event == "connected"
        assert await ids_until(stream, sent[1:]) == sent[1:]
        live = await send(api, admin, customer)
        assert int((await stream.next_notification()).id) == live
        await stream.expect_no_event(within=0.3)


async def test_query_parameter_and_zero_replay_everything_kept(api: Api, people):
    admin, customer, _, _ = people
    sent = [await send(api, admin, customer) for _ in range(3)]
    async with open_stream(
        api.client, CUSTOMER_STREAM, token=customer.token, params={"last_event_id": 0}
    ) as stream:
        await stream.next_event()
        assert await ids_until(stream, sent) == sent
        await stream.expect_no_event(within=0.3)


async def test_without_last_event_id_the_stream_is_live_only(api: Api, people):
    admin, customer, _, _ = people
    await send(api, admin, customer)
    async with open_stream(api.client, CUSTOMER_STREAM, token=customer.token) as stream:
        await stream.next_event()
        await stream.expect_no_event(within=0.3)


async def test_replay_keeps_the_streams_filters(api: Api, people):
    admin, customer, _, salon_id = people
    await api.ensure_superadmin()
    other_salon = await api.create_salon()
    ours = await send(api, admin, customer, notification_type="appointment_confirmed")
    await send(api, admin, customer, notification_type="promo")
    await api.notify(
        api.superadmin_token,
        recipient_type="customer",
        recipient_id=customer.id,
        salon_id=other_salon.id,
        notification_type="appointment_confirmed",
    )
    params = {"salon_id": salon_id, "types": "appointment_confirmed", "last_event_id": ours - 1}
    async with open_stream(
        api.client, CUSTOMER_STREAM, token=customer.token, params=params
    ) as stream:
        await stream.next_event()
        assert int((await stream.next_notification()).id) == ours
        await stream.expect_no_event(within=0.3)


async def test_admin_replay_has_the_salon_and_its_own_only(api: Api, people):
    admin, _, _, salon_id = people
    colleague = await api.create_admin(salon_id)
    to_salon = await api.notify(admin.token, recipient_type="salon")
    await api.notify(admin.token, recipient_type="user", recipient_id=colleague.id)
    to_me = await api.notify(admin.token, recipient_type="user", recipient_id=admin.id)
    async with open_stream(
        api.client, ADMIN_STREAM, token=admin.token, last_event_id=to_salon.id - 1
    ) as stream:
        await stream.next_event()
        assert await ids_until(stream, [0, 0]) == [to_salon.id, to_me.id]
        await stream.expect_no_event(within=0.3)


@pytest.mark.parametrize("value", ["abc", "-1", "1.5", "99999999999999999999999", "0x10"])
async def test_malformed_last_event_id_is_400(api: Api, people, value: str):
    _, customer, _, _ = people
    for kwargs in ({"headers": {"Last-Event-ID": value}}, {"params": {"last_event_id": value}}):
        async with open_stream(
            api.client, CUSTOMER_STREAM, token=customer.token, **kwargs
        ) as stream:
            assert stream.status_code == 400
            assert "Last-Event-ID" in stream.json()["detail"]


async def test_non_ascii_digits_are_400_too(api: Api, people):
    _, customer, _, _ = people
    params = {"last_event_id": "\uff11\uff12"}  # fullwidth "12": isdigit() says yes
    async with open_stream(
        api.client, CUSTOMER_STREAM, token=customer.token, params=params
    ) as stream:
        assert stream.status_code == 400


async def test_the_seam_has_no_gap_and_no_duplicate_while_creators_write(api: Api, people):
    """Creators write without pause while the client reconnects again and again, each
    time from the last id it saw: it ends with every id once, in increasing order."""
    admin, customer, _, _ = people
    created: list[int] = []
    stop = asyncio.Event()

    async def creator() -> None:
        while not stop.is_set():
            created.append(await send(api, admin, customer))

    creators = [asyncio.create_task(creator()) for _ in range(3)]
    received: list[int] = []
    try:
        for _ in range(6):
            last = received[-1] if received else 0
            async with open_stream(
                api.client, CUSTOMER_STREAM, token=customer.token, last_event_id=last
            ) as stream:
                await stream.next_event()
                for _ in range(5):
                    received.append(int((await stream.next_notification()).id))
    finally:
        stop.set()
        await asyncio.gather(*creators)
    async with open_stream(
        api.client, CUSTOMER_STREAM, token=customer.token, last_event_id=received[-1]
    ) as stream:
        await stream.next_event()
        while len(received) < len(created):
            received.append(int((await stream.next_notification()).id))
        await stream.expect_no_event(within=0.3)
    assert received == sorted(set(received)), "each id once, in increasing order"
    assert received == sorted(created)
