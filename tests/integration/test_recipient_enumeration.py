"""An admin can't tell from the answers whether an id is another salon's admin, a
superadmin or nobody: "no such recipient" reads the same whatever the reason, alone or in
a batch next to another refused item."""

from __future__ import annotations

from tests.utils.factories import API, Api

NOTIFY = f"{API}/notifications"


async def test_no_such_recipient_reads_the_same_whatever_the_reason(api: Api) -> None:
    salon, other_salon = await api.create_salon(), await api.create_salon()
    admin = await api.create_admin(salon.id)
    other_admin = await api.create_admin(other_salon.id, login=False)
    superadmin = (await api.me(api.superadmin_token))["id"]
    customer = await api.register_customer(login=False)
    nobody = other_admin.id + 10_000_000
    base = {"notification_type": "t", "title": "T", "message": "M"}
    # Refused by routing whoever the first item names (a salon notification has no recipient).
    refused = {**base, "recipient_type": "salon", "salon_id": salon.id, "recipient_id": 1}

    def to_customer(recipient_id: int) -> dict[str, object]:
        return {**base, "recipient_type": "customer", "recipient_id": recipient_id}

    def to_my_admin(recipient_id: int) -> dict[str, object]:
        return {
            **base,
            "recipient_type": "user",
            "salon_id": salon.id,
            "recipient_id": recipient_id,
        }

    for shape, who_is_wrong in (
        (to_customer, (other_admin.id, superadmin, admin.id, nobody)),
        (to_my_admin, (other_admin.id, superadmin, customer.id, nobody)),
    ):
        singles, batches = set(), set()
        for who in who_is_wrong:
            single = await api.client.post(NOTIFY, json=shape(who), headers=admin.headers)
            batch = await api.client.post(
                f"{NOTIFY}/batch",
                json={"notifications": [shape(who), refused]},
                headers=admin.headers,
            )
            assert (single.status_code, batch.status_code) == (422, 422), batch.text
            singles.add(single.json()["detail"].replace(f" {who}", " <id>", 1))
            batches.add(batch.json()["detail"].replace(f" {who}", " <id>", 1))
        assert len(singles) == 1, singles
        assert len(batches) == 1, batches
