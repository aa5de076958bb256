"""BROKER_URL=redis://: instances sharing one database and one Redis deliver to each other."""

from __future__ import annotations

import asyncio
import uuid

import httpx

from tests.utils.factories import API, Api, expect
from tests.utils.redis_server import REDIS_URL
from tests.utils.sse import open_stream


async def test_notification_created_on_one_instance_reaches_streams_on_another(
    api: Api, server_factory
):
    await api.ensure_superadmin()
    salon = await api.create_salon()
    admin = await api.create_admin(salon.id)
    customer = await api.register_customer()
    env = {"BROKER_URL": REDIS_URL, "BROKER_PREFIX": f"test-{uuid.uuid4().hex[:12]}"}
    one = await asyncio.to_thread(server_factory, env, share_database=True)
    two = await asyncio.to_thread(server_factory, env, share_database=True)
    async with (
        httpx.AsyncClient(base_url=one.base_url, timeout=10) as on_one,
        httpx.AsyncClient(base_url=two.base_url, timeout=10) as on_two,
        open_stream(on_two, f"{API}/notifications/stream", token=admin.token) as admin_stream,
        open_stream(
            on_one, f"{API}/notifications/customer/stream", token=customer.token
        ) as customer_stream,
    ):
        await admin_stream.next_event()
        await customer_stream.next_event()
        ready = await on_two.get("/readyz")
        assert expect(ready, 200).json()["broker"] is True

        to_salon = {"notification_type": "t", "title": "T", "message": "M"}
        created = await on_one.post(
            f"{API}/notifications",
            json={**to_salon, "recipient_type": "salon"},
            headers=admin.headers,
        )
        salon_note = expect(created, 201).json()
        created = await on_two.post(
            f"{API}/notifications",
            json={**to_salon, "recipient_type": "customer", "recipient_id": customer.id},
            headers=admin.headers,
        )
        customer_note = expect(created, 201).json()

        assert (await admin_stream.next_notification()).json() == salon_note
        assert (await customer_stream.next_notification()).json() == customer_note
        await admin_stream.expect_no_event(within=0.3)
        await customer_stream.expect_no_event(within=0.3)
