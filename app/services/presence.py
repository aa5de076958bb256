"""Connection statistics of the whole deployment: each instance announces its own on the bus.

Every instance publishes a snapshot of its hub (its stats, its admin streams per salon and
its latest activity samples) when it changes (at most every `interval`) and at least every
few intervals; the stats endpoint merges its own live figures with the fresh snapshots of
the others. An instance that stops says goodbye; one that dies stops being counted once its
snapshot is stale. The samples of the others go to the activity history as they come.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import socket
import time
from contextlib import suppress
from typing import Any

import orjson

from app.broker import Broker
from app.core.hub import Hub
from app.core.tasks import cancel_and_wait
from app.services.activity import History

logger = logging.getLogger(__name__)

HEARTBEAT_EVERY = 4  # intervals between snapshots when nothing changes
STALE_AFTER = 3 * HEARTBEAT_EVERY  # intervals after which a silent instance is not counted
COUNTED = (
    "active_admin_connections",
    "active_customer_connections",
    "total_connections",
    "slow_consumers_dropped",
)


def instance_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Presence:
    def __init__(
        self,
        hub: Hub,
        broker: Broker,
        channel: str,
        interval: float,
        history: History,
    ) -> None:
        self.hub = hub
        self.history = history
        # Samples may come faster than announcements (or one may be late): each carries the
        # last few, so that none is missed by the others.
        self._samples_per_announcement = math.ceil(interval / history.interval) + 2
        self.broker = broker
        self.channel = channel
        self.interval = interval
        self.name = instance_name()
        self._others: dict[str, tuple[float, dict[str, Any]]] = {}
        self._own_prefix = orjson.dumps({"instance": self.name})[:-1] + b","
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.broker.subscribe(self.channel, self.on_message)
        self._task = asyncio.get_running_loop().create_task(self._announce_forever())

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        with suppress(Exception):
            await self.broker.publish(self.channel, orjson.dumps({"instance": self.name}))
        await self.broker.unsubscribe(self.channel, self.on_message)

    def on_message(self, message: bytes) -> None:
        if message.startswith(self._own_prefix):
            return  # our own announcement, back from the bus: not worth parsing
        snapshot = orjson.loads(message)
        name = snapshot.get("instance")
        if name == self.name:
            return
        if "stats" in snapshot:
            self._others[name] = (time.monotonic(), snapshot)
            for sample in snapshot.get("samples", ()):
                self.history.record(name, sample)  # those it already has are ignored
        else:
            self._others.pop(name, None)  # it said goodbye

    def snapshot(self) -> dict[str, Any]:
        """What this instance announces: its hub's figures and its latest activity samples."""
        return {
            "instance": self.name,
            "stats": self.hub.stats(),
            "salons": self.hub.admin_streams_by_salon(),
            "samples": self.history.recent(self.name, self._samples_per_announcement),
        }

    def live(self) -> dict[str, tuple[float, dict[str, Any]]]:
        """Every instance counted: its snapshot and how many seconds ago it was announced
        (this one's is current)."""
        now = time.monotonic()
        oldest = now - STALE_AFTER * self.interval
        live = {n: (now - seen, s) for n, (seen, s) in self._others.items() if seen >= oldest}
        live[self.name] = (0.0, self.snapshot())
        return live

    def stats(self) -> dict[str, Any]:
        """The deployment's connections: the contract's fields, plus one entry per instance."""
        return merge_stats({name: s["stats"] for name, (_, s) in self.live().items()})

    async def _announce_forever(self) -> None:
        announced: tuple[int, object] = (-1, None)
        quiet, snapshot = 0, b""
        while True:
            current = (self.hub.version, self.history.latest(self.name))
            changed = current != announced
            if changed:  # O(connections): built only then; a heartbeat repeats the last one
                announced = current
                snapshot = orjson.dumps(self.snapshot())
            if changed or quiet >= HEARTBEAT_EVERY:
                quiet = 0
                try:
                    await self.broker.publish(self.channel, snapshot)
                except Exception as exc:
                    logger.warning("presence announcement failed: %s", exc)
            quiet += 1
            await asyncio.sleep(self.interval)


def merge_stats(per_instance: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The contract's stats of the deployment from each instance's hub stats."""
    admins = sorted({tuple(p) for s in per_instance.values() for p in s["admins"]})
    customers = sorted({c for s in per_instance.values() for c in s["customers"]})
    return {
        **{key: sum(s[key] for s in per_instance.values()) for key in COUNTED},
        "admins": [list(p) for p in admins],
        "customers": customers,
        "instances": [
            {"instance": name, **{key: s[key] for key in COUNTED}}
            for name, s in sorted(per_instance.items())
        ],
    }
