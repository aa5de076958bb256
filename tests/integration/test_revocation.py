"""Real logout: a revoked credential stops working at once, on every instance, and the
streams opened with it end within 5 s; a deleted or changed account's credentials are a
401 everywhere; ids are never given twice; a (re)started instance knows every revocation."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import httpx
from sqlalchemy import text

from app.db.session import create_engine
from tests.utils.cluster import instance_env
from tests.utils.factories import API, Account, Api, connect
from tests.utils.server import ServerProcess
from tests.utils.sse import open_stream

ME, NOTIFICATIONS = f"{API}/auth/me", f"{API}/notifications"
CUSTOMER_STREAM = f"{API}/notifications/customer/stream"
ADMIN_STREAM = f"{API}/notifications/stream"
CSRF = {"X-Requested-With": "test"}


async def operator_sql(server: ServerProcess, statement: str, **params: object) -> None:
    """What an operator does by hand in the database, outside the service."""
    engine = create_engine(server.database_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(text(statement), params)
    finally:
        await engine.dispose()


async def eventually(check: Callable[[], Awaitable[bool]], within: float, what: str) -> float:
    """Seconds until `check` held; fails after `within`."""
    started = time.monotonic()
    while not await check():
        if time.monotonic() - started > within:
            raise AssertionError(f"not within {within} s: {what}")
        await asyncio.sleep(0.05)
    return time.monotonic() - started


async def sign_in(client: httpx.AsyncClient, account: Account) -> str:
    form = {"username": account.email, "password": account.password}
    response = await client.post(f"{API}/auth/session", data=form)
    assert response.status_code == 200, response.text
    return response.cookies["salon_session"]


def cookie_headers(cookie: str) -> dict[str, str]:
    return {"Cookie": f"salon_session={cookie}", **CSRF}


async def test_signing_out_revokes_the_cookie_its_stream_tokens_and_streams(api: Api) -> None:
    customer = await api.register_customer()
    async with httpx.AsyncClient(base_url=api.server.base_url, timeout=10) as browser:
        cookie = await sign_in(browser, customer)
        browser.cookies.clear()  # sent by hand from here, as a stolen copy would be
        minted = await browser.post(
            f"{API}/notifications/stream-token", headers=cookie_headers(cookie)
        )
        stream_token = minted.json()["token"]
        assert (await browser.get(ME, headers=cookie_headers(cookie))).status_code == 200
        async with (
            open_stream(browser, CUSTOMER_STREAM, params={"token": stream_token}) as by_token,
            open_stream(browser, CUSTOMER_STREAM, headers=cookie_headers(cookie)) as by_cookie,
            open_stream(browser, CUSTOMER_STREAM, token=customer.token) as other_login,
        ):
            for stream in (by_token, by_cookie, other_login):
                assert (await stream.next_event()).event == "connected"
            signed_out = await browser.delete(f"{API}/auth/session", headers=cookie_headers(cookie))
            assert signed_out.status_code == 204
            # At once: the same cookie reads nothing, and its stream token opens nothing.
            assert (await browser.get(ME, headers=cookie_headers(cookie))).status_code == 401
            listed = await browser.get(NOTIFICATIONS, headers=cookie_headers(cookie))
            assert listed.status_code == 401
            async with open_stream(
                browser, CUSTOMER_STREAM, params={"token": stream_token}
            ) as refused:
                assert refused.status_code == 401
            # Its streams end within 5 s; the access token of another login goes on.
            await by_token.wait_closed(timeout=5)
            await by_cookie.wait_closed(timeout=5)
            await other_login.expect_no_event(within=0.3, allow_close=False)
        assert (await api.client.get(ME, headers=customer.headers)).status_code == 200


async def test_logout_everywhere_revokes_every_credential_issued_before_it(api: Api) -> None:
    salon = await api.create_salon()
    admin = await api.create_admin(salon.id)
    second_login = await api.login(admin.email, admin.password)
    async with httpx.AsyncClient(base_url=api.server.base_url, timeout=10) as browser:
        cookie = await sign_in(browser, admin)
        browser.cookies.clear()
        async with open_stream(browser, ADMIN_STREAM, token=admin.token) as stream:
            assert (await stream.next_event()).event == "connected"
            out = await browser.post(f"{API}/auth/logout-all", headers=admin.headers)
            assert out.status_code == 204
            for headers in (admin.headers, api.auth(second_login), cookie_headers(cookie)):
                assert (await browser.get(ME, headers=headers)).status_code == 401
            await stream.wait_closed(timeout=5)
        # A credential issued afterwards works.
        fresh = await api.login(admin.email, admin.password)
        assert (await api.me(fresh))["id"] == admin.id


async def test_revocations_reach_every_instance_at_once(api: Api, server_factory) -> None:
    env = instance_env(CATCH_UP_INTERVAL="30")  # the broker, not the database poll
    one = await asyncio.to_thread(server_factory, env, share_database=True)
    two = await asyncio.to_thread(server_factory, env, share_database=True)
    customer = await api.register_customer()
    async with (
        httpx.AsyncClient(base_url=one.base_url, timeout=10) as on_one,
        httpx.AsyncClient(base_url=two.base_url, timeout=10) as on_two,
    ):
        cookie = await sign_in(on_one, customer)
        on_one.cookies.clear()
        async with open_stream(on_two, CUSTOMER_STREAM, headers=cookie_headers(cookie)) as stream:
            assert (await stream.next_event()).event == "connected"
            await on_one.delete(f"{API}/auth/session", headers=cookie_headers(cookie))

            async def refused_on_two() -> bool:
                return (await on_two.get(ME, headers=cookie_headers(cookie))).status_code == 401

            assert await eventually(refused_on_two, 1.0, "the other instance refuses it") < 1.0
            await stream.wait_closed(timeout=5)


async def test_a_started_instance_knows_earlier_revocations(api: Api, server_factory) -> None:
    customer = await api.register_customer()
    out = await api.client.post(f"{API}/auth/logout-all", headers=customer.headers)
    assert out.status_code == 204
    later = await asyncio.to_thread(
        server_factory, {"CATCH_UP_INTERVAL": "30"}, share_database=True
    )
    async with httpx.AsyncClient(base_url=later.base_url, timeout=10) as client:
        assert (await client.get(ME, headers=customer.headers)).status_code == 401


async def test_a_deleted_account_is_refused_everywhere_and_its_id_never_comes_back(
    api: Api,
) -> None:
    gone = await api.register_customer()
    async with open_stream(api.client, CUSTOMER_STREAM, token=gone.token) as stream:
        assert (await stream.next_event()).event == "connected"
        await operator_sql(api.server, "DELETE FROM users WHERE id = :id", id=gone.id)

        async def refused() -> bool:
            response = await api.client.get(NOTIFICATIONS, headers=gone.headers)
            return response.status_code == 401

        await eventually(refused, 5, "the deleted account's token is refused")
        await stream.wait_closed(timeout=5)
    newcomer = await api.register_customer()
    assert newcomer.id > gone.id
    admin = await api.create_admin((await api.create_salon()).id)
    await api.notify(admin.token, recipient_type="customer", recipient_id=newcomer.id)
    # The old token reads nobody's notifications, the newcomer's least of all.
    assert (await api.client.get(NOTIFICATIONS, headers=gone.headers)).status_code == 401
    async with open_stream(api.client, CUSTOMER_STREAM, token=gone.token) as refused_stream:
        assert refused_stream.status_code == 401


async def test_a_changed_account_is_refused_and_no_longer_routed_to(api: Api) -> None:
    salon = await api.create_salon()
    boss, moved = await api.create_admin(salon.id), await api.create_admin(salon.id)
    to_moved = {"recipient_type": "user", "salon_id": salon.id, "recipient_id": moved.id}
    await api.notify(boss.token, **to_moved)  # the routing cache now knows `moved`
    other = await api.create_salon()
    await operator_sql(
        api.server, "UPDATE users SET salon_id = :salon WHERE id = :id", salon=other.id, id=moved.id
    )

    async def refused() -> bool:
        return (await api.client.get(ME, headers=moved.headers)).status_code == 401

    await eventually(refused, 5, "the changed admin's old token is refused")
    answer = await api.send_notification(boss.token, **to_moved)
    assert answer.status_code == 422, answer.text  # not an admin of this salon any more
    fresh = await api.login(moved.email, moved.password)
    assert (await api.me(fresh))["salon_id"] == other.id
    async with connect(api.server) as again:
        assert (await again.client.get(ME, headers=api.auth(fresh))).status_code == 200
