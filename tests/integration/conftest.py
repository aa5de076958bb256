"""In-process fixtures: the app's engine on a fresh database of the session's backend, and
a writer publishing on a memory broker, for tests that drive services without a server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.broker.memory import MemoryBroker
from app.core.metrics import Metrics
from app.db.session import create_session_factory
from app.services.publishing import NotificationPublisher
from app.services.writer import NotificationWriter
from tests.utils.db import migrated_engine


@pytest.fixture
async def engine(backend: str, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    async with migrated_engine(backend, tmp_path) as engine:
        yield engine


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_session_factory(engine)


@pytest.fixture
def heard() -> list[bytes]:
    """What the writer put on the bus (its envelopes), in order."""
    return []


@pytest.fixture
async def writer(
    sessions: async_sessionmaker[AsyncSession], heard: list[bytes]
) -> AsyncIterator[NotificationWriter]:
    broker = MemoryBroker()
    await broker.subscribe("n", heard.append)
    writer = NotificationWriter(sessions, NotificationPublisher(broker, "n", Metrics()))
    yield writer
    await writer.stop()
