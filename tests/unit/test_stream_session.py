"""A stream session on its own, with a fake transport: the order of what a client gets, the
deadline, and what is given back however the stream ends.

The hub, the limiter (memory store) and the flusher are the real ones; only the transport
(a socket) and the replay (the database) are stand-ins, so that a test can make live
notifications arrive in the middle of a replay.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import pytest

from app.core.config import Settings
from app.core.connection import CloseReason, Route, Subscription
from app.core.hub import Hub
from app.core.metrics import Metrics
from app.core.security import Principal
from app.core.sse import event_frame
from app.limits.memory import MemoryLimitStore
from app.services.errors import LimitExceeded
from app.services.limiter import Limiter
from app.streams.session import StreamSession
from app.streams.shared import Replay, Streams

SALON = 10
ADMIN = Principal(user_id=1, role="admin", salon_id=SALON, expires_at=time.time() + 3600)
SUBSCRIPTION = Subscription("admin", 1, salon_id=SALON)


def frame(n: int) -> bytes:
    return event_frame("notification", b'{"n":%d}' % n, n)


def route(n: int) -> Route:
    return Route(n, "salon", None, SALON)


class FakeTransport:
    """Records what the session asks of it, in order."""

    def __init__(self, *, driven: bool = True, start_fails: bool = False) -> None:
        self.driven = driven
        self.writable = True
        self.start_fails = start_fails
        self.calls: list[tuple[str, object]] = []
        self.waiting = 0  # bytes its client has not taken
        self.stuck: asyncio.Future[None] | None = None  # a pumped write that never returns

    def written(self) -> bytes:
        return b"".join(data for name, data in self.calls if name == "write")  # type: ignore[misc]

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    async def refuse(self, exc: LimitExceeded) -> None:
        self.calls.append(("refuse", exc.limit))

    async def start(self, hello: bytes) -> None:
        if self.start_fails:
            raise OSError("the socket broke")
        self.calls.append(("start", hello))

    def write(self, data: bytes) -> None:
        assert self.driven, "a pumped transport is only written with write_when_ready"
        self.calls.append(("write", data))

    async def write_when_ready(self, data: bytes) -> None:
        await asyncio.sleep(0)
        self.calls.append(("write", data))
        if self.stuck is not None:
            await self.stuck  # until aborted

    def end(self, reason: CloseReason | None) -> None:
        self.calls.append(("end", reason))
        if reason == "slow_consumer":
            self._unstick()  # dropped, as the direct socket is

    def _unstick(self) -> None:
        if self.stuck is not None and not self.stuck.done():
            self.stuck.set_result(None)

    def abort(self) -> None:
        self.calls.append(("abort", None))
        self._unstick()

    def unsent(self) -> int:
        return self.waiting  # 0 unless a test says its client takes nothing


def no_replay(sub: Subscription, after: int) -> Replay:
    raise AssertionError("no Last-Event-ID was given: nothing to replay")


@pytest.fixture
async def hub() -> AsyncIterator[Hub]:
    manager = Hub(ping_interval=3600, max_pending=5, metrics=Metrics())
    await manager.start()
    yield manager
    await manager.stop()


@pytest.fixture
def make_streams(
    hub: Hub,
) -> Callable[..., Streams]:
    def make(
        replay: Callable[[Subscription, int], Replay] = no_replay, write_timeout: float = 30
    ) -> Streams:
        settings = Settings(
            secret_key="s" * 32,
            limit_streams_per_principal=1,
            limit_streams_per_salon=0,
            limit_stream_opens=0,
            sse_write_timeout=write_timeout,
        )
        return Streams(hub, settings, Limiter(MemoryLimitStore(), settings), replay)

    return make


async def turns(n: int = 5) -> None:
    """Let the flusher's callbacks and spawned tasks run."""
    for _ in range(n):
        await asyncio.sleep(0)


async def slot_is_free(streams: Streams) -> bool:
    """Whether the principal's one stream slot can be taken (and gives it back if so)."""
    await turns()
    try:
        lease = await streams.limiter.acquire_stream(ADMIN, None)
    except LimitExceeded:
        return False
    await streams.limiter.release_stream(lease)
    return True


def replay_with_live_meanwhile(hub: Hub) -> Callable[[Subscription, int], Replay]:
    """Replays 1..3 after id 0; while it does, 2, 3 (already replayed) and 4 arrive live."""

    async def replay(sub: Subscription, after: int) -> Replay:
        assert (sub, after) == (SUBSCRIPTION, 0)
        yield frame(1) + frame(2), 2, (1, 2)
        for n in (2, 3, 4):
            hub.deliver(route(n), frame(n))
        await asyncio.sleep(0)
        yield frame(3), 3, (3,)

    return replay


@pytest.mark.parametrize("driven", [True, False], ids=["driven", "pumped"])
async def test_hello_then_replay_then_the_held_live_ones_without_duplicates(
    hub, make_streams, driven
):
    streams = make_streams(replay_with_live_meanwhile(hub))
    transport = FakeTransport(driven=driven)
    session = StreamSession(streams, transport)
    if driven:
        assert await session.open(ADMIN, SUBSCRIPTION, 0)
        await turns()
    else:
        running = asyncio.create_task(session.run(ADMIN, SUBSCRIPTION, 0))
        await turns(20)
    hub.deliver(route(5), frame(5))
    await turns()
    name, hello = transport.calls[0]
    assert name == "start"
    assert hello.startswith(b"retry: ") and b"event: connected" in hello  # type: ignore[union-attr]
    assert transport.written() == b"".join(frame(n) for n in (1, 2, 3, 4, 5))
    session.end("client_gone")
    if not driven:
        await asyncio.wait_for(running, 1)
    await turns()
    assert hub.stats()["total_connections"] == 0
    assert "end" not in transport.names()  # the client left: nothing more to write
    assert await slot_is_free(streams)


async def test_the_deadline_ends_the_stream_and_gives_everything_back(hub, make_streams):
    streams = make_streams()
    transport = FakeTransport()
    soon = Principal(user_id=1, role="admin", salon_id=SALON, expires_at=time.time() + 0.2)
    assert await StreamSession(streams, transport).open(soon, SUBSCRIPTION, None)
    assert not await slot_is_free(streams)  # held while the stream is open
    async with asyncio.timeout(3):  # deadlines are kept by the second
        while ("end", "expired") not in transport.calls:
            await asyncio.sleep(0.05)
    assert hub.stats()["total_connections"] == 0
    assert await slot_is_free(streams)


async def test_a_stream_past_the_limit_is_refused_before_anything_is_sent(hub, make_streams):
    streams = make_streams()
    first, second = FakeTransport(), FakeTransport()
    assert await StreamSession(streams, first).open(ADMIN, SUBSCRIPTION, None)
    assert not await StreamSession(streams, second).open(ADMIN, SUBSCRIPTION, None)
    assert second.calls == [("refuse", "streams_per_principal")]
    assert hub.stats()["total_connections"] == 1


async def test_a_failed_replay_ends_the_stream_and_gives_everything_back(hub, make_streams):
    async def failing(sub: Subscription, after: int) -> Replay:
        yield frame(1), 1, (1,)
        raise RuntimeError("the database went away")

    streams = make_streams(failing)
    transport = FakeTransport()
    assert not await StreamSession(streams, transport).open(ADMIN, SUBSCRIPTION, 0)
    assert transport.names() == ["start", "write", "end"]
    assert transport.calls[-1] == ("end", None)  # the client retries with Last-Event-ID 1
    assert hub.stats()["total_connections"] == 0
    assert await slot_is_free(streams)


async def test_a_transport_failing_at_the_hello_gives_everything_back(hub, make_streams):
    streams = make_streams()
    with pytest.raises(OSError):
        await StreamSession(streams, FakeTransport(start_fails=True)).open(
            ADMIN, SUBSCRIPTION, None
        )
    assert hub.stats()["total_connections"] == 0
    assert await slot_is_free(streams)


async def test_a_client_gone_while_the_limits_were_checked_is_never_registered(hub, make_streams):
    streams = make_streams()
    transport = FakeTransport()
    session = StreamSession(streams, transport)
    session.end("client_gone")  # as the socket's connection_lost does during the opening
    assert not await session.open(ADMIN, SUBSCRIPTION, None)
    assert transport.calls == []
    assert hub.stats()["total_connections"] == 0
    assert await slot_is_free(streams)


@pytest.mark.parametrize("reason", ["slow_consumer", "shutdown"])
async def test_the_hub_ending_a_stream_ends_its_transport_with_the_reason(
    hub, make_streams, reason
):
    streams = make_streams()
    transport = FakeTransport()
    transport.writable = False  # the client stopped reading: frames pile up
    assert await StreamSession(streams, transport).open(ADMIN, SUBSCRIPTION, None)
    if reason == "slow_consumer":
        for n in range(1, 8):  # past max_pending (5)
            hub.deliver(route(n), frame(n))
    else:
        await hub.stop()
    await turns()
    assert transport.calls[-1] == ("end", reason)
    assert hub.stats()["total_connections"] == 0
    assert await slot_is_free(streams)


async def test_shutdown_writes_what_was_queued_before_ending(hub, make_streams):
    streams = make_streams()
    transport = FakeTransport()
    assert await StreamSession(streams, transport).open(ADMIN, SUBSCRIPTION, None)
    hub.deliver(route(1), frame(1))
    await hub.stop()
    await turns()
    assert transport.names()[1:] == ["write", "end"]
    assert transport.written() == frame(1)


@pytest.mark.parametrize("driven", [True, False], ids=["driven", "pumped"])
async def test_a_replay_whose_client_takes_nothing_ends_as_a_slow_consumer(
    hub, make_streams, driven
):
    """Its pages wait for a client that takes no byte: after SSE_WRITE_TIMEOUT the stream
    ends as a slow consumer (a stuck pumped write aborted), and everything is given back."""

    async def endless(sub: Subscription, after: int) -> Replay:
        for n in range(1, 1000):
            yield frame(n), n, (n,)

    streams = make_streams(endless, write_timeout=0.2)
    transport = FakeTransport(driven=driven)
    transport.waiting = 1000
    transport.stuck = asyncio.get_running_loop().create_future()
    session = StreamSession(streams, transport)
    async with asyncio.timeout(2):
        if driven:
            assert not await session.open(ADMIN, SUBSCRIPTION, 0)
        else:
            await session.run(ADMIN, SUBSCRIPTION, 0)
    assert ("abort", None) in transport.calls or ("end", "slow_consumer") in transport.calls
    assert transport.names().count("write") == 1  # no page read past the stuck one
    assert hub.stats()["slow_consumers_dropped"] == 1
    assert await slot_is_free(streams)
