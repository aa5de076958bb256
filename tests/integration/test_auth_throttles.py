"""Sign-in and registration throttles: failed logins per account and per client address,
registrations per address; past one a 429 with Retry-After, even for the right password;
0 turns one off; the counts are shared by every instance with redis://; X-Forwarded-For is
believed only from TRUSTED_PROXIES."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx

from tests.utils.cluster import instance_env
from tests.utils.factories import API, Api, connect, unique_email
from tests.utils.server import fresh_server

LOGIN, SESSION, REGISTER = f"{API}/auth/login", f"{API}/auth/session", f"{API}/auth/register"


async def _login(client: httpx.AsyncClient, email: str, password: str, **headers: str) -> int:
    response = await client.post(
        LOGIN, data={"username": email, "password": password}, headers=headers
    )
    assert response.status_code in (200, 401, 429), response.text
    if response.status_code == 429:
        assert int(response.headers["Retry-After"]) >= 1
        assert "detail" in response.json()
    return response.status_code


async def _start(server_factory, env: dict[str, str], **options: bool):
    return await asyncio.to_thread(server_factory, env, **options)


async def test_failed_logins_lock_the_account_even_for_the_right_password(server_factory) -> None:
    srv = await _start(server_factory, {"LIMIT_LOGIN_FAILURES": "3"})
    async with connect(srv) as api:
        victim, other = await api.register_customer(), await api.register_customer()
        assert [await _login(api.client, victim.email, "wrong-guess-1") for _ in range(3)] == [
            401
        ] * 3
        assert await _login(api.client, victim.email, victim.password) == 429
        # The cookie sign-in is the same door, and another spelling the same account.
        form = {"username": victim.email.upper(), "password": victim.password}
        assert (await api.client.post(SESSION, data=form)).status_code == 429
        # Another account from the same address is not locked.
        assert await _login(api.client, other.email, other.password) == 200


async def test_failures_from_one_address_lock_it_out_and_0_turns_a_throttle_off(
    server_factory,
) -> None:
    srv = await _start(
        server_factory, {"LIMIT_LOGIN_FAILURES": "0", "LIMIT_LOGIN_FAILURES_PER_ADDRESS": "4"}
    )
    async with connect(srv) as api:
        customer = await api.register_customer()
        # Per account off: one account guessed at 4 times is not locked by it...
        statuses = [await _login(api.client, customer.email, f"guess-{n}") for n in range(4)]
        assert statuses == [401] * 4
        # ...but the address is, whichever account it tries next.
        assert await _login(api.client, customer.email, customer.password) == 429
        assert await _login(api.client, unique_email(), "anything-at-all") == 429


async def test_x_forwarded_for_counts_only_from_a_trusted_proxy(server_factory) -> None:
    env = {"LIMIT_LOGIN_FAILURES": "0", "LIMIT_LOGIN_FAILURES_PER_ADDRESS": "2"}
    trusting = await _start(server_factory, {**env, "TRUSTED_PROXIES": "127.0.0.1"})
    distrusting = await _start(server_factory, {**env, "TRUSTED_PROXIES": "10.9.8.7"})
    for srv, spoof_helps in ((trusting, True), (distrusting, False)):
        async with connect(srv) as api:
            customer = await api.register_customer()
            for n in range(2):
                await _login(api.client, customer.email, f"guess-{n}", **_via("203.0.113.5"))
            assert await _login(api.client, customer.email, customer.password) == (
                200 if spoof_helps else 429
            ), srv.overrides["TRUSTED_PROXIES"]
            # The proxy's client is the one locked out, not everyone behind the proxy.
            behind = await _login(
                api.client, customer.email, customer.password, **_via("203.0.113.5")
            )
            assert behind == 429


def _via(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


async def test_registrations_per_address(server_factory) -> None:
    srv = await _start(server_factory, {"LIMIT_REGISTRATIONS_PER_ADDRESS": "2"})
    async with connect(srv) as api:
        statuses = []
        for _ in range(3):
            body = {
                "email": unique_email(),
                "password": "good-pass-" + uuid.uuid4().hex[:8],
                "full_name": "N",
            }
            response = await api.client.post(REGISTER, json=body)
            statuses.append(response.status_code)
        assert statuses == [201, 201, 429], statuses
        assert int(response.headers["Retry-After"]) >= 1


async def test_invalid_registrations_count_toward_the_limit_too(tmp_path: Path) -> None:
    good = {"email": unique_email(), "password": "good-pass-1234", "full_name": "N"}
    junk = {"junk": "x" * 100_000}  # every field missing
    # The count is the question, not the database: one backend.
    with fresh_server("sqlite", tmp_path, LIMIT_REGISTRATIONS_PER_ADDRESS="3") as srv:
        async with connect(srv) as api:
            post = api.client.post
            invalid = [
                await post(REGISTER, json=junk),
                await post(REGISTER, content=b"{no", headers={"Content-Type": "application/json"}),
                await post(REGISTER, json={**good, "password": "short"}),
            ]
            assert [r.status_code for r in invalid] == [422] * 3, [r.text[:200] for r in invalid]
            # Counted before it was read: the next one, valid or not, is refused unread.
            for body in (good, junk):
                refused = await post(REGISTER, json=body)
                assert refused.status_code == 429, refused.text[:200]
                assert int(refused.headers["Retry-After"]) >= 1


async def test_failed_logins_are_counted_across_instances_with_redis(
    api: Api, server_factory
) -> None:
    env = instance_env(LIMIT_LOGIN_FAILURES="3")
    one = await _start(server_factory, env, share_database=True)
    two = await _start(server_factory, env, share_database=True)
    customer = await api.register_customer(login=False)
    async with (
        httpx.AsyncClient(base_url=one.base_url, timeout=10) as on_one,
        httpx.AsyncClient(base_url=two.base_url, timeout=10) as on_two,
    ):
        assert await _login(on_one, customer.email, "guess-1") == 401
        assert await _login(on_two, customer.email, "guess-2") == 401
        assert await _login(on_one, customer.email, "guess-3") == 401
        assert await _login(on_two, customer.email, customer.password) == 429
        assert await _login(on_one, customer.email, customer.password) == 429
