"""A principal's notifications read as their public JSON: the list and the unread count, for
the REST endpoints and the fast read layer (app/api/fast_reads.py) alike.

No Session and no ORM entity: a Core statement run by `Reads` (app/db/reads.py), and the
rows straight to JSON (orjson), as pydantic would write NotificationPublic (a unit test
holds the two to the same bytes).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import Row

from app.core.security import Principal
from app.db.reads import Reads
from app.db.repositories.notifications import PUBLIC_FIELDS, list_query, unread_query
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


def unread_json(rows: Sequence[Row[Any]]) -> bytes:
    """UnreadCount as JSON, from the count's one row."""
    return b'{"unread":%d}' % rows[0][0]


class NotificationReads:
    """A principal's notifications: the newest, and how many are unread."""

    def __init__(self, reads: Reads) -> None:
        self.reads = reads

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
        statement, values = list_query(
            principal,
            limit=limit,
            before_id=before_id,
            unread_only=unread_only,
            salon_id=salon_id,
            filter=filter,
        )
        return await self.reads.run(statement, values, public_json)

    async def unread_json(self, principal: Principal) -> bytes:
        policy.require_recipient(principal)
        statement, values = unread_query(principal)
        return await self.reads.run(statement, values, unread_json)
