"""Sign-in attempts are counted before their password is checked: a crowd of concurrent
guesses past a limit is refused, not verified, on one instance or two sharing Redis; a
right password takes its count back; one address's failures lock out that address, not
the owner elsewhere; checks of one account and password checks in all are bounded (429 and
503, never a long wait); and when the store doesn't answer, a sign-in still passes.

The database is not the question here: the servers run on SQLite only, started once for
the module (two instances sharing Redis, one on memory:// for the queues).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import pytest

from app.core.config import Settings
from app.limits.redis import RedisLimitStore
from app.services.limiter import Limiter
from tests.utils.cluster import instance_env
from tests.utils.db import fresh_database_url
from tests.utils.factories import API, Account, assert_json_error, connect, unique_email
from tests.utils.metrics import Samples, scrape, value
from tests.utils.redis_server import RedisServer
from tests.utils.server import ServerProcess, server_env

LOGIN, REGISTER = f"{API}/auth/login", f"{API}/auth/register"
PAIR_LIMIT, ACCOUNT_LIMIT = 5, 6  # per account and address, per account
PENDING, HASH_QUEUE = 2, 4  # on `two` only
CROWD = 24
_addresses = (f"203.0.113.{n}" for n in itertools.count(1))  # a fresh one per use


@dataclass
class Pair:
    """Two instances sharing a database and Redis; `two` also bounds the checks waiting."""

    one: ServerProcess
    two: ServerProcess


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    root = tmp_path_factory.mktemp("login-throttles")
    database_url, drop_database = fresh_database_url("sqlite", root)
    env = server_env(
        database_url,
        **instance_env(
            LIMIT_LOGIN_FAILURES_PER_ACCOUNT_ADDRESS=str(PAIR_LIMIT),
            LIMIT_LOGIN_FAILURES=str(ACCOUNT_LIMIT),
            LIMIT_LOGIN_PENDING="0",
            PASSWORD_HASH_QUEUE="0",
        ),
    )
    queues = {"LIMIT_LOGIN_PENDING": str(PENDING), "PASSWORD_HASH_QUEUE": str(HASH_QUEUE)}
    started = Pair(
        ServerProcess(env, workdir=root / "one"),
        ServerProcess({**env, **queues}, workdir=root / "two"),
    )
    try:
        with contextlib.ExitStack() as stack:
            for process in (started.one, started.two):
                stack.callback(process.stop)
                process.start()  # one after the other: `one` creates the schema
            yield started
    finally:
        drop_database()


@contextlib.asynccontextmanager
async def _client(server: ServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as client:
        yield client


async def _customer(server: ServerProcess) -> Account:
    async with connect(server) as api:
        return await api.register_customer(login=False)


async def _login(client: httpx.AsyncClient, email: str, password: str, address: str) -> int:
    """POST /auth/login from `address` (through the trusted proxy): its status; a refusal's
    answer checked (JSON `detail`, `Retry-After`)."""
    response = await client.post(
        LOGIN,
        data={"username": email, "password": password},
        headers={"X-Forwarded-For": address},
    )
    if response.status_code in (429, 503):
        assert_json_error(response, (429, 503))
        assert int(response.headers["Retry-After"]) >= 1
    else:
        assert response.status_code in (200, 401), response.text
    return response.status_code


async def test_concurrent_wrong_passwords_past_the_limit_are_refused_not_verified(
    pair: Pair,
) -> None:
    """From one address, spread over two instances sharing Redis: at most the per account
    and address limit are verified (401), the rest refused; then even the right password."""
    customer, here = await _customer(pair.one), next(_addresses)
    async with _client(pair.one) as one, _client(pair.two) as two:
        statuses = await asyncio.gather(
            *(
                _login((one, two)[n % 2], customer.email, f"wrong-guess-{n}", here)
                for n in range(CROWD)
            )
        )
        assert 1 <= statuses.count(401) <= PAIR_LIMIT, statuses
        assert statuses.count(429) == CROWD - statuses.count(401), statuses
        assert await _login(one, customer.email, customer.password, here) == 429
        assert await _login(two, customer.email, customer.password, here) == 429


async def test_concurrent_guesses_from_many_addresses_stop_at_the_account_limit(
    pair: Pair,
) -> None:
    customer = await _customer(pair.one)
    async with _client(pair.one) as one, _client(pair.two) as two:
        statuses = await asyncio.gather(
            *(
                _login((one, two)[n % 2], customer.email, f"wrong-{n}", next(_addresses))
                for n in range(CROWD)
            )
        )
        assert 1 <= statuses.count(401) <= ACCOUNT_LIMIT, statuses
        assert statuses.count(429) == CROWD - statuses.count(401), statuses
        assert await _login(two, customer.email, customer.password, next(_addresses)) == 429


async def test_a_right_password_takes_its_count_back(pair: Pair) -> None:
    customer, here = await _customer(pair.one), next(_addresses)
    async with _client(pair.one) as one:
        wrong = [await _login(one, customer.email, f"wrong-{n}", here) for n in range(4)]
        assert wrong == [401] * 4
        # Counted while it was checked, then taken back: the next failure is the 5th...
        assert await _login(one, customer.email, customer.password, here) == 200
        assert await _login(one, customer.email, "wrong-again", here) == 401
        # ...and the limit holds even for the right password.
        assert await _login(one, customer.email, customer.password, here) == 429


async def test_one_address_is_locked_out_while_the_owner_signs_in_from_another(
    pair: Pair,
) -> None:
    customer, attacker, owner = await _customer(pair.one), next(_addresses), next(_addresses)
    async with _client(pair.one) as one:
        before = await scrape(one)
        guesses = [await _login(one, customer.email, f"guess-{n}", attacker) for n in range(6)]
        assert guesses == [401] * PAIR_LIMIT + [429]
        assert await _login(one, customer.email, customer.password, attacker) == 429
        assert await _login(one, customer.email, customer.password, owner) == 200
        assert await _refusals(one, before, "login_failures_per_account_address") == 2


async def test_checks_of_one_account_past_login_pending_are_refused(pair: Pair) -> None:
    customer, here = await _customer(pair.one), next(_addresses)
    async with _client(pair.two) as two:
        before = await scrape(two)
        statuses = await asyncio.gather(
            *(_login(two, customer.email, f"wrong-{n}", here) for n in range(8))
        )
        assert set(statuses) == {401, 429}, statuses
        assert await _refusals(two, before, "login_pending") >= 1
        # Refused there, they counted nowhere: the owner signs in.
        assert await _login(two, customer.email, customer.password, next(_addresses)) == 200


async def test_password_checks_past_the_hash_queue_are_503_at_once(pair: Pair) -> None:
    """A crowd of logins (each of its own account) and then of registrations: past
    PASSWORD_HASH_QUEUE they are 503 with Retry-After right away; no answer waits long."""
    async with _client(pair.two) as client:

        async def timed_login() -> tuple[int, float]:
            started = time.monotonic()
            status = await _login(client, unique_email(), "not-the-password", next(_addresses))
            return status, time.monotonic() - started

        async def timed_registration() -> tuple[int, float]:
            body = {
                "email": unique_email(),
                "password": "good-pass-" + uuid.uuid4().hex[:8],
                "full_name": "N",
            }
            started = time.monotonic()
            response = await client.post(REGISTER, json=body)
            if response.status_code == 503:
                assert_json_error(response, 503)
                assert int(response.headers["Retry-After"]) >= 1
            else:
                assert response.status_code == 201, response.text
            return response.status_code, time.monotonic() - started

        alone = max([(await timed_login())[1], (await timed_registration())[1]])
        logins = await asyncio.gather(*(timed_login() for _ in range(CROWD)))
        registrations = await asyncio.gather(*(timed_registration() for _ in range(8)))
    # The admitted ones waited behind at most HASH_QUEUE others (a crowd of 24 hashed one
    # after the other takes 24 times as long as one alone).
    bound = (HASH_QUEUE + 2) * alone + 0.5
    for crowd, admitted in ((logins, 401), (registrations, 201)):
        statuses = [status for status, _ in crowd]
        assert set(statuses) == {admitted, 503}, statuses
        slowest = max(took for _, took in crowd)
        assert slowest < bound, f"an answer took {slowest:.1f} s, one alone {alone:.2f} s"


async def _refusals(client: httpx.AsyncClient, before: Samples, limit: str) -> float:
    """How many refusals `limit` counted on that instance since `before`."""
    name = "salon_limit_refusals_total"
    return value(await scrape(client), name, limit=limit) - value(before, name, limit=limit)


async def test_a_sign_in_passes_when_the_limit_store_does_not_answer(
    private_redis: RedisServer,
) -> None:
    """Fail-open: a frozen Redis costs a sign-in at most the store's one-second timeout."""
    settings = Settings(secret_key="k" * 32, limit_login_failures_per_account_address=1)
    limiter = Limiter(RedisLimitStore(private_redis.url, f"test-{uuid.uuid4().hex[:8]}"), settings)
    await limiter.start()
    try:
        private_redis.freeze()
        try:
            started = time.monotonic()
            async with asyncio.timeout(3):
                async with limiter.login_attempt("someone@example.com", "203.0.113.250"):
                    pass
            assert time.monotonic() - started < 2.0
        finally:
            private_redis.thaw()
    finally:
        await limiter.stop()
