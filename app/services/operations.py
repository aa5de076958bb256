"""The operations overview of the whole deployment, from what the service already counts.

Connections per instance come from presence (each instance's announced hub stats), the
charts from the activity history (each instance's samples of its metrics), health from the
readiness checks; the database's figures (its health, the busiest salons' notifications of
the last hour) are read at most once per `refresh_seconds`, however many pages ask.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.broker import Broker
from app.core.tasks import cancel_and_wait
from app.db.repositories.operations import busiest_salons
from app.services.presence import COUNTED, Presence, merge_stats
from app.services.readiness import Dependencies, check_dependencies

logger = logging.getLogger(__name__)

BUSIEST = 10
REFRESH_SECONDS = 5.0
QUERY_TIMEOUT = 2.0
LOOP_LAG_LIMIT = 0.1  # seconds of event-loop lag (p99 of a sample) past which health degrades


class DatabaseView(NamedTuple):
    health: Dependencies
    salons: dict[int, tuple[str, int]]  # salon id -> (name, notifications in the last hour)


class Operations:
    def __init__(
        self,
        presence: Presence,
        session_factory: async_sessionmaker[AsyncSession],
        broker: Broker,
        refresh_seconds: float = REFRESH_SECONDS,
    ) -> None:
        self.presence = presence
        self.history = presence.history
        self.session_factory = session_factory
        self.broker = broker
        self.refresh_seconds = refresh_seconds
        self._view: asyncio.Task[DatabaseView] | None = None
        self._view_started = 0.0

    async def stop(self) -> None:
        await cancel_and_wait(self._view)  # a read of the database still under way

    async def overview(self) -> dict[str, Any]:
        live = self.presence.live()
        streams: Counter[int] = Counter()
        for _, snapshot in live.values():
            for salon_id, count in snapshot.get("salons", ()):
                streams[salon_id] += count
        view = await self._database_view([salon for salon, _ in streams.most_common(BUSIEST)])
        stats = merge_stats({name: snapshot["stats"] for name, (_, snapshot) in live.items()})
        instances = [self._instance(row, live[row["instance"]][0]) for row in stats["instances"]]
        lags = [row["loop_lag_p99_ms"] for row in instances if row["loop_lag_p99_ms"] is not None]
        loop_lag = max(lags, default=None)
        loop_ok = loop_lag is None or loop_lag < LOOP_LAG_LIMIT * 1000
        healthy = view.health.database and view.health.broker and loop_ok
        return {
            "instance": self.presence.name,
            "generated_at": datetime.now(UTC),
            "totals": {**{key: stats[key] for key in COUNTED}, "instances": len(live)},
            "instances": instances,
            "health": {
                "status": "ok" if healthy else "degraded",
                "database": view.health.database,
                "broker": view.health.broker,
                "loop_lag_ms": loop_lag,
                "loop_lag_ok": loop_ok,
            },
            "busiest_salons": _busiest(streams, view.salons),
            "series": self.history.series(time.time()),
        }

    def _instance(self, row: dict[str, Any], age: float) -> dict[str, Any]:
        sample, interval = self.history.latest(row["instance"]), self.history.interval
        return {
            **row,
            "last_announcement_seconds": round(age, 2),
            "notifications_per_second": sample["created"] / interval if sample else None,
            "deliveries_per_second": sample["deliveries"] / interval if sample else None,
            "loop_lag_p99_ms": sample["loop_lag_p99"] * 1000 if sample else None,
        }

    async def _database_view(self, salons: list[int]) -> DatabaseView:
        """One read of the database per `refresh_seconds`, shared by every request meanwhile."""
        now = time.monotonic()
        if self._view is None or now - self._view_started >= self.refresh_seconds:
            self._view_started = now
            self._view = asyncio.get_running_loop().create_task(self._read_database(salons))
        return await asyncio.shield(self._view)  # a request that goes away leaves it running

    async def _read_database(self, salons: list[int]) -> DatabaseView:
        health = await check_dependencies(self.session_factory, self.broker)
        if not health.database:
            return DatabaseView(health, {})
        since = datetime.now(UTC) - timedelta(hours=1)

        async def read() -> list[tuple[int, str, int]]:
            async with self.session_factory() as session:
                return await busiest_salons(session, since, BUSIEST, salons)

        try:
            rows = await asyncio.wait_for(read(), QUERY_TIMEOUT)
        except Exception as exc:  # the page still shows everything else
            logger.warning("busiest salons not read: %s", exc)
            rows = []
        return DatabaseView(health, {salon: (name, count) for salon, name, count in rows})


def _busiest(streams: Counter[int], database: dict[int, tuple[str, int]]) -> list[dict[str, Any]]:
    """The salons with the most streams, then the most notifications of the last hour."""

    def rank(salon: int) -> tuple[int, int, int]:
        return (-streams[salon], -database.get(salon, ("", 0))[1], salon)

    return [
        {
            "salon_id": salon,
            "name": database[salon][0] if salon in database else None,
            "streams": streams[salon],
            "notifications_last_hour": database[salon][1] if salon in database else None,
        }
        for salon in sorted(set(streams) | set(database), key=rank)[:BUSIEST]
    ]
