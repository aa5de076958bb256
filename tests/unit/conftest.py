"""In-process fixtures for the unit tests that need storage: a SQLite file at the latest
schema (the app's engine), and a writer that stores without announcing anything."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.broker.memory import MemoryBroker
from app.core.metrics import Metrics
from app.db.session import create_session_factory
from app.services.publishing import NotificationPublisher
from app.services.writer import NotificationWriter
from tests.utils.db import migrated_engine


@pytest.fixture
async def sessions(tmp_path: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    async with migrated_engine("sqlite", tmp_path) as engine:
        yield create_session_factory(engine)


@pytest.fixture
async def quiet_writer(
    sessions: async_sessionmaker[AsyncSession],
) -> AsyncIterator[NotificationWriter]:
    """Stores notifications; publishes on a channel nobody hears (the test plays the bus)."""
    publisher = NotificationPublisher(MemoryBroker(), "unheard", Metrics())
    writer = NotificationWriter(sessions, publisher)
    yield writer
    await writer.stop()
