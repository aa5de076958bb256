"""POST /notifications/batch: up to 500 in one transaction, each routed as if created alone."""

from __future__ import annotations

from tests.utils.factories import API, Api, expect
from tests.utils.sse import open_stream

BATCH = f"{API}/notifications/batch"


def item(**fields) -> dict:
    return {"notification_type": "batch", "title": "T", "message": "M", **fields}


async def test_a_batch_is_stored_in_order_and_each_reaches_exactly_its_recipients(api: Api):
    await api.ensure_superadmin()
    salon = await api.create_salon()
    admin, colleague = await api.create_admin(salon.id), await api.create_admin(salon.id)
    customer = await api.register_customer()
    items = [
        item(recipient_type="salon"),
        item(recipient_type="user", recipient_id=colleague.id),
        item(recipient_type="customer", recipient_id=customer.id),
        item(recipient_type="salon", priority="urgent"),
    ]
    async with (
        open_stream(api.client, f"{API}/notifications/stream", token=admin.token) as mine,
        open_stream(api.client, f"{API}/notifications/stream", token=colleague.token) as theirs,
        open_stream(
            api.client, f"{API}/notifications/customer/stream", token=customer.token
        ) as customers,
    ):
        for stream in (mine, theirs, customers):
            await stream.next_event()
        response = await api.client.post(
            BATCH, json={"notifications": items}, headers=admin.headers
        )
        stored = expect(response, 201).json()["notifications"]
        ids = [n["id"] for n in stored]
        assert ids == sorted(ids) and len(set(ids)) == 4
        assert [n["recipient_type"] for n in stored] == ["salon", "user", "customer", "salon"]
        assert all(n["salon_id"] == salon.id for n in stored)  # the admin's salon by default

        async def received(stream, count):
            return [int((await stream.next_notification()).id) for _ in range(count)]

        assert await received(mine, 2) == [ids[0], ids[3]]
        assert await received(theirs, 3) == [ids[0], ids[1], ids[3]]
        assert await received(customers, 1) == [ids[2]]
        for stream in (mine, theirs, customers):
            await stream.expect_no_event(within=0.3)


async def test_one_bad_item_stores_nothing_and_is_named(api: Api):
    await api.ensure_superadmin()
    salon, other = await api.create_salon(), await api.create_salon()
    admin = await api.create_admin(salon.id)
    before = len(await api.notifications(admin.token))
    bad_routing = [
        item(recipient_type="salon"),
        item(recipient_type="customer", recipient_id=10**12),
    ]
    response = await api.client.post(
        BATCH, json={"notifications": bad_routing}, headers=admin.headers
    )
    assert response.status_code == 422
    assert "notifications[1]" in response.json()["detail"]

    bad_shape = [item(recipient_type="salon"), item(recipient_type="nobody")]
    response = await api.client.post(
        BATCH, json={"notifications": bad_shape}, headers=admin.headers
    )
    assert response.status_code == 422
    assert any(1 in err["loc"] for err in response.json()["detail"])

    other_salon = [item(recipient_type="salon"), item(recipient_type="salon", salon_id=other.id)]
    response = await api.client.post(
        BATCH, json={"notifications": other_salon}, headers=admin.headers
    )
    assert response.status_code == 403
    assert "notifications[1]" in response.json()["detail"]
    assert len(await api.notifications(admin.token)) == before


async def test_batch_size_and_roles(api: Api):
    await api.ensure_superadmin()
    salon = await api.create_salon()
    customer = await api.register_customer()
    too_many = [item(recipient_type="salon", salon_id=salon.id)] * 501
    superadmin = api.auth(api.superadmin_token)
    response = await api.client.post(BATCH, json={"notifications": too_many}, headers=superadmin)
    assert response.status_code == 422
    empty = await api.client.post(BATCH, json={"notifications": []}, headers=superadmin)
    assert empty.status_code == 422
    full = await api.client.post(BATCH, json={"notifications": too_many[:500]}, headers=superadmin)
    assert len(expect(full, 201).json()["notifications"]) == 500
    as_customer = await api.client.post(
        BATCH, json={"notifications": too_many[:1]}, headers=customer.headers
    )
    assert as_customer.status_code == 403
