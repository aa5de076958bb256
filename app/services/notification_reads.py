"""A principal's notifications read as their public JSON: the list and the unread count, for
the REST endpoints and the front door (app/api/front_door.py) alike.

No Session and no ORM entity: a Core statement run by `Reads` (app/db/reads.py), and the
rows straight to JSON (orjson), as pydantic would write NotificationPublic (a unit test
holds the two to the same bytes).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import orjson
from sqlalchemy import Row

from app.core.security import Principal
from app.db.reads import Reads
from app.db.repositories.notifications import PUBLIC_FIELDS, list_query, unread_query
from app.schemas.notification import ListOptions
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


def notification_json(row: Row[Any]) -> bytes:
    """One NotificationPublic as JSON, from a row of PUBLIC_COLUMNS."""
    return orjson.dumps(dict(zip(PUBLIC_FIELDS, row, strict=True)), option=_JSON_OPTIONS)


def unread_json(rows: Sequence[Row[Any]]) -> bytes:
    """UnreadCount as JSON, from the count's one row."""
    return b'{"unread":%d}' % rows[0][0]


class NotificationReads:
    """A principal's notifications: the newest, and how many are unread."""

    def __init__(self, reads: Reads) -> None:
        self.reads = reads

    async def list_json(self, principal: Principal, options: ListOptions) -> bytes:
        policy.require_recipient(principal)
        if principal.role != "customer" and options.salon_id is not None:
            # The salon filter is a customer's; an admin sees its own salon.
            options = replace(options, salon_id=None)
        return await self.reads.run(*list_query(principal, options), public_json)

    async def unread_json(self, principal: Principal) -> bytes:
        policy.require_recipient(principal)
        return await self.reads.run(*unread_query(principal), unread_json)
