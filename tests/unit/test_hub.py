"""The hub on its own: routing by index, coalescing, slow consumers, pings, shutdown."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from app.core.connection import decode_envelope, encode_envelope
from app.core.hub import Hub, Route, Subscription
from app.core.sse import event_frame


def connect(hub: Hub, *args, **kwargs):
    return hub.connect(Subscription(*args, **kwargs))


def frame(n: int) -> bytes:
    return event_frame("notification", b'{"n":%d}' % n, n)


@pytest.fixture
async def hub() -> Hub:
    manager = Hub(ping_interval=3600, max_pending=5)
    await manager.start()
    yield manager
    await manager.stop()


async def drain(conn) -> bytes:
    return await asyncio.wait_for(conn.take(), timeout=1)


async def test_salon_notification_reaches_every_admin_of_that_salon_only(hub):
    with (
        connect(hub, "admin", 1, salon_id=10) as a1,
        connect(hub, "admin", 2, salon_id=10) as a2,
        connect(hub, "admin", 3, salon_id=20) as other,
        connect(hub, "customer", 1) as customer,
    ):
        hub.deliver(Route(1, "salon", None, 10), frame(1))
        assert await drain(a1) == frame(1)
        assert await drain(a2) == frame(1)
        assert not other._pending and not customer._pending


async def test_user_notification_needs_the_admin_and_its_salon(hub):
    with connect(hub, "admin", 1, salon_id=10) as admin, connect(hub, "customer", 1) as customer:
        hub.deliver(Route(1, "user", 1, 20), frame(1))  # wrong salon
        hub.deliver(Route(2, "user", 1, 10), frame(2))
        assert await drain(admin) == frame(2)
        assert not customer._pending  # same numeric id, other kind


def test_an_admin_subscription_needs_a_salon():
    with pytest.raises(ValueError, match="salon_id"):
        Subscription("admin", 1)


async def test_customer_salon_filter(hub):
    with (
        connect(hub, "customer", 7) as everything,
        connect(hub, "customer", 7, salon_filter=10) as only_10,
    ):
        hub.deliver(Route(1, "customer", 7, 20), frame(1))
        hub.deliver(Route(2, "customer", 7, None), frame(2))
        hub.deliver(Route(3, "customer", 7, 10), frame(3))
        assert await drain(everything) == frame(1) + frame(2) + frame(3)
        assert await drain(only_10) == frame(3)


async def test_burst_is_written_as_one_chunk_in_order(hub):
    with connect(hub, "customer", 1) as conn:
        for n in range(1, 5):
            hub.deliver(Route(n, "customer", 1, None), frame(n))
        assert await drain(conn) == b"".join(frame(n) for n in range(1, 5))
        assert conn.events_sent == 4


async def test_slow_consumer_is_closed_not_waited_for(hub):
    with connect(hub, "customer", 1) as slow, connect(hub, "customer", 1) as fast:
        for n in range(1, 7):
            hub.deliver(Route(n, "customer", 1, None), frame(n))
            if n < 6:
                await drain(fast)
        assert slow.close_reason == "slow_consumer"
        assert await drain(slow) is None  # ends at once, nothing more is written
        assert fast.close_reason is None
    assert hub.slow_consumers_dropped == 1


async def test_disconnected_connection_leaves_every_index(hub):
    with connect(hub, "admin", 1, salon_id=10), connect(hub, "customer", 2):
        assert hub.stats()["total_connections"] == 2
    assert hub.stats() == {
        "active_admin_connections": 0,
        "active_customer_connections": 0,
        "total_connections": 0,
        "admins": [],
        "customers": [],
        "slow_consumers_dropped": 0,
    }
    assert not hub._admins_by_salon and not hub._admins_by_user and not hub._customers


async def test_stats_count_connections_and_list_principals_once(hub):
    with (
        connect(hub, "admin", 5, salon_id=2),
        connect(hub, "admin", 5, salon_id=2),
        connect(hub, "admin", 1, salon_id=3),
        connect(hub, "customer", 9),
        connect(hub, "customer", 4),
        connect(hub, "customer", 9),
    ):
        assert hub.stats() == {
            "active_admin_connections": 3,
            "active_customer_connections": 3,
            "total_connections": 6,
            "admins": [[2, 5], [3, 1]],
            "customers": [4, 9],
            "slow_consumers_dropped": 0,
        }


async def test_one_timer_pings_every_connection():
    hub = Hub(ping_interval=0.05, max_pending=100)
    await hub.start()
    try:
        with connect(hub, "admin", 1, salon_id=1) as a, connect(hub, "customer", 1) as c:
            for conn in (a, c):
                chunk = await drain(conn)
                assert chunk.startswith(b'event: ping\ndata: {"timestamp":')
    finally:
        await hub.stop()


async def test_stop_ends_streams_after_what_they_had_queued(hub):
    with connect(hub, "customer", 1) as conn:
        hub.deliver(Route(1, "customer", 1, None), frame(1))
        await hub.stop()
        assert await drain(conn) == frame(1)
        assert await drain(conn) is None


async def test_client_filter_keeps_only_chosen_types_and_priorities(hub):
    with (
        connect(hub, "customer", 1) as everything,
        connect(hub, "customer", 1, types=frozenset({"appointment_confirmed"})) as by_type,
        connect(hub, "customer", 1, min_priority=2) as urgent_ones,
    ):
        hub.deliver(Route(1, "customer", 1, None, "promo", 0), frame(1))
        hub.deliver(Route(2, "customer", 1, None, "appointment_confirmed", 1), frame(2))
        hub.deliver(Route(3, "customer", 1, None, "promo", 3), frame(3))
        assert await drain(everything) == frame(1) + frame(2) + frame(3)
        assert await drain(by_type) == frame(2)
        assert await drain(urgent_ones) == frame(3)


async def test_a_stream_opened_during_shutdown_ends_at_once(hub):
    await hub.stop()
    with connect(hub, "customer", 1) as conn:
        assert await drain(conn) is None


async def test_a_notification_reaches_a_connection_once_and_never_after_a_newer_one(hub):
    with connect(hub, "customer", 1) as conn:
        for n in (1, 2, 2, 1, 3):
            hub.deliver(Route(n, "customer", 1, None), frame(n))
        assert await drain(conn) == frame(1) + frame(2) + frame(3)


async def test_live_notifications_wait_for_the_replay_and_the_seam_has_no_duplicate(hub):
    with connect(hub, "customer", 1) as conn:
        conn.hold()
        for n in (4, 5, 6):  # live, while the replay (ids up to 5) is being read
            hub.deliver(Route(n, "customer", 1, None), frame(n))
        assert conn._pending == []
        conn.release(replayed_through=5)
        assert await drain(conn) == frame(6)


async def test_drain_ends_streams_spread_over_the_window():
    hub = Hub(ping_interval=3600, max_pending=10)
    await hub.start()
    closed_at: list[float] = []
    loop = asyncio.get_running_loop()

    async def watch(conn) -> None:
        await asyncio.wait_for(conn.take(), timeout=2)
        closed_at.append(loop.time())

    with contextlib.ExitStack() as stack:
        conns = [stack.enter_context(connect(hub, "customer", n)) for n in range(1, 41)]
        watchers = [asyncio.create_task(watch(c)) for c in conns]
        started = loop.time()
        await hub.drain(0.4)
        await asyncio.gather(*watchers)
        with connect(hub, "customer", 99) as late:
            assert late.close_reason == "shutdown"  # refused while draining
    await hub.stop()
    spread = max(closed_at) - min(closed_at)
    assert spread >= 0.25 and max(closed_at) - started < 1.0


async def test_a_replaying_connection_holds_live_notifications_from_its_first_moment(hub):
    """What arrives between registration and the start of the replay (while the response
    headers are being written) is held too, so the replay can't be followed by a repeat."""
    with hub.connect(Subscription("customer", 1), replaying=True) as conn:
        hub.deliver(Route(7, "customer", 1, None), frame(7))
        conn.release(replayed_through=7)  # the replay sent 7 already
        assert conn._pending == []
        hub.deliver(Route(8, "customer", 1, None), frame(8))
        assert await drain(conn) == frame(8)


def test_an_envelope_carries_the_route_and_the_frame_unchanged():
    route = Route(5, "customer", 7, 2, "appointment_confirmed", 3, 1234.5)
    assert decode_envelope(encode_envelope(route, frame(5))) == (route, frame(5))


async def test_a_backlog_is_bounded_in_bytes_while_live_and_while_replaying():
    hub = Hub(ping_interval=3600, max_pending=1000, max_pending_bytes=3000)
    big = event_frame("notification", b'{"k":"' + b"x" * 1000 + b'"}', 1)
    with hub.connect(Subscription("customer", 1)) as live:
        for n in range(1, 3):
            hub.deliver(Route(n, "customer", 1, None), big)
        assert live.close_reason is None  # two frames: about 2 KB
        hub.deliver(Route(3, "customer", 1, None), big)
        assert live.close_reason == "slow_consumer"  # the third would pass 3,000 bytes
    with hub.connect(Subscription("customer", 2), replaying=True) as replaying:
        for n in range(1, 5):
            hub.deliver(Route(n, "customer", 2, None), big)
        assert replaying.close_reason == "slow_consumer"  # held ones count as well
