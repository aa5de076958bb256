"""Salons, their admins and their services: who may do what (the contract's table)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.utils.factories import API, Account, Api, assert_json_error, connect, unique_email
from tests.utils.server import ServerProcess

SALONS = f"{API}/salons"


@dataclass
class World:
    salon_a: int
    salon_b: int
    admin_a: Account
    admin_b: Account
    customer: Account
    superadmin_token: str

    def token(self, who: str) -> str | None:
        return {
            "superadmin": self.superadmin_token,
            "admin_of_salon": self.admin_a.token,
            "admin_of_other_salon": self.admin_b.token,
            "customer": self.customer.token,
            "anonymous": None,
        }[who]


@pytest.fixture(scope="module")
async def world(server: ServerProcess) -> AsyncIterator[World]:
    """Two salons with one admin each, and a customer; salon A is the one acted on."""
    async with connect(server) as api:
        salon_a = (await api.create_salon()).id
        salon_b = (await api.create_salon()).id
        yield World(
            salon_a=salon_a,
            salon_b=salon_b,
            admin_a=await api.create_admin(salon_a),
            admin_b=await api.create_admin(salon_b),
            customer=await api.register_customer(),
            superadmin_token=api.superadmin_token,
        )


def headers(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


# --------------------------------------------------------------------------- salons


async def test_superadmin_creates_a_salon(api: Api, world: World) -> None:
    name = f"Salon {uuid.uuid4().hex[:6]}"
    response = await api.client.post(
        SALONS, json={"name": name}, headers=headers(world.superadmin_token)
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert isinstance(body["id"], int)
    assert body["name"] == name


@pytest.mark.parametrize(
    ("who", "status"),
    [("admin_of_salon", 403), ("customer", 403), ("anonymous", 401)],
)
async def test_only_the_superadmin_creates_salons(
    api: Api, world: World, who: str, status: int
) -> None:
    name = f"Refused {uuid.uuid4().hex[:6]}"
    response = await api.client.post(SALONS, json={"name": name}, headers=headers(world.token(who)))
    assert_json_error(response, status)
    if status == 401:
        assert response.headers.get("www-authenticate", "").lower().startswith("bearer")
    listed = await api.client.get(SALONS, headers=headers(world.superadmin_token))
    assert name not in {s["name"] for s in listed.json()}


@pytest.mark.parametrize(
    "body", [pytest.param({}, id="no-name"), pytest.param({"name": ["x"]}, id="name-not-a-string")]
)
async def test_creating_a_salon_with_a_bad_body_is_422(
    api: Api, world: World, body: dict[str, Any]
) -> None:
    response = await api.client.post(SALONS, json=body, headers=headers(world.superadmin_token))
    assert_json_error(response, 422)


@pytest.mark.parametrize(
    "who", ["superadmin", "admin_of_salon", "admin_of_other_salon", "customer"]
)
async def test_any_token_lists_the_salons(api: Api, world: World, who: str) -> None:
    response = await api.client.get(SALONS, headers=headers(world.token(who)))
    assert response.status_code == 200, response.text
    salons = response.json()
    assert isinstance(salons, list)
    assert {world.salon_a, world.salon_b} <= {s["id"] for s in salons}
    assert all(set(s) >= {"id", "name"} for s in salons)


async def test_listing_salons_needs_a_token(api: Api) -> None:
    assert_json_error(await api.client.get(SALONS), 401)


# --------------------------------------------------------------------------- salon admins


def admin_body(**overrides: Any) -> dict[str, Any]:
    return {
        "email": unique_email("admin"),
        "password": "admin-pass-" + uuid.uuid4().hex[:6],
        "full_name": "New Admin",
        **overrides,
    }


@pytest.mark.parametrize("who", ["superadmin", "admin_of_salon"])
async def test_superadmin_or_an_admin_of_the_salon_adds_an_admin(
    api: Api, world: World, who: str
) -> None:
    body = admin_body()
    response = await api.client.post(
        f"{SALONS}/{world.salon_a}/admins", json=body, headers=headers(world.token(who))
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["email"] == body["email"]
    assert created["role"] == "admin"
    assert created["salon_id"] == world.salon_a
    assert body["password"] not in response.text

    me = await api.me(await api.login(body["email"], body["password"]))
    assert (me["id"], me["role"], me["salon_id"]) == (created["id"], "admin", world.salon_a)


@pytest.mark.parametrize(
    ("who", "status"),
    [("admin_of_other_salon", 403), ("customer", 403), ("anonymous", 401)],
)
async def test_others_cannot_add_an_admin_to_a_salon(
    api: Api, world: World, who: str, status: int
) -> None:
    body = admin_body()
    response = await api.client.post(
        f"{SALONS}/{world.salon_a}/admins", json=body, headers=headers(world.token(who))
    )
    assert_json_error(response, status)
    refused = await api.login_response(body["email"], body["password"])
    assert refused.status_code == 401, "a refused admin must not have been created"


async def test_adding_an_admin_to_an_unknown_salon_is_404(api: Api, world: World) -> None:
    response = await api.client.post(
        f"{SALONS}/99999999/admins", json=admin_body(), headers=headers(world.superadmin_token)
    )
    assert_json_error(response, 404)


@pytest.mark.parametrize("taken_by", ["customer", "admin_b"])
async def test_adding_an_admin_with_a_taken_email_is_409(
    api: Api, world: World, taken_by: str
) -> None:
    email = world.customer.email if taken_by == "customer" else world.admin_b.email
    response = await api.client.post(
        f"{SALONS}/{world.salon_a}/admins",
        json=admin_body(email=email),
        headers=headers(world.superadmin_token),
    )
    assert_json_error(response, 409)
    # The existing account is untouched: still its role, still its password.
    owner = world.customer if taken_by == "customer" else world.admin_b
    me = await api.me(await api.login(owner.email, owner.password))
    assert (me["role"], me["salon_id"]) == (owner.role, owner.salon_id)


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"email": "not-an-email"}, id="invalid-email"),
        pytest.param({"password": "short"}, id="short-password"),
        pytest.param({"password": None}, id="no-password"),
    ],
)
async def test_adding_an_admin_with_a_bad_body_is_422(
    api: Api, world: World, overrides: dict[str, Any]
) -> None:
    body = {k: v for k, v in admin_body(**overrides).items() if v is not None}
    response = await api.client.post(
        f"{SALONS}/{world.salon_a}/admins", json=body, headers=headers(world.superadmin_token)
    )
    assert_json_error(response, 422)


# --------------------------------------------------------------------------- services


def service_body(**overrides: Any) -> dict[str, Any]:
    return {
        "name": f"Cut {uuid.uuid4().hex[:6]}",
        "duration_minutes": 45,
        "price": 30.5,
        **overrides,
    }


async def test_an_admin_of_the_salon_adds_a_service(api: Api, world: World) -> None:
    body = service_body()
    response = await api.client.post(
        f"{SALONS}/{world.salon_a}/services", json=body, headers=headers(world.admin_a.token)
    )
    assert response.status_code == 201, response.text
    service = response.json()
    assert isinstance(service["id"], int)
    assert service["salon_id"] == world.salon_a
    assert service["name"] == body["name"]
    assert service["duration_minutes"] == 45
    assert float(service["price"]) == 30.5


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("admin_of_other_salon", 403),
        ("superadmin", 403),  # the contract: "admin of that salon" only
        ("customer", 403),
        ("anonymous", 401),
    ],
)
async def test_only_an_admin_of_the_salon_adds_services(
    api: Api, world: World, who: str, status: int
) -> None:
    body = service_body()
    response = await api.client.post(
        f"{SALONS}/{world.salon_a}/services", json=body, headers=headers(world.token(who))
    )
    assert_json_error(response, status)
    listed = await api.client.get(
        f"{SALONS}/{world.salon_a}/services", headers=headers(world.customer.token)
    )
    assert body["name"] not in {s["name"] for s in listed.json()}


@pytest.mark.parametrize(
    "who", ["superadmin", "admin_of_salon", "admin_of_other_salon", "customer"]
)
async def test_any_token_lists_a_salons_services_and_only_that_salons(
    api: Api, world: World, who: str
) -> None:
    mine = await api.create_service(world.admin_a.token, world.salon_a)
    theirs = await api.create_service(world.admin_b.token, world.salon_b)

    response = await api.client.get(
        f"{SALONS}/{world.salon_a}/services", headers=headers(world.token(who))
    )
    assert response.status_code == 200, response.text
    services = response.json()
    ids = {s["id"] for s in services}
    assert mine.id in ids
    assert theirs.id not in ids
    assert all(s["salon_id"] == world.salon_a for s in services)


async def test_listing_services_needs_a_token(api: Api, world: World) -> None:
    assert_json_error(await api.client.get(f"{SALONS}/{world.salon_a}/services"), 401)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"duration_minutes": 30, "price": 10}, id="no-name"),
        pytest.param({"name": "Cut", "price": 10}, id="no-duration"),
        pytest.param({"name": "Cut", "duration_minutes": 30}, id="no-price"),
        pytest.param({"name": "Cut", "duration_minutes": "long", "price": 10}, id="duration-text"),
        pytest.param({"name": "Cut", "duration_minutes": 30, "price": "cheap"}, id="price-text"),
        pytest.param({"name": "Cut", "duration_minutes": 0, "price": 10}, id="zero-duration"),
        pytest.param({"name": "Cut", "duration_minutes": -30, "price": 10}, id="negative-duration"),
        pytest.param({"name": "Cut", "duration_minutes": 30, "price": -1}, id="negative-price"),
    ],
)
async def test_adding_a_service_with_a_bad_body_is_422(
    api: Api, world: World, body: dict[str, Any]
) -> None:
    response = await api.client.post(
        f"{SALONS}/{world.salon_a}/services", json=body, headers=headers(world.admin_a.token)
    )
    assert_json_error(response, 422)
