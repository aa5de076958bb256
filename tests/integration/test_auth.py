"""Accounts and logging in, as the contract's "Auth and accounts" table describes them."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.utils.factories import API, Api, assert_json_error, unique_email
from tests.utils.server import ServerProcess
from tests.utils.tokens import decode_unverified

REGISTER = f"{API}/auth/register"
LOGIN = f"{API}/auth/login"
ME = f"{API}/auth/me"


# --------------------------------------------------------------------------- register


async def test_register_creates_a_customer_and_never_echoes_the_password(
    client: httpx.AsyncClient,
) -> None:
    email, password = unique_email(), "s3cret-" + uuid.uuid4().hex
    response = await client.post(
        REGISTER, json={"email": email, "password": password, "full_name": "Ada Lovelace"}
    )

    assert response.status_code == 201, response.text
    body = response.json()
    assert isinstance(body["id"], int)
    assert body["email"] == email
    assert body["full_name"] == "Ada Lovelace"
    assert body["role"] == "customer"
    assert body["salon_id"] is None
    assert password not in response.text
    assert not {key for key in body if "password" in key.lower()}, body


async def test_registering_an_email_twice_is_a_conflict(api: Api) -> None:
    customer = await api.register_customer(login=False)
    response = await api.client.post(
        REGISTER,
        json={"email": customer.email, "password": "another-pass-1", "full_name": "Twin"},
    )
    assert_json_error(response, 409)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"email": "not-an-email", "password": "long-enough-1"}, id="invalid-email"),
        pytest.param({"email": "@example.com", "password": "long-enough-1"}, id="no-local-part"),
        pytest.param({"email": "{email}", "password": "short7!"}, id="password-7-chars"),
        pytest.param({"email": "{email}"}, id="no-password"),
        pytest.param({"password": "long-enough-1"}, id="no-email"),
        pytest.param({"email": "{email}", "password": 12345678}, id="password-not-a-string"),
    ],
)
async def test_register_rejects_invalid_bodies_with_422(
    client: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    email = unique_email()
    body = {"full_name": "Invalid", **{k: email if v == "{email}" else v for k, v in body.items()}}
    response = await client.post(REGISTER, json=body)
    assert_json_error(response, 422)
    if body.get("password") == "short7!":  # nothing was created: that login still fails
        login = await client.post(LOGIN, data={"username": email, "password": "short7!"})
        assert login.status_code == 401, login.text


async def test_register_rejects_a_non_json_body_with_422(client: httpx.AsyncClient) -> None:
    response = await client.post(
        REGISTER, content=b"{not json", headers={"content-type": "application/json"}
    )
    assert_json_error(response, 422)


# --------------------------------------------------------------------------- login


async def test_login_returns_a_bearer_jwt_naming_the_account(api: Api) -> None:
    customer = await api.register_customer(login=False)
    response = await api.login_response(customer.email, customer.password)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer"
    header, claims = decode_unverified(body["access_token"])
    assert header["alg"] == "HS256"
    assert claims["sub"] == str(customer.id)
    assert claims["role"] == "customer"
    assert isinstance(claims["exp"], int)


async def test_login_with_a_wrong_password_is_401(api: Api) -> None:
    customer = await api.register_customer(login=False)
    response = await api.login_response(customer.email, customer.password + "x")
    assert_json_error(response, 401)


async def test_login_with_an_unknown_email_is_401(api: Api) -> None:
    response = await api.login_response(unique_email("nobody"), "whatever-password")
    assert_json_error(response, 401)


@pytest.mark.parametrize(
    "form",
    [
        pytest.param({"username": "someone@example.com"}, id="no-password"),
        pytest.param({"password": "whatever-password"}, id="no-username"),
    ],
)
async def test_login_without_a_field_is_422(
    client: httpx.AsyncClient, form: dict[str, str]
) -> None:
    assert_json_error(await client.post(LOGIN, data=form), 422)


# --------------------------------------------------------------------------- me


async def test_me_describes_the_superadmin(api: Api, server: ServerProcess) -> None:
    response = await api.client.get(ME, headers=api.auth(api.superadmin_token))
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) >= {"id", "email", "full_name", "role", "salon_id"}
    assert body["email"] == server.superadmin_email
    assert body["role"] == "superadmin"
    assert body["salon_id"] is None


async def test_me_describes_an_admin_with_its_salon(api: Api) -> None:
    salon = await api.create_salon()
    admin = await api.create_admin(salon.id, full_name="Grace Hopper")
    body = await api.me(admin.token)
    assert {k: body.get(k) for k in ("id", "email", "full_name", "role", "salon_id")} == {
        "id": admin.id,
        "email": admin.email,
        "full_name": "Grace Hopper",
        "role": "admin",
        "salon_id": salon.id,
    }
    _, claims = decode_unverified(admin.token)
    assert claims["role"] == "admin"
    assert claims["salon_id"] == salon.id


async def test_me_describes_a_customer(api: Api) -> None:
    customer = await api.register_customer(full_name="Alan Turing")
    body = await api.me(customer.token)
    assert body["id"] == customer.id
    assert body["email"] == customer.email
    assert body["full_name"] == "Alan Turing"
    assert body["role"] == "customer"
    assert body["salon_id"] is None


# --------------------------------------------------------------------------- first superadmin


async def test_the_superadmin_from_the_environment_can_log_in(
    api: Api, server: ServerProcess
) -> None:
    token = await api.login(server.superadmin_email, server.superadmin_password)
    _, claims = decode_unverified(token)
    assert claims["role"] == "superadmin"
    assert (await api.me(token))["role"] == "superadmin"


async def test_a_restart_with_the_superadmin_still_in_the_environment_keeps_it(
    server_factory: Any,
) -> None:
    first = await asyncio.to_thread(server_factory)
    async with httpx.AsyncClient(base_url=first.base_url, timeout=10) as http:
        api = Api(http, first)
        before = await api.me(await api.login(first.superadmin_email, first.superadmin_password))
    await asyncio.to_thread(first.stop)
    await first.astart()  # same database, same FIRST_SUPERADMIN_*: must start, not duplicate
    async with httpx.AsyncClient(base_url=first.base_url, timeout=10) as http:
        api = Api(http, first)
        after = await api.me(await api.login(first.superadmin_email, first.superadmin_password))
    assert after == before


async def test_the_create_superadmin_command_makes_an_account_that_can_log_in(
    api: Api, server: ServerProcess, tmp_path: Path
) -> None:
    email, password = unique_email("cli-root"), "cli-pass-" + uuid.uuid4().hex[:8]
    command = [sys.executable, "-m", "app.cli", "create-superadmin"]
    command += ["--email", email, "--password", password]
    result = await asyncio.to_thread(
        subprocess.run,
        command,
        cwd=tmp_path,
        env=server.env,  # the server's DATABASE_URL (and the repository on PYTHONPATH)
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert password not in result.stdout + result.stderr

    token = await api.login(email, password)
    body = await api.me(token)
    assert (body["email"], body["role"]) == (email, "superadmin")
    assert (await api.create_salon(token=token)).id  # and it acts as one
