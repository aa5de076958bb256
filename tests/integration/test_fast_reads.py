"""The reads' front door (app/api/front_door.py) answers exactly as FastAPI does.

The same read is sent twice: as it is (the front door answers it) and with an Origin
header (CORS is FastAPI's, so the front door leaves it to FastAPI; no cookie is sent, so
the credential is the same); both answers must be the same bytes, and the declines metric
must say which path answered each.
"""

from __future__ import annotations

from typing import Any

from app.core.metrics import FRONT_DOOR_DECLINES
from tests.integration.test_fast_creates import _break_notifications_table
from tests.utils.factories import API, Api, connect
from tests.utils.metrics import Samples, moved, scrape

LIST = f"{API}/notifications"
COUNT = f"{API}/notifications/unread-count"
DECLINES = "salon_front_door_declines_total"
VIA_FASTAPI = {"Origin": "http://elsewhere.example.test"}


def _declined(
    before: Samples, after: Samples, route: str = "list_notifications"
) -> dict[str, float]:
    return {
        reason: moved(before, after, DECLINES, route=route, reason=reason)
        for reason in FRONT_DOOR_DECLINES
    }


async def _both_ways(api: Api, path: str, token: str, params: dict[str, Any]) -> tuple[Any, Any]:
    headers = api.auth(token)
    fast = await api.client.get(path, params=params, headers=headers)
    slow = await api.client.get(path, params=params, headers={**headers, **VIA_FASTAPI})
    return fast, slow


async def _customer_with_history(api: Api) -> tuple[Any, Any, list[Any]]:
    await api.ensure_superadmin()
    salon = await api.create_salon()
    admin = await api.create_admin(salon.id)
    customer = await api.register_customer()
    to_customer = {"recipient_type": "customer", "recipient_id": customer.id, "salon_id": salon.id}
    extra = {"price": 12.5, "big": 1e16, "tiny": 1e-7, "name": 'Zoë ✂️ "quoted"\n', "ids": [1, 2]}
    sent = [
        await api.notify(
            admin.token,
            notification_type=kind,
            priority=priority,
            extra_data=extra if kind == "promo" else None,
            **to_customer,
        )
        for kind, priority in [
            ("promo", "low"),
            ("appointment_confirmed", "high"),
            ("promo", "urgent"),
            ("appointment_cancelled", "normal"),
        ]
    ]
    assert (await api.mark_read(customer.token, sent[1].id)).status_code == 200
    acked = await api.client.post(
        f"{LIST}/ack", json={"ids": [sent[2].id]}, headers=api.auth(customer.token)
    )
    assert acked.status_code == 200
    return salon, customer, sent


async def test_the_list_is_the_same_bytes_on_both_paths(api: Api):
    salon, customer, sent = await _customer_with_history(api)
    queries: list[dict[str, Any]] = [
        {},
        {"limit": 2},
        {"before_id": sent[2].id},
        {"unread_only": "true"},
        {"unread_only": "0"},
        {"types": "promo, appointment_cancelled", "min_priority": "normal"},
        {"salon_id": salon.id, "limit": 200},
        {"salon_id": salon.id + 1000},
    ]
    before = await scrape(api.client)
    for params in queries:
        fast, slow = await _both_ways(api, LIST, customer.token, params)
        assert fast.status_code == slow.status_code == 200, (params, fast.text, slow.text)
        assert fast.headers["content-type"] == slow.headers["content-type"]
        assert fast.content == slow.content, params
    after = await scrape(api.client)
    # Every plain read was the front door's; every one with an Origin went on to FastAPI.
    assert _declined(before, after) == {
        reason: (len(queries) if reason == "origin" else 0) for reason in FRONT_DOOR_DECLINES
    }
    listed = (await api.client.get(LIST, headers=api.auth(customer.token))).json()
    assert [n["id"] for n in listed] == [n.id for n in reversed(sent)]
    assert listed[-1]["extra_data"]["name"] == 'Zoë ✂️ "quoted"\n'
    assert [n["is_read"] for n in listed] == [False, False, True, False]
    assert listed[1]["delivered_at"] is not None


async def test_the_unread_count_is_the_same_on_both_paths(api: Api):
    _salon, customer, _sent = await _customer_with_history(api)
    before = await scrape(api.client)
    fast, slow = await _both_ways(api, COUNT, customer.token, {})
    after = await scrape(api.client)
    assert fast.status_code == slow.status_code == 200
    assert fast.content == slow.content == b'{"unread":3}'
    assert fast.headers["content-type"] == slow.headers["content-type"]
    assert _declined(before, after, "unread_count") == {
        reason: (1 if reason == "origin" else 0) for reason in FRONT_DOOR_DECLINES
    }


async def test_refusals_are_answered_alike_by_the_front_door_and_fastapi(api: Api):
    await api.ensure_superadmin()
    customer = await api.register_customer()
    cases: list[tuple[str, dict[str, Any], dict[str, str], int]] = [
        (LIST, {}, {}, 401),
        (COUNT, {}, {"Authorization": "Bearer not-a-token"}, 401),
        (LIST, {}, api.auth(api.superadmin_token), 403),  # no notifications
        (LIST, {"limit": 0}, api.auth(customer.token), 422),
        (LIST, {"limit": 201}, api.auth(customer.token), 422),
        (LIST, {"before_id": "x"}, api.auth(customer.token), 422),
        (LIST, {"min_priority": "critical"}, api.auth(customer.token), 422),
    ]
    for path, params, headers, status in cases:
        before = await scrape(api.client)
        front = await api.client.get(path, params=params, headers=headers)
        after = await scrape(api.client)
        fastapi = await api.client.get(path, params=params, headers={**headers, **VIA_FASTAPI})
        assert front.status_code == fastapi.status_code == status, (params, front.text)
        assert front.headers["content-type"] == "application/json"
        assert front.json() == fastapi.json() and "detail" in front.json()
        assert front.headers.get("www-authenticate") == fastapi.headers.get("www-authenticate")
        route = "list_notifications" if path == LIST else "unread_count"
        assert not any(_declined(before, after, route).values()), params  # the front door's


async def test_a_database_error_is_the_same_json_500_on_both_paths(server_factory):
    broken = server_factory()
    async with connect(broken) as api:
        customer = await api.register_customer()
        _break_notifications_table(broken.overrides["DATABASE_URL"])
        before = await scrape(api.client)
        answers = []
        for extra in ({}, VIA_FASTAPI):  # each on a connection of its own: a 500 closes it
            async with connect(broken) as fresh:
                headers = {**api.auth(customer.token), **extra}
                answers.append(await fresh.client.get(LIST, headers=headers))
        after = await scrape(api.client)
    fast, slow = answers
    assert fast.status_code == slow.status_code == 500
    assert fast.headers["content-type"] == slow.headers["content-type"] == "application/json"
    assert fast.json() == slow.json() == {"detail": "internal server error"}
    assert _declined(before, after) == {
        reason: (1 if reason == "origin" else 0) for reason in FRONT_DOOR_DECLINES
    }
