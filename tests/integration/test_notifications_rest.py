"""The notifications REST API: who may create, who sees what in a list, reading state.

The accounts are shared by the module, so tests look at the notifications they create
(by id) or measure from a baseline, never at absolute totals of someone's inbox.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.utils.factories import API, Account, Api, assert_json_error, connect
from tests.utils.server import ServerProcess

NOTIFICATIONS = f"{API}/notifications"
FIELDS = {
    "id",
    "notification_type",
    "title",
    "message",
    "recipient_type",
    "recipient_id",
    "salon_id",
    "entity_type",
    "entity_id",
    "is_read",
    "created_at",
    "extra_data",
    "priority",
}


@dataclass
class World:
    salon_a: int
    salon_b: int
    admin_a1: Account
    admin_a2: Account
    admin_b: Account
    customer1: Account
    customer2: Account
    superadmin_token: str


@pytest.fixture(scope="module")
async def world(server: ServerProcess) -> AsyncIterator[World]:
    """Salon A with two admins, salon B with one, two customers."""
    async with connect(server) as api:
        salon_a = (await api.create_salon()).id
        salon_b = (await api.create_salon()).id
        yield World(
            salon_a=salon_a,
            salon_b=salon_b,
            admin_a1=await api.create_admin(salon_a),
            admin_a2=await api.create_admin(salon_a),
            admin_b=await api.create_admin(salon_b),
            customer1=await api.register_customer(),
            customer2=await api.register_customer(),
            superadmin_token=api.superadmin_token,
        )


def ids(notifications: list[dict[str, Any]]) -> list[int]:
    return [n["id"] for n in notifications]


def by_id(notifications: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    return {n["id"]: n for n in notifications}


async def inbox(api: Api, account: Account, **params: Any) -> list[dict[str, Any]]:
    return await api.notifications(account.token, limit=200, **params)


def to_salon(salon_id: int, **extra: Any) -> dict[str, Any]:
    return {"recipient_type": "salon", "salon_id": salon_id, **extra}


def to_admin(admin: Account, **extra: Any) -> dict[str, Any]:
    return {"recipient_type": "user", "recipient_id": admin.id, "salon_id": admin.salon_id, **extra}


def to_customer(customer: Account, **extra: Any) -> dict[str, Any]:
    return {"recipient_type": "customer", "recipient_id": customer.id, **extra}


# --------------------------------------------------------------------------- creating


async def test_an_admin_notifies_its_own_salon(api: Api, world: World) -> None:
    response = await api.send_notification(
        world.admin_a1.token,
        notification_type="stock_low",
        title="Shampoo is running out",
        message="Order more",
        entity_type="product",
        entity_id=42,
        **to_salon(world.salon_a),
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert set(created) >= FIELDS, created
    assert isinstance(created["id"], int)
    assert created["notification_type"] == "stock_low"
    assert created["title"] == "Shampoo is running out"
    assert created["message"] == "Order more"
    assert created["recipient_type"] == "salon"
    assert created["recipient_id"] is None
    assert created["salon_id"] == world.salon_a
    assert (created["entity_type"], created["entity_id"]) == ("product", 42)
    assert created["is_read"] is False
    assert created["extra_data"] is None
    assert created["priority"] == "normal"

    listed = by_id(await inbox(api, world.admin_a2))[created["id"]]
    assert {k: listed[k] for k in FIELDS} == {k: created[k] for k in FIELDS}


async def test_created_at_is_iso_8601_with_a_timezone_and_now(api: Api, world: World) -> None:
    created = await api.notify(world.superadmin_token, **to_customer(world.customer1))
    stamp = datetime.fromisoformat(created["created_at"])
    assert stamp.tzinfo is not None, created["created_at"]
    assert abs(datetime.now(UTC) - stamp) < timedelta(minutes=2), created["created_at"]


async def test_ids_grow_in_creation_order(api: Api, world: World) -> None:
    first = await api.notify(world.superadmin_token, **to_customer(world.customer1))
    second = await api.notify(world.admin_b.token, **to_salon(world.salon_b))
    third = await api.notify(world.admin_a1.token, **to_customer(world.customer2))
    assert first.id < second.id < third.id


@pytest.mark.parametrize("priority", ["low", "normal", "high", "urgent"])
async def test_priority_and_extra_data_are_stored_as_given(
    api: Api, world: World, priority: str
) -> None:
    extra = {
        "appointment_date": "2030-01-16T14:00:00+00:00",
        "service_name": "Haircut",
        "n": [1, 2],
    }
    created = await api.notify(
        world.admin_a1.token, priority=priority, extra_data=extra, **to_customer(world.customer1)
    )
    assert created.priority == priority
    assert created.extra_data == extra
    listed = by_id(await inbox(api, world.customer1))[created.id]
    assert (listed["priority"], listed["extra_data"]) == (priority, extra)


async def test_an_admin_cannot_notify_another_salon(api: Api, world: World) -> None:
    title = f"Not yours {uuid.uuid4().hex[:6]}"
    response = await api.send_notification(
        world.admin_a1.token, title=title, **to_salon(world.salon_b)
    )
    assert_json_error(response, 403)
    assert title not in {n["title"] for n in await inbox(api, world.admin_b)}


async def test_an_admin_cannot_address_another_salons_admin_or_customer_under_it(
    api: Api, world: World
) -> None:
    for body in (to_admin(world.admin_b), to_customer(world.customer1, salon_id=world.salon_b)):
        response = await api.send_notification(world.admin_a1.token, **body)
        assert response.status_code == 403, f"{body}: {response.text}"


async def test_the_superadmin_notifies_any_salon(api: Api, world: World) -> None:
    created = await api.notify(world.superadmin_token, **to_salon(world.salon_b))
    assert created.salon_id == world.salon_b
    assert created.id in ids(await inbox(api, world.admin_b))


async def test_a_customer_cannot_create_notifications(api: Api, world: World) -> None:
    title = f"Self-made {uuid.uuid4().hex[:6]}"
    for body in (to_customer(world.customer1), to_salon(world.salon_a)):
        response = await api.send_notification(world.customer1.token, title=title, **body)
        assert response.status_code == 403, f"{body}: {response.text}"
    assert title not in {n["title"] for n in await inbox(api, world.customer1)}
    assert title not in {n["title"] for n in await inbox(api, world.admin_a1)}


async def test_creating_needs_a_token(api: Api, world: World) -> None:
    response = await api.client.post(
        NOTIFICATIONS,
        json={"notification_type": "t", "title": "t", "message": "m", **to_salon(world.salon_a)},
    )
    assert response.status_code == 401, response.text


async def test_an_admins_customer_notification_is_tagged_with_its_salon(
    api: Api, world: World
) -> None:
    created = await api.notify(world.admin_a1.token, **to_customer(world.customer1))
    assert created.salon_id == world.salon_a


ROUTING_ERRORS = {
    # name: (body builder, sender) -- each one is a 422 with a JSON detail
    "salon-without-salon-id": (lambda w: {"recipient_type": "salon"}, "superadmin"),
    "salon-unknown": (lambda w: to_salon(99999999), "superadmin"),
    "user-without-recipient": (
        lambda w: {"recipient_type": "user", "salon_id": w.salon_a},
        "superadmin",
    ),
    "user-without-salon-id": (
        lambda w: {"recipient_type": "user", "recipient_id": w.admin_a1.id},
        "superadmin",
    ),
    "user-unknown": (
        lambda w: {"recipient_type": "user", "recipient_id": 99999999, "salon_id": w.salon_a},
        "superadmin",
    ),
    "user-is-a-customer": (
        lambda w: {"recipient_type": "user", "recipient_id": w.customer1.id, "salon_id": w.salon_a},
        "superadmin",
    ),
    "user-is-another-salons-admin": (
        lambda w: {"recipient_type": "user", "recipient_id": w.admin_b.id, "salon_id": w.salon_a},
        "superadmin",
    ),
    "user-of-another-salon-by-an-admin": (
        lambda w: {"recipient_type": "user", "recipient_id": w.admin_b.id, "salon_id": w.salon_a},
        "admin",
    ),
    "customer-without-recipient": (lambda w: {"recipient_type": "customer"}, "superadmin"),
    "customer-unknown": (
        lambda w: {"recipient_type": "customer", "recipient_id": 99999999},
        "superadmin",
    ),
    "customer-is-an-admin": (
        lambda w: {"recipient_type": "customer", "recipient_id": w.admin_a1.id},
        "superadmin",
    ),
    "customer-is-an-admin-by-an-admin": (
        lambda w: {"recipient_type": "customer", "recipient_id": w.admin_a2.id},
        "admin",
    ),
    "unknown-recipient-type": (
        lambda w: {"recipient_type": "everyone", "salon_id": w.salon_a},
        "superadmin",
    ),
    "unknown-priority": (lambda w: to_salon(w.salon_a, priority="critical"), "superadmin"),
    "extra-data-not-an-object": (lambda w: to_salon(w.salon_a, extra_data=[1, 2]), "superadmin"),
}


@pytest.mark.parametrize("case", list(ROUTING_ERRORS))
async def test_an_unroutable_or_invalid_notification_is_422(
    api: Api, world: World, case: str
) -> None:
    build, sender = ROUTING_ERRORS[case]
    token = world.superadmin_token if sender == "superadmin" else world.admin_a1.token
    title = f"Invalid {case} {uuid.uuid4().hex[:6]}"
    response = await api.send_notification(token, title=title, **build(world))
    assert response.status_code == 422, response.text
    assert response.json().get("detail"), response.text
    for account in (world.admin_a1, world.admin_a2, world.admin_b, world.customer1):
        assert title not in {n["title"] for n in await inbox(api, account)}, account


@pytest.mark.parametrize("missing", ["notification_type", "title", "message", "recipient_type"])
async def test_a_notification_without_a_required_field_is_422(
    api: Api, world: World, missing: str
) -> None:
    body = {"notification_type": "t", "title": "t", "message": "m", **to_salon(world.salon_a)}
    del body[missing]
    response = await api.client.post(
        NOTIFICATIONS, json=body, headers=api.auth(world.superadmin_token)
    )
    assert response.status_code == 422, response.text
    assert response.json().get("detail"), response.text


# --------------------------------------------------------------------------- listing


async def test_each_principal_lists_only_its_notifications_newest_first(
    api: Api, world: World
) -> None:
    sa = world.superadmin_token
    salon_a = await api.notify(sa, **to_salon(world.salon_a))
    user_a1 = await api.notify(sa, **to_admin(world.admin_a1))
    user_a2 = await api.notify(sa, **to_admin(world.admin_a2))
    cust_1 = await api.notify(sa, **to_customer(world.customer1, salon_id=world.salon_a))
    cust_2 = await api.notify(sa, **to_customer(world.customer2))
    salon_b = await api.notify(sa, **to_salon(world.salon_b))
    everything = [salon_a, user_a1, user_a2, cust_1, cust_2, salon_b]
    expected = {
        "admin_a1": [user_a1, salon_a],
        "admin_a2": [user_a2, salon_a],
        "admin_b": [salon_b],
        "customer1": [cust_1],
        "customer2": [cust_2],
    }
    for name, mine in expected.items():
        listed = await inbox(api, getattr(world, name))
        assert ids(listed) == sorted(ids(listed), reverse=True), f"{name}: not newest first"
        created_here = [n for n in listed if n["id"] in ids(everything)]
        assert created_here == mine, name


async def test_limit_and_before_id_page_through_the_list(api: Api, world: World) -> None:
    made = [
        (await api.notify(world.superadmin_token, **to_customer(world.customer2))).id
        for _ in range(5)
    ]
    newest_first = made[::-1]
    token = world.customer2.token

    assert ids(await api.notifications(token, limit=2)) == newest_first[:2]
    assert (
        ids(await api.notifications(token, limit=2, before_id=newest_first[1])) == newest_first[2:4]
    )
    last_page = await api.notifications(token, limit=2, before_id=newest_first[3])
    assert ids(last_page)[:1] == newest_first[4:]
    assert all(i < made[0] for i in ids(last_page)[1:])


async def test_the_default_page_is_50_and_the_maximum_200(api: Api, world: World) -> None:
    customer = world.customer2
    newest = None
    for _ in range(51):
        newest = await api.notify(world.superadmin_token, **to_customer(customer))
    assert newest is not None
    default_page = await api.notifications(customer.token)
    assert len(default_page) == 50
    assert default_page[0]["id"] == newest.id
    assert len(await api.notifications(customer.token, limit=200)) >= 51


@pytest.mark.parametrize(
    "params", [{"limit": 0}, {"limit": 201}, {"limit": "ten"}, {"before_id": "x"}]
)
async def test_out_of_range_paging_parameters_are_422(
    api: Api, world: World, params: dict[str, Any]
) -> None:
    response = await api.client.get(
        NOTIFICATIONS, params=params, headers=api.auth(world.customer1.token)
    )
    assert response.status_code == 422, response.text


async def test_unread_only_leaves_out_what_was_read(api: Api, world: World) -> None:
    sa, customer = world.superadmin_token, world.customer1
    read = await api.notify(sa, **to_customer(customer))
    unread = await api.notify(sa, **to_customer(customer))
    assert (await api.mark_read(customer.token, read.id)).status_code == 200

    only_unread = await inbox(api, customer, unread_only="true")
    assert unread.id in ids(only_unread)
    assert read.id not in ids(only_unread)
    assert all(n["is_read"] is False for n in only_unread)
    everything = by_id(await inbox(api, customer))
    assert everything[read.id]["is_read"] is True
    assert everything[unread.id]["is_read"] is False


async def test_a_customer_filters_its_list_by_salon(api: Api, world: World) -> None:
    sa, customer = world.superadmin_token, world.customer1
    at_a = await api.notify(sa, **to_customer(customer, salon_id=world.salon_a))
    at_b = await api.notify(sa, **to_customer(customer, salon_id=world.salon_b))
    untagged = await api.notify(sa, **to_customer(customer))

    only_a = await inbox(api, customer, salon_id=world.salon_a)
    assert at_a.id in ids(only_a)
    assert {at_b.id, untagged.id}.isdisjoint(ids(only_a))
    assert all(n["salon_id"] == world.salon_a for n in only_a)
    assert {at_a.id, at_b.id, untagged.id} <= set(ids(await inbox(api, customer)))


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", NOTIFICATIONS),
        ("GET", f"{NOTIFICATIONS}/unread-count"),
        ("POST", f"{NOTIFICATIONS}/read-all"),
        ("POST", f"{NOTIFICATIONS}/1/read"),
    ],
)
async def test_the_superadmin_has_no_inbox(api: Api, world: World, method: str, path: str) -> None:
    response = await api.client.request(method, path, headers=api.auth(world.superadmin_token))
    assert response.status_code == 403, response.text
    anonymous = await api.client.request(method, path)
    assert anonymous.status_code == 401, anonymous.text


# --------------------------------------------------------------------------- reading


async def test_unread_count_follows_creation_and_reading(api: Api, world: World) -> None:
    customer = world.customer2
    before = await api.unread_count(customer.token)
    first = await api.notify(world.superadmin_token, **to_customer(customer))
    await api.notify(world.superadmin_token, **to_customer(customer))
    await api.notify(world.superadmin_token, **to_customer(world.customer1))  # not theirs
    assert await api.unread_count(customer.token) == before + 2

    assert (await api.mark_read(customer.token, first.id)).status_code == 200
    assert await api.unread_count(customer.token) == before + 1

    response = await api.client.get(
        f"{NOTIFICATIONS}/unread-count", headers=api.auth(customer.token)
    )
    assert response.json() == {"unread": before + 1}


async def test_an_admins_unread_count_covers_its_salon_and_itself(api: Api, world: World) -> None:
    admin = world.admin_a1
    before = await api.unread_count(admin.token)
    await api.notify(world.superadmin_token, **to_salon(world.salon_a))
    await api.notify(world.superadmin_token, **to_admin(admin))
    await api.notify(world.superadmin_token, **to_admin(world.admin_a2))  # the colleague's
    await api.notify(world.superadmin_token, **to_salon(world.salon_b))  # another salon's
    assert await api.unread_count(admin.token) == before + 2


async def test_the_recipient_marks_a_notification_read(api: Api, world: World) -> None:
    created = await api.notify(world.admin_a1.token, **to_customer(world.customer1))
    response = await api.mark_read(world.customer1.token, created.id)
    assert response.status_code == 200, response.text
    marked = response.json()
    assert marked["is_read"] is True
    assert {k: marked[k] for k in FIELDS - {"is_read"}} == {
        k: created[k] for k in FIELDS - {"is_read"}
    }
    assert by_id(await inbox(api, world.customer1))[created.id]["is_read"] is True

    again = await api.mark_read(world.customer1.token, created.id)
    assert again.status_code == 200, again.text
    assert again.json()["is_read"] is True


@pytest.mark.parametrize(
    ("owner", "intruder", "route"),
    [
        ("customer1", "customer2", "customer"),
        ("customer1", "admin_a1", "customer"),
        ("admin_a1", "admin_a2", "user"),
        ("admin_a1", "admin_b", "salon"),
        ("admin_a1", "customer1", "salon"),
    ],
)
async def test_marking_someone_elses_notification_is_404_and_changes_nothing(
    api: Api, world: World, owner: str, intruder: str, route: str
) -> None:
    recipient: Account = getattr(world, owner)
    body = {
        "customer": to_customer(recipient),
        "user": to_admin(recipient),
        "salon": to_salon(world.salon_a),
    }[route]
    created = await api.notify(world.superadmin_token, **body)

    response = await api.mark_read(getattr(world, intruder).token, created.id)
    assert_json_error(response, 404)
    assert by_id(await inbox(api, recipient))[created.id]["is_read"] is False


@pytest.mark.parametrize(
    ("notification_id", "allowed"),
    [
        (2**31, {404}),  # past a 32-bit integer column
        (2**53 + 1, {404}),
        (2**63, {404, 422}),  # past a 64-bit integer: unknown or invalid, never a crash
        (10**30, {404, 422}),
        (0, {404, 422}),
        (-1, {404, 422}),
        ("abc", {422}),
        ("1.5", {422}),
    ],
)
async def test_marking_a_nonexistent_id_is_a_client_error(
    api: Api, world: World, notification_id: int | str, allowed: set[int]
) -> None:
    response = await api.mark_read(world.customer1.token, notification_id)
    assert_json_error(response, allowed)


async def test_a_salon_notification_read_by_one_admin_is_read_for_the_other(
    api: Api, world: World
) -> None:
    created = await api.notify(world.superadmin_token, **to_salon(world.salon_a))
    a2_before = await api.unread_count(world.admin_a2.token)

    response = await api.mark_read(world.admin_a1.token, created.id)
    assert response.status_code == 200, response.text
    assert response.json()["is_read"] is True

    assert by_id(await inbox(api, world.admin_a2))[created.id]["is_read"] is True
    assert await api.unread_count(world.admin_a2.token) == a2_before - 1
    assert created.id not in ids(await inbox(api, world.admin_a2, unread_only="true"))


async def test_read_all_counts_and_touches_only_the_callers_notifications(
    api: Api, world: World
) -> None:
    sa = world.superadmin_token
    c1, c2 = world.customer1, world.customer2
    assert (await api.read_all(c1.token)).status_code == 200  # start from an empty inbox
    mine = [await api.notify(sa, **to_customer(c1)) for _ in range(3)]
    theirs = await api.notify(sa, **to_customer(c2))
    salon = await api.notify(sa, **to_salon(world.salon_a))

    response = await api.read_all(c1.token)
    assert response.status_code == 200, response.text
    assert response.json() == {"updated": 3}
    assert await api.unread_count(c1.token) == 0
    listed = by_id(await inbox(api, c1))
    assert all(listed[n.id]["is_read"] for n in mine)

    assert by_id(await inbox(api, c2))[theirs.id]["is_read"] is False
    assert by_id(await inbox(api, world.admin_a1))[salon.id]["is_read"] is False

    assert (await api.read_all(c1.token)).json() == {"updated": 0}


async def test_an_admins_read_all_reads_the_salons_and_its_own_but_not_a_colleagues(
    api: Api, world: World
) -> None:
    sa, a1, a2 = world.superadmin_token, world.admin_a1, world.admin_a2
    assert (await api.read_all(a1.token)).status_code == 200  # start from an empty inbox
    salon = await api.notify(sa, **to_salon(world.salon_a))
    own = await api.notify(sa, **to_admin(a1))
    colleagues = await api.notify(sa, **to_admin(a2))
    other_salon = await api.notify(sa, **to_salon(world.salon_b))

    response = await api.read_all(a1.token)
    assert response.status_code == 200, response.text
    assert response.json() == {"updated": 2}

    a2_inbox = by_id(await inbox(api, a2))
    assert a2_inbox[salon.id]["is_read"] is True  # one shared flag per salon notification
    assert a2_inbox[colleagues.id]["is_read"] is False
    assert by_id(await inbox(api, a1))[own.id]["is_read"] is True
    assert by_id(await inbox(api, world.admin_b))[other_salon.id]["is_read"] is False
