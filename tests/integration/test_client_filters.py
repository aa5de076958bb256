"""The seed's "custom filtering": a client picks types and a lowest priority, live and in lists."""

from __future__ import annotations

from tests.utils.factories import API, Api
from tests.utils.sse import open_stream

CUSTOMER_STREAM = f"{API}/notifications/customer/stream"


async def test_stream_and_list_keep_only_the_chosen_types_and_priorities(api: Api):
    await api.ensure_superadmin()
    salon = await api.create_salon()
    admin = await api.create_admin(salon.id)
    customer = await api.register_customer()
    to_customer = {"recipient_type": "customer", "recipient_id": customer.id}
    params = {"types": "appointment_confirmed, appointment_cancelled", "min_priority": "high"}
    async with (
        open_stream(api.client, CUSTOMER_STREAM, token=customer.token, params=params) as picky,
        open_stream(api.client, CUSTOMER_STREAM, token=customer.token) as everything,
    ):
        await picky.next_event()
        await everything.next_event()
        sent = [
            await api.notify(admin.token, notification_type=kind, priority=priority, **to_customer)
            for kind, priority in [
                ("promo", "urgent"),
                ("appointment_confirmed", "normal"),
                ("appointment_confirmed", "urgent"),
                ("appointment_cancelled", "high"),
            ]
        ]
        kept = [sent[2].id, sent[3].id]
        assert [int((await picky.next_notification()).id) for _ in kept] == kept
        await picky.expect_no_event(within=0.3)
        assert [int((await everything.next_notification()).id) for _ in sent] == [
            n.id for n in sent
        ]
    listed = await api.notifications(customer.token, **params)
    assert [n["id"] for n in listed] == kept[::-1]
    assert len(await api.notifications(customer.token, min_priority="urgent")) == 2


async def test_bad_filters_are_422(api: Api):
    customer = await api.register_customer()
    for params in ({"min_priority": "critical"}, {"types": ",".join(f"t{n}" for n in range(60))}):
        async with open_stream(
            api.client, CUSTOMER_STREAM, token=customer.token, params=params
        ) as stream:
            assert stream.status_code == 422
            assert "detail" in stream.json()
        listed = await api.client.get(
            f"{API}/notifications", params=params, headers=customer.headers
        )
        assert listed.status_code == 422
