"""Do the service's dependencies answer? The one check behind /readyz and the operations page."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.broker import Broker
from app.db.repositories.schema import schema_revision

# A readiness probe must answer even when a dependency hangs (a frozen Redis, a partitioned
# database): each check that takes longer counts as failed, within the 1 s probe timeout
# orchestrators use by default.
CHECK_TIMEOUT = 0.8


class Dependencies(NamedTuple):
    database: bool
    broker: bool


async def check_dependencies(
    session_factory: async_sessionmaker[AsyncSession], broker: Broker
) -> Dependencies:
    """The database (its schema readable) and the broker, checked side by side."""

    async def database() -> bool:
        async with session_factory() as session:
            await schema_revision(session)
        return True

    database_ok, broker_ok = await asyncio.gather(answers(database), answers(broker.ping))
    return Dependencies(database_ok, broker_ok)


async def answers(probe: Callable[[], Awaitable[Any]]) -> bool:
    """The probe answered truthy within CHECK_TIMEOUT; an error or a hang is a no."""
    try:
        return bool(await asyncio.wait_for(probe(), CHECK_TIMEOUT))
    except Exception:
        return False
