"""Several instances of the server sharing one database and one Redis, and clients that
follow a stream across reconnects the way EventSource does (with `Last-Event-ID`)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx

from tests.utils.factories import API, Account, Api
from tests.utils.redis_server import REDIS_URL
from tests.utils.server import ServerProcess
from tests.utils.sse import SSEEvent, SSEStream, open_stream

# The machine's Redis, shared by every test; each test keeps to its own channel prefix.
ADMIN_STREAM = f"{API}/notifications/stream"
CUSTOMER_STREAM = f"{API}/notifications/customer/stream"


def unique_prefix() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


def instance_env(broker_url: str = REDIS_URL, **overrides: str) -> dict[str, str]:
    """Settings of the instances of one deployment: one bus, small intervals."""
    env = {
        "BROKER_URL": broker_url,
        "BROKER_PREFIX": unique_prefix(),
        "CATCH_UP_INTERVAL": "0.2",
        "PRESENCE_INTERVAL": "0.2",
        "SSE_PING_INTERVAL": "1",
        "SSE_DRAIN_SECONDS": "0.3",
        # The tests poll the stats far more often than a dashboard would.
        "LIMIT_STATS_REQUESTS": "0",
    }
    env.update(overrides)
    return env


async def start_instances(
    server_factory: Callable[..., ServerProcess], env: dict[str, str], count: int = 2
) -> list[ServerProcess]:
    """`count` instances on the session's database with `env`, started side by side."""
    instances = [server_factory(env, share_database=True, start=False) for _ in range(count)]
    await asyncio.gather(*(instance.astart() for instance in instances))
    return instances


@contextlib.asynccontextmanager
async def clients(*instances: ServerProcess) -> AsyncIterator[list[Api]]:
    """An `Api` (its own httpx client) on each instance."""
    async with contextlib.AsyncExitStack() as stack:
        apis = []
        for instance in instances:
            http = await stack.enter_async_context(
                httpx.AsyncClient(base_url=instance.base_url, timeout=10)
            )
            apis.append(Api(http, instance))
        yield apis


async def wait_until(
    check: Callable[[], Awaitable[bool]], timeout: float, what: str, every: float = 0.05
) -> None:
    """Poll `check` until it is true; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        await asyncio.sleep(every)


def notification_ids(events: list[SSEEvent]) -> list[int]:
    ids = []
    for event in events:
        if event.event == "notification":
            assert event.id is not None and int(event.id) == event.json()["id"], event
            ids.append(int(event.id))
    return ids


async def read_notifications(stream: SSEStream, count: int, timeout: float = 5.0) -> list[int]:
    """The ids of the next `count` notifications (other events than pings fail the test)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    ids = []
    while len(ids) < count:
        remaining = deadline - loop.time()
        event = await stream.next_notification(timeout=max(remaining, 0.01))
        ids.append(int(event.json()["id"]))
    return ids


class Follower:
    """One client's view of a stream across reconnects: every notification id it got, in
    order, and the id it resumes from (as EventSource keeps `lastEventId`)."""

    def __init__(self, account: Account, path: str = ADMIN_STREAM) -> None:
        self.account = account
        self.path = path
        self.ids: list[int] = []
        self.last_event_id: int | None = None
        self.connections = 0
        self._taken: set[int] = set()  # read by `read_until` from the current stream

    @contextlib.asynccontextmanager
    async def connect(
        self, client: httpx.AsyncClient, *, resume_in_query: bool = False
    ) -> AsyncIterator[SSEStream]:
        """Open the stream resuming from `last_event_id` (once the follower has one), as the
        `Last-Event-ID` header or, for clients that can't set it, `?last_event_id=`; wait
        for `connected`; note every notification read until the block exits."""
        params: dict[str, Any] = {}
        header: int | None = self.last_event_id
        if resume_in_query and header is not None:
            params, header = {"last_event_id": header}, None
        async with open_stream(
            client, self.path, token=self.account.token, params=params, last_event_id=header
        ) as stream:
            assert stream.is_event_stream, f"{stream.status_code} {stream.text[:300]}"
            connected = await stream.next_event()
            assert connected.event == "connected", connected
            self.connections += 1
            self._taken = set()
            try:
                yield stream
            finally:
                self.absorb(stream)

    def absorb(self, stream: SSEStream) -> None:
        """Take the notifications this stream delivered (complete events only)."""
        ids = notification_ids(stream.events)
        self.ids.extend(ids)
        if ids:
            self.last_event_id = ids[-1]

    async def read_until(self, stream: SSEStream, expected: set[int], timeout: float) -> None:
        """Read this stream's events until every id of `expected` has arrived on this
        follower (over all its connections); later waits on the stream see what follows."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not expected <= set(self.ids) | self._taken:
            remaining = deadline - loop.time()
            if remaining <= 0:
                missing = sorted(expected - set(self.ids) - self._taken)
                raise AssertionError(f"after {timeout}s, still missing ids {missing}; {stream!r}")
            event = await stream.next_event(timeout=remaining)
            if event.event == "notification":
                self._taken.add(int(event.json()["id"]))


def assert_exactly_once_in_order(got: list[int], expected: list[int] | set[int], who: str) -> None:
    expected = sorted(expected)
    duplicates = sorted({i for i in got if got.count(i) > 1})
    missing = sorted(set(expected) - set(got))
    extra = sorted(set(got) - set(expected))
    out_of_order = [(a, b) for a, b in itertools.pairwise(got) if b <= a]
    assert (duplicates, missing, extra, out_of_order) == ([], [], [], []), (
        f"{who}: duplicates {duplicates}, missing {missing}, unexpected {extra}, "
        f"out of order {out_of_order[:10]}; got {got}"
    )
