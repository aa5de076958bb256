"""The seed's "delivery acknowledgment tracking": recipients acknowledge what reached them."""

from __future__ import annotations

from tests.utils.factories import API, Api, assert_json_error, expect


async def test_recipients_acknowledge_their_own_notifications_only(api: Api):
    await api.ensure_superadmin()
    salon = await api.create_salon()
    admin = await api.create_admin(salon.id)
    customer, stranger = await api.register_customer(), await api.register_customer()
    mine = [
        await api.notify(admin.token, recipient_type="customer", recipient_id=customer.id)
        for _ in range(2)
    ]
    theirs = await api.notify(admin.token, recipient_type="customer", recipient_id=stranger.id)
    assert all(n.delivered_at is None for n in mine)

    ack = f"{API}/notifications/ack"
    ids = [mine[0].id, theirs.id, 10**15]
    first = await api.client.post(ack, json={"ids": ids}, headers=customer.headers)
    assert expect(first, 200).json() == {"updated": 1}  # not the stranger's, not unknown ids
    again = await api.client.post(ack, json={"ids": [mine[0].id]}, headers=customer.headers)
    assert expect(again, 200).json() == {"updated": 0}  # the first receipt is what counts

    listed = {n["id"]: n for n in await api.notifications(customer.token)}
    assert listed[mine[0].id]["delivered_at"] is not None
    assert listed[mine[1].id]["delivered_at"] is None
    assert all(n["delivered_at"] is None for n in await api.notifications(stranger.token))

    read = expect(await api.mark_read(customer.token, mine[1].id), 200).json()
    assert read["is_read"] is True and read["delivered_at"] is not None


async def test_bad_acknowledgements_are_4xx(api: Api):
    customer = await api.register_customer()
    ack = f"{API}/notifications/ack"
    for body in ({"ids": []}, {"ids": [0]}, {"ids": ["x"]}, {"ids": list(range(1, 502))}, {}):
        response = await api.client.post(ack, json=body, headers=customer.headers)
        assert_json_error(response, 422)
    await api.ensure_superadmin()
    as_superadmin = await api.client.post(
        ack, json={"ids": [1]}, headers=api.auth(api.superadmin_token)
    )
    assert as_superadmin.status_code == 403
