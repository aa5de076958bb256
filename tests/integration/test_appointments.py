"""Appointments as producers: booking, confirming and cancelling notify the other side live."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.utils.factories import API, Account, Api, assert_json_error, expect
from tests.utils.sse import open_stream

ADMIN_STREAM = f"{API}/notifications/stream"
CUSTOMER_STREAM = f"{API}/notifications/customer/stream"


def in_days(days: float) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).replace(microsecond=0).isoformat()


@pytest.fixture
async def salon(api: Api) -> dict:
    await api.ensure_superadmin()
    salon = await api.create_salon()
    admin = await api.create_admin(salon.id)
    service = await api.create_service(admin.token, salon.id, name="Haircut")
    customer = await api.register_customer()
    return {"salon": salon, "admin": admin, "service": service, "customer": customer}


async def book(api: Api, customer: Account, salon_id: int, service_id: int, days: float = 2):
    return await api.client.post(
        f"{API}/appointments",
        json={"salon_id": salon_id, "service_id": service_id, "start_time": in_days(days)},
        headers=customer.headers,
    )


async def test_booking_notifies_the_salon_admins_live(api: Api, salon):
    admin, customer = salon["admin"], salon["customer"]
    async with open_stream(api.client, ADMIN_STREAM, token=admin.token) as stream:
        await stream.next_event()  # connected
        booked = expect(await book(api, customer, salon["salon"].id, salon["service"].id), 201)
        appointment = booked.json()
        assert appointment["status"] == "pending"
        assert appointment["customer_id"] == customer.id
        event = await stream.next_notification()
    notification = event.json()
    assert notification["notification_type"] == "new_appointment"
    assert notification["recipient_type"] == "salon"
    assert notification["salon_id"] == salon["salon"].id
    assert (notification["entity_type"], notification["entity_id"]) == (
        "appointment",
        appointment["id"],
    )


async def test_confirming_notifies_the_customer_with_date_and_service(api: Api, salon):
    admin, customer = salon["admin"], salon["customer"]
    appointment = expect(await book(api, customer, salon["salon"].id, salon["service"].id), 201)
    appointment_id = appointment.json()["id"]
    async with open_stream(api.client, CUSTOMER_STREAM, token=customer.token) as stream:
        await stream.next_event()
        confirmed = await api.client.post(
            f"{API}/appointments/{appointment_id}/confirm", headers=admin.headers
        )
        assert expect(confirmed, 200).json()["status"] == "confirmed"
        event = await stream.next_notification()
    notification = event.json()
    assert notification["notification_type"] == "appointment_confirmed"
    assert notification["recipient_type"] == "customer"
    assert notification["recipient_id"] == customer.id
    assert notification["extra_data"]["service_name"] == "Haircut"
    assert notification["extra_data"]["appointment_date"][:16] == appointment.json()["start_time"][
        :16
    ].replace("Z", "")


async def test_cancel_notifies_the_other_side(api: Api, salon):
    admin, customer = salon["admin"], salon["customer"]
    salon_id, service_id = salon["salon"].id, salon["service"].id
    first = expect(await book(api, customer, salon_id, service_id), 201).json()
    second = expect(await book(api, customer, salon_id, service_id, days=3), 201).json()
    async with (
        open_stream(api.client, ADMIN_STREAM, token=admin.token) as admin_stream,
        open_stream(api.client, CUSTOMER_STREAM, token=customer.token) as customer_stream,
    ):
        await admin_stream.next_event()
        await customer_stream.next_event()
        by_customer = await api.client.post(
            f"{API}/appointments/{first['id']}/cancel", headers=customer.headers
        )
        assert expect(by_customer, 200).json()["status"] == "cancelled"
        told_salon = (await admin_stream.next_notification()).json()
        assert told_salon["notification_type"] == "appointment_cancelled"
        assert told_salon["entity_id"] == first["id"]
        by_admin = await api.client.post(
            f"{API}/appointments/{second['id']}/cancel", headers=admin.headers
        )
        expect(by_admin, 200)
        told_customer = (await customer_stream.next_notification()).json()
        assert told_customer["notification_type"] == "appointment_cancelled"
        assert told_customer["entity_id"] == second["id"]
        # nobody is told of their own action
        await admin_stream.expect_no_event(within=0.3)
        await customer_stream.expect_no_event(within=0.3)


async def test_bad_bookings_are_422(api: Api, salon):
    customer, salon_id, service_id = salon["customer"], salon["salon"].id, salon["service"].id
    other_salon = await api.create_salon()
    assert (await book(api, customer, salon_id, service_id, days=-1)).status_code == 422
    assert (await book(api, customer, salon_id, 10**12)).status_code == 422
    assert (await book(api, customer, other_salon.id, service_id)).status_code == 422
    response = await api.client.post(
        f"{API}/appointments", json={"salon_id": salon_id}, headers=customer.headers
    )
    assert_json_error(response, 422)


async def test_roles_and_ownership(api: Api, salon):
    admin, customer = salon["admin"], salon["customer"]
    salon_id, service_id = salon["salon"].id, salon["service"].id
    appointment = expect(await book(api, customer, salon_id, service_id), 201).json()
    stranger = await api.register_customer()
    other_salon = await api.create_salon()
    other_admin = await api.create_admin(other_salon.id)

    assert (await book(api, admin, salon_id, service_id)).status_code == 403
    path = f"{API}/appointments/{appointment['id']}"
    assert (await api.client.post(f"{path}/confirm", headers=customer.headers)).status_code == 403
    assert (
        await api.client.post(f"{path}/confirm", headers=other_admin.headers)
    ).status_code == 404
    assert (await api.client.post(f"{path}/cancel", headers=stranger.headers)).status_code == 404
    assert (await api.client.post(f"{path}/cancel", headers=other_admin.headers)).status_code == 404

    listed = await api.client.get(f"{API}/appointments", headers=admin.headers)
    assert [a["id"] for a in expect(listed, 200).json()] == [appointment["id"]]
    assert (
        expect(await api.client.get(f"{API}/appointments", headers=stranger.headers), 200).json()
        == []
    )
    other = await api.client.get(f"{API}/appointments", headers=other_admin.headers)
    assert expect(other, 200).json() == []


async def test_list_is_soonest_first_and_filters(api: Api, salon):
    customer, salon_id, service_id = salon["customer"], salon["salon"].id, salon["service"].id
    late = expect(await book(api, customer, salon_id, service_id, days=5), 201).json()
    soon = expect(await book(api, customer, salon_id, service_id, days=1), 201).json()
    listed = expect(await api.client.get(f"{API}/appointments", headers=customer.headers), 200)
    assert [a["id"] for a in listed.json()] == [soon["id"], late["id"]]
    day = soon["start_time"][:10]
    by_day = await api.client.get(
        f"{API}/appointments", params={"date": day}, headers=customer.headers
    )
    assert [a["id"] for a in expect(by_day, 200).json()] == [soon["id"]]
    await api.client.post(f"{API}/appointments/{late['id']}/cancel", headers=customer.headers)
    cancelled = await api.client.get(
        f"{API}/appointments", params={"status": "cancelled"}, headers=customer.headers
    )
    assert [a["id"] for a in expect(cancelled, 200).json()] == [late["id"]]
    bad = await api.client.get(
        f"{API}/appointments", params={"status": "lost"}, headers=customer.headers
    )
    assert bad.status_code == 422
