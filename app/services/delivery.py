"""Exactly once, in id order: what the hub of this instance is fed, whatever the bus does.

The bus (broker) is fast but may lose, repeat or reorder: an instance crashes between
commit and publish, Redis restarts, two instances publish in the other order. The
database is the truth and ids are committed in order (see NOTIFICATION_WRITE_LOCK), so
the sequencer keeps a cursor (the last id handed to the hub) and:
- takes a message from the bus straight to the hub when it is the next one;
- on a gap, holds what the bus brought; if the gap has not closed by itself within
  GAP_GRACE (with several instances, ids commit in order but their publications race, so
  the missing one is usually a moment behind on the bus), reads it from the database;
- every `poll_interval`, looks for ids past the cursor anyway (one cheap query: the
  newest id), which covers a bus that is down or a publication that never came.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.broker import Broker
from app.core.connection import Route, decode_envelope
from app.core.hub import Hub
from app.core.logging import log_event
from app.core.pacing import Pacer
from app.core.tasks import cancel_and_wait
from app.db.models import Notification
from app.db.reads import Reads
from app.db.repositories.notifications import NEWEST_ID, newest_of, notifications_after
from app.services.publishing import notification_frame, route_of

logger = logging.getLogger(__name__)

PAGE = 500
# A gap is mostly another instance's publication still on its way: reading the database at
# once made every instance of a cluster query it for most notifications (S5: an observer's
# CPU per notification tripled with two writers). Waiting this long costs a truly missing
# notification (a crashed publisher) as much latency, and the rest nothing.
GAP_GRACE = 0.01


class DeliverySequencer:
    def __init__(
        self,
        hub: Hub,
        broker: Broker,
        channel: str,
        session_factory: async_sessionmaker[AsyncSession],
        reads: Reads,
        poll_interval: float,
    ) -> None:
        self.hub = hub
        self.broker = broker
        self.channel = channel
        self.session_factory = session_factory
        self.reads = reads
        self.poll_interval = poll_interval
        self.cursor = 0
        self._early: dict[int, tuple[Route, bytes]] = {}
        self._fill: asyncio.Task[None] | None = None
        self._gap_timer: asyncio.TimerHandle | None = None
        self._poller: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.cursor = await self._newest()
        await self.broker.subscribe(self.channel, self.on_message)
        self._poller = asyncio.get_running_loop().create_task(self._poll_forever())

    async def stop(self) -> None:
        await self.broker.unsubscribe(self.channel, self.on_message)
        self._stop_gap_timer()
        for task in (self._poller, self._fill):
            await cancel_and_wait(task)

    def on_message(self, message: bytes) -> None:
        route, frame = decode_envelope(message)
        if route.id <= self.cursor:
            return  # already delivered, from the database or as a repeat
        if route.id == self.cursor + 1 and self._fill is None:
            self._deliver(route, frame)
            while self._early and (held := self._early.pop(self.cursor + 1, None)):
                self._deliver(*held)  # what came before its turn, up to the next gap
            if not self._early:
                self._stop_gap_timer()  # the gap closed by itself
            return
        self._early[route.id] = (route, frame)
        if self._fill is None and self._gap_timer is None:
            self._gap_timer = asyncio.get_running_loop().call_later(GAP_GRACE, self._start_fill)

    def _deliver(self, route: Route, frame: bytes) -> None:
        self.cursor = route.id
        streams = self.hub.deliver(route, frame)
        if logger.isEnabledFor(logging.INFO):  # a message per notification: only if kept
            log_event(
                logger,
                "notification_delivered",
                f"notification {route.id} queued for {streams} streams",
                notification_id=route.id,
                streams=streams,
                latency_ms=round((time.time() - route.created_at) * 1000, 1),
            )

    def _stop_gap_timer(self) -> None:
        if self._gap_timer is not None:
            self._gap_timer.cancel()
            self._gap_timer = None

    def _start_fill(self) -> None:
        self._stop_gap_timer()
        if self._fill is None:
            self._fill = asyncio.get_running_loop().create_task(self._fill_from_database())

    async def _fill_from_database(self) -> None:
        """Deliver what the database holds past the cursor, in order, with what came early."""
        pacer = Pacer()
        try:
            while True:
                rows = await self._committed_after(self.cursor)
                for row in rows:
                    # Messages that arrive meanwhile wait in `_early`, as this task runs.
                    await pacer.pause()
                    early = self._early.pop(row.id, None)
                    route, frame = early or (route_of(row), notification_frame(row))
                    if row.id > self.cursor:
                        self._deliver(route, frame)
                        if early is None:
                            self.hub.metrics.caught_up.inc()
                if len(rows) == PAGE:
                    continue
                if not rows and self._early:
                    # On the bus but not in the database (purged meanwhile): in order still.
                    for event_id in sorted(self._early):
                        self._deliver(*self._early.pop(event_id))
                self._drop_delivered()
                if not self._early:
                    return
        except Exception:
            logger.exception("catching up from the database failed; retrying at the next poll")
        finally:
            self._fill = None

    def _drop_delivered(self) -> None:
        for event_id in [i for i in self._early if i <= self.cursor]:
            del self._early[event_id]

    async def _committed_after(self, cursor: int) -> Sequence[Notification]:
        async with self.session_factory() as session:
            return await notifications_after(session, cursor, PAGE)

    async def _newest(self) -> int:
        return await self.reads.run(NEWEST_ID, {}, newest_of)

    async def _poll_forever(self) -> None:
        while True:
            await asyncio.sleep(self.poll_interval)
            if self._fill is not None:
                continue
            # Mostly nothing is missing: the newest id says so for a fraction of what reading
            # past the cursor costs (SQLite: one thread hop, no session), and the poll runs
            # every second on every idle instance.
            try:
                missing = await self._newest() > self.cursor
            except Exception:
                missing = True  # the fill will say what is wrong, and retry at the next poll
            if missing and self._fill is None:
                self._start_fill()
