"""Rows written straight through the ORM, for tests that drive services in process."""

from __future__ import annotations

import secrets

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.models import Salon, User
from app.schemas.notification import NotificationCreate


async def add_account(
    sessions: async_sessionmaker[AsyncSession], role: str, salon_id: int | None
) -> int:
    async with sessions() as session:
        user = User(
            email=f"{role}-{secrets.token_hex(6)}@example.com",
            password_hash="x",
            full_name=role,
            role=role,
            salon_id=salon_id,
        )
        session.add(user)
        await session.commit()
        return user.id


async def add_salon(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as session:
        salon = Salon(name="s")
        session.add(salon)
        await session.commit()
        return salon.id


def notification(recipient_type: str, **fields: object) -> NotificationCreate:
    """A valid notification to create, type "t", titled "x" unless `fields` say otherwise."""
    return NotificationCreate.model_validate(
        {"notification_type": "t", "title": "x", "message": "m"}
        | {"recipient_type": recipient_type}
        | fields
    )
