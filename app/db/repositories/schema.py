"""The schema's own bookkeeping: which Alembic revision the database is at."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


async def schema_revision(session: AsyncSession) -> str | None:
    """The Alembic revision applied (None if none); fails if the schema can't be read."""
    revision = await session.scalar(text("SELECT version_num FROM alembic_version"))
    return None if revision is None else str(revision)
