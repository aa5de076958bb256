"""A principal's notifications read as their public JSON: the list and the unread count, for
the REST endpoints and the fast read layer (app/api/fast_reads.py) alike.

No Session and no ORM entity: a pooled connection of its own runs a Core statement, and the
rows go straight to JSON (orjson), as pydantic would write NotificationPublic (a unit test
holds the two to the same bytes).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.core.security import Principal
from app.db.repositories.notifications import (
    PUBLIC_FIELDS,
    count_unread,
    list_public,
    read_connection,
)
from app.schemas.notification import NotificationFilter
from app.services import policy

# Pydantic writes an aware UTC datetime with a `Z`; orjson does too with this option.
_JSON_OPTIONS = orjson.OPT_UTC_Z
DEFAULT_LIST_LIMIT = 50
MAX_LIST_LIMIT = 200


def public_json(rows: Sequence[Row[Any]]) -> bytes:
    """A list of NotificationPublic as JSON, from rows of PUBLIC_COLUMNS."""
    return orjson.dumps(
        [dict(zip(PUBLIC_FIELDS, row, strict=True)) for row in rows], option=_JSON_OPTIONS
    )


def unread_json(unread: int) -> bytes:
    """UnreadCount as JSON."""
    return b'{"unread":%d}' % unread


class NotificationReads:
    """A principal's notifications: the newest, and how many are unread."""

    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        # The engine the sessions are bound to: reads need a connection, not a session.
        self.engine: AsyncEngine = session_factory.kw["bind"]

    async def list_json(
        self,
        principal: Principal,
        *,
        limit: int,
        before_id: int | None,
        unread_only: bool,
        salon_id: int | None,
        filter: NotificationFilter,
    ) -> bytes:
        policy.require_recipient(principal)
        if principal.role != "customer":
            salon_id = None  # the salon filter is a customer's; an admin sees its own salon
        async with read_connection(self.engine) as connection:
            rows = await list_public(
                connection,
                principal,
                limit=limit,
                before_id=before_id,
                unread_only=unread_only,
                salon_id=salon_id,
                filter=filter,
            )
        return public_json(rows)

    async def unread_json(self, principal: Principal) -> bytes:
        policy.require_recipient(principal)
        async with read_connection(self.engine) as connection:
            return unread_json(await count_unread(connection, principal))
