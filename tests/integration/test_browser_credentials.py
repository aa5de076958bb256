"""Browser credentials over real HTTP: the session cookie, stream tokens, CORS, and the log.

The contract's "Browsers": `POST/DELETE /auth/session` set and clear an HttpOnly cookie that
signs in the REST endpoints and the streams; `POST /notifications/stream-token` gives a token
that opens only that principal's streams (`?token=`) and is refused anywhere else; a full
access token is refused in a URL; no token ever reaches a log line.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from http.cookies import SimpleCookie

import httpx
import pytest

from tests.utils import tokens
from tests.utils.factories import API, Account, Api, expect
from tests.utils.server import ServerProcess
from tests.utils.sse import SSEStream, open_stream

ADMIN_STREAM = f"{API}/notifications/stream"
CUSTOMER_STREAM = f"{API}/notifications/customer/stream"
STREAM_TOKEN = f"{API}/notifications/stream-token"
SESSION = f"{API}/auth/session"
CSRF = {"X-Requested-With": "test"}


async def admin_of_new_salon(api: Api) -> Account:
    salon = await api.create_salon()
    return await api.create_admin(salon.id)


async def stream_token(client: httpx.AsyncClient, account: Account) -> dict[str, object]:
    response = await client.post(STREAM_TOKEN, headers=account.headers)
    return dict(expect(response, 200).json())


async def sign_in(client: httpx.AsyncClient, account: Account) -> httpx.Response:
    form = {"username": account.email, "password": account.password}
    return expect(await client.post(SESSION, data=form), 200)


def set_cookie(response: httpx.Response) -> SimpleCookie:
    cookie: SimpleCookie = SimpleCookie()
    for header in response.headers.get_list("set-cookie"):
        cookie.load(header)
    return cookie


async def connected(stream: SSEStream) -> dict[str, object]:
    assert stream.status_code == 200, stream.text
    event = await stream.next_event(timeout=5.0)
    assert event.event == "connected", event
    return dict(event.json())


def assert_refused(stream: SSEStream, status: int, *words: str) -> None:
    assert stream.status_code == status, (stream.status_code, stream.text)
    detail = stream.json()["detail"]
    for word in words:
        assert word in detail, detail


# --------------------------------------------------------------------------- session cookie


async def test_session_sign_in_sets_an_httponly_samesite_cookie_that_opens_rest_and_stream(
    server: ServerProcess, api: Api
) -> None:
    admin = await admin_of_new_salon(api)
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as browser:
        response = await sign_in(browser, admin)
        assert response.json()["email"] == admin.email
        assert "access_token" not in response.text, "the session is in the cookie only"
        morsel = set_cookie(response)["salon_session"]
        assert morsel["httponly"] and morsel["samesite"].lower() == "lax", morsel.OutputString()
        assert not morsel["secure"], "plain HTTP: a Secure cookie would never come back"
        assert morsel["path"] == "/api" and int(morsel["max-age"]) > 0, morsel.OutputString()

        me = await browser.get(f"{API}/auth/me")
        assert me.status_code == 200 and me.json()["id"] == admin.id, me.text
        async with open_stream(browser, ADMIN_STREAM) as stream:
            assert (await connected(stream))["user_id"] == admin.id
            sent = await api.notify(admin.token, recipient_type="salon", salon_id=admin.salon_id)
            assert (await stream.next_notification()).json()["id"] == sent.id


async def test_session_cookie_is_secure_behind_an_https_proxy(
    server: ServerProcess, api: Api
) -> None:
    """A TLS-terminating proxy on the same host says X-Forwarded-Proto: https."""
    customer = await api.register_customer()
    form = {"username": customer.email, "password": customer.password}
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as client:
        response = await client.post(SESSION, data=form, headers={"X-Forwarded-Proto": "https"})
    morsel = set_cookie(expect(response, 200))["salon_session"]
    assert morsel["secure"] and morsel["httponly"], morsel.OutputString()


async def test_cookie_signed_changes_need_the_csrf_header(server: ServerProcess, api: Api) -> None:
    admin = await admin_of_new_salon(api)
    note = await api.notify(admin.token, recipient_type="salon", salon_id=admin.salon_id)
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as browser:
        await sign_in(browser, admin)
        refused = await browser.post(f"{API}/notifications/{note.id}/read")
        assert refused.status_code == 403, refused.text
        assert "X-Requested-With" in refused.json()["detail"]
        done = await browser.post(f"{API}/notifications/{note.id}/read", headers=CSRF)
        assert done.status_code == 200 and done.json()["is_read"] is True, done.text
        token = await browser.post(STREAM_TOKEN, headers=CSRF)
        assert token.status_code == 200, token.text


async def test_sign_out_clears_the_cookie_and_a_wrong_password_is_401(
    server: ServerProcess, api: Api
) -> None:
    customer = await api.register_customer()
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as browser:
        wrong = await browser.post(SESSION, data={"username": customer.email, "password": "x" * 9})
        assert wrong.status_code == 401 and "detail" in wrong.json()
        assert "set-cookie" not in wrong.headers
        await sign_in(browser, customer)
        out = await browser.delete(SESSION)
        assert out.status_code == 204, out.text
        assert set_cookie(out)["salon_session"]["max-age"] == "0"
        assert (await browser.get(f"{API}/auth/me")).status_code == 401
        async with open_stream(browser, CUSTOMER_STREAM) as stream:
            assert_refused(stream, 401)


async def test_a_bad_or_expired_session_cookie_is_401_and_the_session_token_is_no_bearer(
    server: ServerProcess, api: Api
) -> None:
    customer = await api.register_customer()
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as client:
        session = set_cookie(await sign_in(client, customer))["salon_session"].value
        # The header is looked at first: the cookie the client holds doesn't rescue it.
        as_bearer = await client.get(f"{API}/auth/me", headers=Api.auth(session))
        assert as_bearer.status_code == 401, "a session token is not an access token"
    now = int(time.time())
    claims = tokens.claims(customer.id, "customer", typ="session", iat=now - 90, exp=now - 30)
    for bad in ("garbage", tokens.encode(claims, server.secret_key)):
        async with httpx.AsyncClient(
            base_url=server.base_url, timeout=10, cookies={"salon_session": bad}
        ) as browser:
            assert (await browser.get(f"{API}/auth/me")).status_code == 401
            async with open_stream(browser, CUSTOMER_STREAM) as stream:
                assert_refused(stream, 401, "session")


async def test_sign_in_from_a_foreign_origin_is_refused(server: ServerProcess, api: Api) -> None:
    customer = await api.register_customer()
    form = {"username": customer.email, "password": customer.password}
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as client:
        foreign = await client.post(SESSION, data=form, headers={"Origin": "http://evil.test"})
        assert foreign.status_code == 403 and "set-cookie" not in foreign.headers, foreign.text
        own = await client.post(SESSION, data=form, headers={"Origin": server.base_url})
        assert own.status_code == 200, own.text


# --------------------------------------------------------------------------- stream tokens


async def test_stream_token_opens_the_principals_own_stream_in_the_url(
    client: httpx.AsyncClient, api: Api
) -> None:
    admin = await admin_of_new_salon(api)
    customer = await api.register_customer()
    answer = await stream_token(client, admin)
    assert set(answer) == {"token", "expires_in"}
    assert isinstance(answer["expires_in"], int) and answer["expires_in"] >= 60 * 60 - 5
    async with open_stream(client, ADMIN_STREAM, params={"token": answer["token"]}) as stream:
        hello = await connected(stream)
        assert (hello["user_id"], hello["salon_id"]) == (admin.id, admin.salon_id)
        sent = await api.notify(admin.token, recipient_type="salon", salon_id=admin.salon_id)
        assert (await stream.next_notification()).json()["id"] == sent.id

    customer_token = (await stream_token(client, customer))["token"]
    params = {"token": customer_token}
    async with open_stream(client, CUSTOMER_STREAM, params=params) as stream:
        assert (await connected(stream))["customer_id"] == customer.id
    async with open_stream(client, ADMIN_STREAM, params=params) as stream:
        assert_refused(stream, 403)


async def test_stream_token_is_refused_everywhere_but_the_streams(
    client: httpx.AsyncClient, api: Api
) -> None:
    customer = await api.register_customer()
    token = str((await stream_token(client, customer))["token"])
    bearer = Api.auth(token)
    for method, path in (
        ("GET", f"{API}/auth/me"),
        ("GET", f"{API}/notifications"),
        ("GET", f"{API}/notifications/unread-count"),
        ("POST", f"{API}/notifications/read-all"),
        ("POST", STREAM_TOKEN),  # a stream token can't renew itself
        ("GET", f"{API}/appointments"),
    ):
        in_header = await client.request(method, path, headers=bearer)
        assert in_header.status_code == 401, (path, in_header.text)
        assert "detail" in in_header.json()
        in_url = await client.request(method, path, params={"token": token})
        assert in_url.status_code == 401, (path, in_url.text)
    # On the streams themselves the header takes it too (for clients that can set one).
    async with open_stream(client, CUSTOMER_STREAM, token=token) as stream:
        await connected(stream)


async def test_access_token_in_the_url_is_refused(client: httpx.AsyncClient, api: Api) -> None:
    admin = await admin_of_new_salon(api)
    async with open_stream(client, ADMIN_STREAM, params={"token": admin.token}) as stream:
        assert_refused(stream, 401, "stream token")
    forged = tokens.encode(tokens.claims(admin.id, "admin", admin.salon_id), "another-key")
    for bad in ("", "garbage", forged):
        async with open_stream(client, ADMIN_STREAM, params={"token": bad}) as stream:
            assert_refused(stream, 401)


async def test_expired_or_forged_stream_token_is_401(
    client: httpx.AsyncClient, api: Api, server: ServerProcess
) -> None:
    customer = await api.register_customer()
    now = int(time.time())
    expired = tokens.claims(customer.id, "customer", typ="stream", iat=now - 90, exp=now - 30)
    alive = tokens.claims(customer.id, "customer", typ="stream")
    for bad in (
        tokens.encode(expired, server.secret_key),
        tokens.encode(alive, "not-the-" + server.secret_key),
        tokens.alg_none(alive),
    ):
        async with open_stream(client, CUSTOMER_STREAM, params={"token": bad}) as stream:
            assert_refused(stream, 401)


async def test_superadmin_and_anonymous_get_no_stream_token(
    client: httpx.AsyncClient, api: Api
) -> None:
    refused = await client.post(STREAM_TOKEN, headers=Api.auth(api.superadmin_token))
    assert refused.status_code == 403 and "detail" in refused.json(), refused.text
    anonymous = await client.post(STREAM_TOKEN)
    assert anonymous.status_code == 401 and "detail" in anonymous.json(), anonymous.text


async def test_stream_opened_with_a_stream_token_ends_when_it_expires_then_it_is_refused(
    server_factory: Callable[..., ServerProcess],
) -> None:
    short = await asyncio.to_thread(server_factory, {"STREAM_TOKEN_EXPIRE_MINUTES": "0.04"})
    async with httpx.AsyncClient(base_url=short.base_url, timeout=10) as client:
        api = Api(client, short)
        await api.ensure_superadmin()
        customer = await api.register_customer()
        answer = await stream_token(client, customer)
        assert answer["expires_in"] in (2, 3), answer
        params = {"token": answer["token"]}
        async with open_stream(client, CUSTOMER_STREAM, params=params) as stream:
            await connected(stream)
            await stream.wait_closed(timeout=8.0)
        async with open_stream(client, CUSTOMER_STREAM, params=params) as stream:
            assert_refused(stream, 401, "expired")


# --------------------------------------------------------------------------- logs and CORS


async def test_no_token_reaches_the_server_log(
    server_factory: Callable[..., ServerProcess],
) -> None:
    """Debug logging on; tokens used in every way a browser would, good and bad."""
    noisy = await asyncio.to_thread(server_factory, {"LOG_LEVEL": "debug"})
    async with httpx.AsyncClient(base_url=noisy.base_url, timeout=10) as client:
        api = Api(client, noisy)
        await api.ensure_superadmin()
        customer = await api.register_customer()
        token = str((await stream_token(client, customer))["token"])
        async with open_stream(client, CUSTOMER_STREAM, params={"token": token}) as stream:
            await connected(stream)
        async with open_stream(
            client, CUSTOMER_STREAM, params={"token": token, "last_event_id": "0"}
        ) as stream:
            await connected(stream)
        for bad in (customer.token, token + "x", "x" * 5000):
            async with open_stream(client, CUSTOMER_STREAM, params={"token": bad}) as stream:
                assert stream.status_code in (401, 422), stream.text
        await client.get(f"{API}/auth/me", params={"token": token})
        session = set_cookie(await sign_in(client, customer))["salon_session"].value
    await asyncio.sleep(0.5)  # the stream-closed lines
    log = noisy.log_text()
    assert "stream opened" in log, "the log should show the streams (is logging on?)"
    for secret in (token, customer.token, session, token[-20:], session[-20:]):
        assert secret not in log, f"a token reached the log:\n{noisy.log_tail()}"
    assert "token=" not in log, noisy.log_tail()


CORS_ALLOWED = "http://front.example.test:5173"


@pytest.fixture(scope="module")
def cors_server(module_server_factory: Callable[..., ServerProcess]) -> ServerProcess:
    """One server with CORS_ORIGINS for both origins' tests: each asks as a new client."""
    return module_server_factory({"CORS_ORIGINS": f"{CORS_ALLOWED},http://other.test"})


@pytest.mark.parametrize("origin_allowed", [True, False])
async def test_cors_admits_only_configured_origins_with_credentials(
    cors_server: ServerProcess, origin_allowed: bool
) -> None:
    origin = CORS_ALLOWED if origin_allowed else "http://elsewhere.example.test"
    srv = cors_server
    async with httpx.AsyncClient(base_url=srv.base_url, timeout=10) as client:
        preflight = await client.options(
            STREAM_TOKEN,
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization",
            },
        )
        api = Api(client, srv)
        await api.ensure_superadmin()
        customer = await api.register_customer()
        token = (await stream_token(client, customer))["token"]
        params = {"token": token}
        headers = {"Origin": origin}
        async with open_stream(client, CUSTOMER_STREAM, params=params, headers=headers) as stream:
            await connected(stream)
            stream_headers = stream.headers
    if origin_allowed:
        assert preflight.status_code == 200, preflight.text
        for answer in (preflight.headers, stream_headers):
            assert answer["access-control-allow-origin"] == origin
            assert answer["access-control-allow-credentials"] == "true"
        assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
    else:
        assert preflight.status_code == 400
        for answer in (preflight.headers, stream_headers):
            assert "access-control-allow-origin" not in answer


async def test_without_cors_origins_no_cross_origin_headers(
    client: httpx.AsyncClient, api: Api
) -> None:
    customer = await api.register_customer()
    token = (await stream_token(client, customer))["token"]
    headers = {"Origin": "http://front.example.test"}
    async with open_stream(
        client, CUSTOMER_STREAM, params={"token": token}, headers=headers
    ) as stream:
        await connected(stream)
        assert "access-control-allow-origin" not in stream.headers


# --------------------------------------------------------------------------- the dashboard


async def test_dashboard_and_its_files_are_served_with_a_strict_policy(
    client: httpx.AsyncClient,
) -> None:
    page = await client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    for path, kind in (("/static/app.js", "javascript"), ("/static/app.css", "text/css")):
        asset = await client.get(path)
        assert asset.status_code == 200 and kind in asset.headers["content-type"], path
        assert path in page.text
    missing = await client.get("/static/nothing.js")
    assert missing.status_code == 404
