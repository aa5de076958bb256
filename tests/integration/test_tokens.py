"""Bad credentials are a 401 (never a 500), on JSON endpoints and on streams alike.

Each endpoint is tried with a credential forged for the principal it serves: the same
claims a real token would carry, but expired, re-signed, tampered with or unsigned.
"""

from __future__ import annotations

import base64
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import httpx
import pytest

from tests.utils import tokens
from tests.utils.factories import API, Account, connect
from tests.utils.server import ServerProcess
from tests.utils.sse import open_stream
from tests.utils.stats import STATS

ME = f"{API}/auth/me"
ADMIN_STREAM = f"{API}/notifications/stream"
CUSTOMER_STREAM = f"{API}/notifications/customer/stream"


@dataclass
class Subject:
    id: int
    role: str
    salon_id: int | None
    token: str


@dataclass
class World:
    secret: str
    superadmin: Subject
    admin: Subject
    customer: Subject

    def other_than(self, subject: Subject) -> Subject:
        """A real token of someone else, to be tampered into `subject`'s."""
        return self.admin if subject.role == "customer" else self.customer


def subject(account: Account) -> Subject:
    return Subject(account.id, account.role, account.salon_id, account.token)


@pytest.fixture(scope="module")
async def world(server: ServerProcess) -> AsyncIterator[World]:
    async with connect(server) as api:
        salon = await api.create_salon()
        me = await api.me(api.superadmin_token)
        yield World(
            secret=server.secret_key,
            superadmin=Subject(me["id"], "superadmin", None, api.superadmin_token),
            admin=subject(await api.create_admin(salon.id)),
            customer=subject(await api.register_customer()),
        )


# The endpoint under test, and the principal it serves.
ENDPOINTS = {
    "me": (ME, "customer"),
    "admin-stream": (ADMIN_STREAM, "admin"),
    "customer-stream": (CUSTOMER_STREAM, "customer"),
    "stream-stats": (STATS, "superadmin"),
}
STREAMS = {ADMIN_STREAM, CUSTOMER_STREAM}


def bearer(token: str) -> str:
    return f"Bearer {token}"


def claims_of(who: Subject, **changes: object) -> dict[str, object]:
    return {**tokens.claims(who.id, who.role, who.salon_id), **changes}


# name -> (world, subject) -> the Authorization header value (None: no header)
BAD_CREDENTIALS: dict[str, Callable[[World, Subject], str | None]] = {
    "missing": lambda w, s: None,
    "bearer-without-token": lambda w, s: "Bearer",
    "wrong-scheme": lambda w, s: "Basic " + base64.b64encode(b"user:password").decode(),
    "garbage": lambda w, s: bearer("not-a-jwt"),
    "three-garbage-segments": lambda w, s: bearer("aaa.bbb.ccc"),
    "expired": lambda w, s: bearer(
        tokens.encode(
            claims_of(s, iat=int(time.time()) - 7200, exp=int(time.time()) - 60), w.secret
        )
    ),
    "tampered-into-another-principal": lambda w, s: bearer(
        tokens.tamper(w.other_than(s).token, sub=str(s.id), role=s.role, salon_id=s.salon_id)
    ),
    "tampered-expiry": lambda w, s: bearer(
        tokens.tamper(s.token, exp=int(time.time()) + 10 * 365 * 86400)
    ),
    "signed-with-another-key": lambda w, s: bearer(
        tokens.encode(claims_of(s), "another-secret-" + w.secret)
    ),
    "alg-none": lambda w, s: bearer(tokens.alg_none(claims_of(s))),
    "hs512-with-the-right-key": lambda w, s: bearer(tokens.encode(claims_of(s), w.secret, "HS512")),
    "subject-not-a-number": lambda w, s: bearer(tokens.encode(claims_of(s, sub="abc"), w.secret)),
}


async def call(
    client: httpx.AsyncClient,
    path: str,
    authorization: str | None,
    params: dict[str, str] | None = None,
) -> tuple[int, httpx.Headers, str]:
    """Status, headers and body of GET `path`; streams are read only if they are refused."""
    headers = {"Authorization": authorization} if authorization is not None else {}
    if path in STREAMS:
        async with open_stream(client, path, headers=headers, params=params) as stream:
            if stream.is_event_stream:
                connected = await stream.next_event(timeout=5)
                return stream.status_code, stream.headers, connected.event
            return stream.status_code, stream.headers, stream.text
    response = await client.get(path, headers=headers, params=params)
    return response.status_code, response.headers, response.text


def assert_unauthorized(status: int, headers: httpx.Headers, body: str) -> None:
    assert status == 401, f"expected 401, got {status}: {body[:300]}"
    assert '"detail"' in body, body
    assert headers.get("www-authenticate", "").lower().startswith("bearer"), headers


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
async def test_a_real_token_opens_the_endpoint(
    client: httpx.AsyncClient, world: World, endpoint: str
) -> None:
    """The control: the principal's own token works, so the 401s below mean something."""
    path, role = ENDPOINTS[endpoint]
    who = getattr(world, role)
    status, _, body = await call(client, path, bearer(who.token))
    assert status == 200, body
    if path in STREAMS:
        assert body == "connected"


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
async def test_a_token_made_here_with_the_servers_key_opens_the_endpoint(
    client: httpx.AsyncClient, world: World, endpoint: str
) -> None:
    """The control for the forgeries: the token maker itself is right."""
    path, role = ENDPOINTS[endpoint]
    forged = tokens.encode(claims_of(getattr(world, role)), world.secret)
    status, _, body = await call(client, path, bearer(forged))
    assert status == 200, body


@pytest.mark.parametrize("credential", list(BAD_CREDENTIALS))
@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
async def test_a_bad_credential_is_401(
    client: httpx.AsyncClient, world: World, endpoint: str, credential: str
) -> None:
    path, role = ENDPOINTS[endpoint]
    authorization = BAD_CREDENTIALS[credential](world, getattr(world, role))
    assert_unauthorized(*await call(client, path, authorization))


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
async def test_an_access_token_in_the_url_is_refused(
    client: httpx.AsyncClient, world: World, endpoint: str
) -> None:
    """The contract: a full access token is never accepted in a URL."""
    path, role = ENDPOINTS[endpoint]
    token = getattr(world, role).token
    for params in ({"token": token}, {"access_token": token}):
        assert_unauthorized(*await call(client, path, None, params=params))


async def test_a_well_signed_token_of_an_unknown_account_is_refused_by_me(
    client: httpx.AsyncClient, world: World
) -> None:
    forged = tokens.encode(claims_of(world.customer, sub="987654321"), world.secret)
    assert_unauthorized(*await call(client, ME, bearer(forged)))


async def test_a_token_of_another_type_is_refused_outside_streams(
    client: httpx.AsyncClient, world: World
) -> None:
    """Only access tokens open REST endpoints (a stream token is refused anywhere else)."""
    forged = tokens.encode(claims_of(world.customer, typ="stream"), world.secret)
    assert_unauthorized(*await call(client, ME, bearer(forged)))


@pytest.mark.parametrize(
    ("endpoint", "role"),
    [
        ("admin-stream", "customer"),
        ("admin-stream", "superadmin"),
        ("customer-stream", "admin"),
        ("customer-stream", "superadmin"),
        ("stream-stats", "admin"),
        ("stream-stats", "customer"),
    ],
)
async def test_a_valid_token_of_the_wrong_role_is_403(
    client: httpx.AsyncClient, world: World, endpoint: str, role: str
) -> None:
    path, _ = ENDPOINTS[endpoint]
    status, _, body = await call(client, path, bearer(getattr(world, role).token))
    assert status == 403, body
    assert '"detail"' in body, body
