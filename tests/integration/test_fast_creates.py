"""The create endpoints' front door (app/api/front_door.py) answers exactly as FastAPI does.

The same request is sent twice: with a Content-Length (the front door takes it) and with a
chunked body (its size is FastAPI's body limit's to count, so it goes through FastAPI);
both answers must be the same, for every kind of answer the endpoints give.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator
from typing import Any

from app.core.metrics import FRONT_DOOR_DECLINES
from tests.utils.db import _execute, _run
from tests.utils.factories import API, connect
from tests.utils.metrics import moved, scrape

NOTIFY = f"{API}/notifications"
DECLINES = "salon_front_door_declines_total"


async def _one_way(api, way: str, body: bytes, token: str, path: str = NOTIFY) -> Any:
    """`fast`: with a Content-Length; `slow`: chunked, which the front door leaves to FastAPI."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    async def chunked() -> AsyncIterator[bytes]:
        yield body

    if way == "fast":
        return await api.client.post(path, content=body, headers=headers)
    slow = await api.client.post(path, content=chunked(), headers=headers)
    assert "content-length" not in slow.request.headers  # it really went the other way
    return slow


async def _both_ways(api, path: str, body: bytes, token: str) -> tuple[Any, Any]:
    fast = await _one_way(api, "fast", body, token, path)
    return fast, await _one_way(api, "slow", body, token, path)


def _same_answer(fast, slow) -> None:
    assert fast.status_code == slow.status_code, (fast.text, slow.text)
    assert fast.headers["content-type"] == slow.headers["content-type"]
    assert sorted(fast.headers.keys()) == sorted(slow.headers.keys())  # the same head
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


async def test_which_path_answered_shows_in_the_declines_metric(server):
    async with connect(server) as api:
        await api.ensure_superadmin()
        salon = await api.create_salon()
        admin = await api.create_admin(salon.id)
        body = json.dumps(
            {"notification_type": "t", "title": "T", "message": "M", "recipient_type": "salon"}
            | {"salon_id": salon.id}
        ).encode()
        before = await scrape(api.client)
        fast, slow = await _both_ways(api, NOTIFY, body, admin.token)
        assert fast.status_code == slow.status_code == 201
        after = await scrape(api.client)
    declined = {
        reason: moved(before, after, DECLINES, route="create_notification", reason=reason)
        for reason in FRONT_DOOR_DECLINES
    }
    # Only the chunked one (no Content-Length) went on to FastAPI.
    assert declined == {reason: (1 if reason == "chunked" else 0) for reason in declined}


def _break_notifications_table(database_url: str) -> None:
    """Rename the table the writer inserts into, behind the server's back."""
    statement = "ALTER TABLE notifications RENAME TO notifications_gone"
    if database_url.startswith("sqlite"):
        with sqlite3.connect(database_url.split("///", 1)[1]) as db:
            db.execute(statement)
        return
    _run(_execute(database_url.replace("postgresql+asyncpg://", "postgresql://"), statement))


async def test_a_database_error_is_the_same_json_500_on_both_paths(server_factory):
    broken = server_factory()
    async with connect(broken) as api:
        await api.ensure_superadmin()
        salon = await api.create_salon()
        admin = await api.create_admin(salon.id)
        body = {"notification_type": "t", "title": "T", "message": "M"}
        body |= {"recipient_type": "salon", "salon_id": salon.id}
        await api.notify(admin.token, **body)  # works, and the salon is known from now on
        _break_notifications_table(broken.overrides["DATABASE_URL"])
        before = await scrape(api.client)
        answers = []
        for way in ("fast", "slow"):  # each on a connection of its own: a 500 closes it
            async with connect(broken) as fresh:
                answers.append(await _one_way(fresh, way, json.dumps(body).encode(), admin.token))
        fast, slow = answers
        after = await scrape(api.client)
    assert fast.status_code == slow.status_code == 500
    assert fast.headers["content-type"] == slow.headers["content-type"] == "application/json"
    assert fast.json() == slow.json() == {"detail": "internal server error"}
    declined = moved(before, after, DECLINES, route="create_notification", reason="chunked")
    assert declined == 1
