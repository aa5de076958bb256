"""The create endpoints' fast path (app/api/fast_creates.py) answers exactly as FastAPI does.

The same request is sent twice: with a Content-Length (the fast path takes it) and with a
chunked body (it has no Content-Length, so it goes through FastAPI); both answers must be
the same, for every kind of answer the endpoints give.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from tests.utils.factories import API, connect

NOTIFY = f"{API}/notifications"


async def _both_ways(api, path: str, body: bytes, token: str) -> tuple[Any, Any]:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    async def chunked() -> AsyncIterator[bytes]:
        yield body

    fast = await api.client.post(path, content=body, headers=headers)
    slow = await api.client.post(path, content=chunked(), headers=headers)
    assert "content-length" not in slow.request.headers  # it really went the other way
    return fast, slow


def _same_answer(fast, slow) -> None:
    assert fast.status_code == slow.status_code, (fast.text, slow.text)
    assert fast.headers["content-type"] == slow.headers["content-type"]
    assert fast.headers.get("www-authenticate") == slow.headers.get("www-authenticate")
    fast_json, slow_json = fast.json(), slow.json()
    if fast.status_code == 201:  # two notifications: same shape, different ids
        assert fast_json.keys() == slow_json.keys()
    else:
        assert fast_json == slow_json


async def test_every_kind_of_answer_is_the_same_on_both_paths(server):
    async with connect(server) as api:
        await api.ensure_superadmin()
        salon = await api.create_salon()
        other = await api.create_salon()
        admin = await api.create_admin(salon.id)
        customer = await api.register_customer()
        good = {"notification_type": "t", "title": "T", "message": "M", "priority": "high"}
        cases = [
            (NOTIFY, {**good, "recipient_type": "salon", "salon_id": salon.id}, admin.token),
            (
                f"{NOTIFY}/batch",
                {"notifications": [{**good, "recipient_type": "salon", "salon_id": salon.id}] * 3},
                admin.token,
            ),
            (NOTIFY, {**good, "recipient_type": "salon", "salon_id": other.id}, admin.token),
            (NOTIFY, {**good, "recipient_type": "salon", "salon_id": 99999}, api.superadmin_token),
            (NOTIFY, {**good, "recipient_type": "nobody"}, admin.token),
            (NOTIFY, {"title": "only a title"}, admin.token),
            (f"{NOTIFY}/batch", {"notifications": []}, admin.token),
            (NOTIFY, {**good, "recipient_type": "salon", "salon_id": salon.id}, "not-a-token"),
            (NOTIFY, {**good, "recipient_type": "salon", "salon_id": salon.id}, customer.token),
        ]
        statuses = []
        for path, body, token in cases:
            fast, slow = await _both_ways(api, path, json.dumps(body).encode(), token)
            _same_answer(fast, slow)
            statuses.append(fast.status_code)
        for raw in (b"{not json", b"[]", b'{"title": "\xff"}'):
            fast, slow = await _both_ways(api, NOTIFY, raw, admin.token)
            _same_answer(fast, slow)
            statuses.append(fast.status_code)
        assert set(statuses) >= {201, 401, 403, 422}


async def test_a_notification_created_on_the_fast_path_is_stored_and_pushed(server):
    async with connect(server) as api:
        await api.ensure_superadmin()
        salon = await api.create_salon()
        admin = await api.create_admin(salon.id)
        sent = await api.notify(admin.token, recipient_type="salon", salon_id=salon.id)
        listed = await api.notifications(admin.token)
        assert [n["id"] for n in listed][:1] == [sent.id]
        assert listed[0] == dict(sent)
