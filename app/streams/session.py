"""One live stream, from the limits to its release, whatever transport carries it.

The order is the same for every transport, and decided here only:

    limits (a refusal is still a 429: nothing was sent)
    -> registered in the hub, holding live notifications when it replays
    -> hello ("retry" and "connected")
    -> replay of what the client missed, then the held live ones newer than it
    -> live until the deadline (the credential's expiry or the maximum lifetime), the
       client leaving, falling too far behind or taking nothing for SSE_WRITE_TIMEOUT
       (app/streams/stalls.py), or shutdown
    -> unregistered, the transport ended as the reason asks, the limits' slots given back

A session is a plain object: the opening is one short task, and on a driven transport
(the direct socket) the live phase is the hub waking it and the flusher writing it, with
no task or future per stream.
"""

from __future__ import annotations

import logging
import random
import time
from contextlib import aclosing
from typing import cast

from app.core.connection import CloseReason, Connection, Subscription
from app.core.security import Principal
from app.core.sse import json_frame, now_iso, retry_frame
from app.db.session import PoolTimeout
from app.services.errors import LimitExceeded
from app.services.limiter import Lease
from app.streams.logs import log_closed, log_opened
from app.streams.shared import Replay, Streams
from app.streams.transport import DrivenTransport, Transport

logger = logging.getLogger(__name__)

# Streams end up to this share of SSE_MAX_STREAM_SECONDS early, at random, so that clients
# connected together (after a deploy, say) don't all reconnect together every time.
LIFETIME_SPREAD = 0.1


def stream_deadline(principal: Principal, max_seconds: float) -> float:
    """When a stream opened now must end: its credential's expiry or the maximum lifetime,
    whichever comes first (then the client reconnects and is checked again)."""
    lifetime = max_seconds * (1 - LIFETIME_SPREAD * random.random())
    return min(principal.expires_at, time.time() + lifetime)


def hello_frame(subscription: Subscription, retry_ms: int) -> bytes:
    connected = {**subscription.hello(), "server_time": now_iso()}
    return retry_frame(retry_ms) + json_frame("connected", connected)


class StreamSession:
    """One stream's life; the hub's Sink and the flusher's Flushable when driven."""

    __slots__ = ("conn", "expires", "finished", "lease", "queued", "streams", "transport")

    def __init__(self, streams: Streams, transport: Transport) -> None:
        self.streams = streams
        self.transport = transport
        self.conn: Connection | None = None
        self.lease: Lease | None = None
        self.expires = 0  # the second it is due in streams.expiries; 0 while not live
        self.finished = False
        self.queued = False  # woken, and waiting for the flusher

    async def open(
        self, principal: Principal, subscription: Subscription, last_event_id: int | None
    ) -> bool:
        """Take the limits' slots, register, say hello, replay, go live. False when the
        stream ended meanwhile (refused, client gone, replay failed): all is given back."""
        streams, transport = self.streams, self.transport
        try:
            salon_id = subscription.salon_id if subscription.kind == "admin" else None
            self.lease = await streams.limiter.acquire_stream(principal, salon_id)
        except LimitExceeded as exc:
            self.finished = True
            await transport.refuse(exc)
            return False
        try:
            if self.finished:  # the client left while the limits were checked
                self._give_back_slots()
                return False
            replay = streams.replay_for(subscription, last_event_id)
            conn = streams.hub.register(
                subscription, replay is not None, self if transport.driven else None
            )
            self.conn = conn
            if not transport.driven:
                conn.abort = transport.abort
            await transport.start(hello_frame(subscription, streams.settings.sse_retry_ms))
            log_opened(subscription)
            if replay is not None and not await self._replay(conn, replay):
                self.finish()  # the client retries
                return False
        except BaseException:
            self.finish()
            raise
        if self.finished:
            return False
        deadline = stream_deadline(principal, streams.settings.sse_max_stream_seconds)
        self.expires = streams.expiries.add(self, deadline)
        if transport.driven:
            self.flush()
        return True

    async def run(
        self, principal: Principal, subscription: Subscription, last_event_id: int | None
    ) -> None:
        """Open, then write what the hub queues until the stream ends (pumped transports)."""
        if not await self.open(principal, subscription, last_event_id):
            return
        conn = self.conn
        assert conn is not None
        delivered = self.streams.metrics.delivered
        try:
            while (data := await conn.take()) is not None:
                await self._write(conn, data)
                if conn.chunk_notes:
                    delivered(conn.chunk_notes, conn.chunk_oldest)
        finally:
            self.finish()

    async def _write(self, conn: Connection, data: bytes) -> None:
        """Hand `data` to the transport once the client's socket can take it; watched
        meanwhile, so a client that takes nothing ends the wait (SSE_WRITE_TIMEOUT)."""
        self.streams.stalls.watch(self)
        conn.writing = True  # a stalled write is aborted, not waited for
        try:
            await self.transport.write_when_ready(data)
        finally:
            conn.writing = False

    async def _replay(self, conn: Connection, replay: Replay) -> bool:
        """Write what the client missed, then release the live notifications held meanwhile
        (registered holding them, so none falls in between). False if the replay failed or
        the stream ended meanwhile.

        A page is read only when the last one is written (the transport waits while the
        client's socket buffer is full) and holds no database connection while written:
        a client that stops reading costs its bytes, until SSE_WRITE_TIMEOUT ends it."""
        through = 0
        replayed = self.streams.metrics.replayed
        try:
            async with aclosing(replay) as pages:
                async for data, last_id, ids in pages:
                    await self._write(conn, data)
                    if self.finished or conn.close_reason is not None:
                        return False  # ended meanwhile: the rest would go nowhere
                    through = max(through, last_id)
                    replayed.inc(len(ids))
                    self.streams.hub.replayed(conn.subscription.user_id, ids)
        except PoolTimeout:
            # The answer has begun: no 503 now. The client comes back with its Last-Event-ID.
            logger.warning("replay: no database connection came free; ending the stream")
            return False
        except Exception:
            if self.finished or conn.close_reason is not None:
                return False  # a write to a client gone or dropped
            logger.exception("replay failed; ending the stream so the client retries")
            return False
        conn.release(through)
        return True

    # The hub's and the flusher's side (driven transports).

    def wake(self) -> None:
        if not self.queued and not self.finished:
            self.queued = True
            self.streams.flusher.add(self)

    def flush(self) -> None:
        conn = self.conn
        if conn is None or self.finished:
            return
        transport = cast(DrivenTransport, self.transport)  # only a driven one is woken
        if not transport.writable and conn.close_reason is None:
            return  # the client's buffer is full: what is pending waits (or overflows)
        data = conn.take_nowait()
        if data:
            transport.write(data)
            self.streams.stalls.watch(self)
            if conn.chunk_notes:
                self.streams.flusher.count(conn.chunk_oldest, conn.chunk_notes)
        if conn.close_reason is not None:
            self.finish()

    # Ending.

    def end(self, reason: CloseReason) -> None:
        """End this stream now, for `reason`: the one way every cause ends a stream."""
        conn = self.conn
        if conn is None:
            self.finished = True  # still opening: the opening sees it and gives up
        else:
            conn.close(reason)  # the writer (flusher or pump) writes what it must, then finish

    def expire(self) -> None:
        self.expires = 0
        self.end("expired")

    def unsent(self) -> int:
        return self.transport.unsent()

    def stalled(self) -> None:
        """Its client took nothing for SSE_WRITE_TIMEOUT while bytes waited for it."""
        self.end("slow_consumer")

    def finish(self) -> None:
        """Unregister, end the transport as the close reason asks, give the slots back; once."""
        conn = self.conn
        self.finished = True
        self.conn = None
        if self.expires:
            self.streams.expiries.discard(self, self.expires)
            self.expires = 0
        if conn is None:
            return
        self.streams.stalls.discard(self)
        self.streams.hub.unregister(conn)
        if conn.close_reason != "client_gone":
            self.transport.end(conn.close_reason)
        log_closed(conn)
        self._give_back_slots()

    def _give_back_slots(self) -> None:
        lease, self.lease = self.lease, None
        if lease is not None:
            self.streams.spawn(self.streams.limiter.release_stream(lease))
