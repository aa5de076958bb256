"""Notification queries; `visible_to` is the one definition of "a principal's notifications"."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Integer,
    Row,
    Select,
    Table,
    and_,
    bindparam,
    false,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.core.security import Principal
from app.db.base import UTCDateTime, utcnow
from app.db.models import Notification
from app.schemas.notification import (
    PRIORITY_RANK,
    ListOptions,
    NotificationPublic,
)

Id = int | BindParameter[Any]


def visible_to(principal: Principal, salon_id: int | None = None) -> ColumnElement[bool]:
    """Rows routed to this principal: the seed's routing rules, as SQL."""
    return routed_to(principal.role, principal.user_id, principal.salon_id, salon_id)


def routed_to(
    role: str, user_id: Id, admin_salon: Id | None, salon_filter: Id | None = None
) -> ColumnElement[bool]:
    """The same rules as the hub's `recipients`, for an admin of `admin_salon` or a customer
    (the ids as values, or as bound parameters to give at execution)."""
    n = Notification
    if role == "admin":
        return and_(
            n.salon_id == admin_salon,
            or_(
                n.recipient_type == "salon",
                and_(n.recipient_type == "user", n.recipient_id == user_id),
            ),
        )
    if role == "customer":
        mine = and_(n.recipient_type == "customer", n.recipient_id == user_id)
        return mine if salon_filter is None else and_(mine, n.salon_id == salon_filter)
    return false()


def matching(types: frozenset[str] | None, min_rank: int) -> list[ColumnElement[bool]]:
    """A client's filter as SQL, the same one the hub applies to live events."""
    clauses: list[ColumnElement[bool]] = []
    if types is not None:
        clauses.append(Notification.notification_type.in_(sorted(types)))
    if min_rank > 0:
        kept = [name for name, rank in PRIORITY_RANK.items() if rank >= min_rank]
        clauses.append(Notification.priority.in_(kept))
    return clauses


NOTIFICATIONS = cast(Table, Notification.__table__)
# SQLite: SQLAlchemy's "insertmanyvalues" sends the rows as multi-row INSERT ... RETURNING
# batches. SQLite can't promise the order of what they return (SQLAlchemy would fall back to
# one statement, one thread hop, per row): the ids are sorted instead, which is right
# because the transaction holds SQLite's one write lock and rows are numbered in the order
# they are inserted (AUTOINCREMENT: always above every id ever used).
INSERT_UNORDERED = insert(NOTIFICATIONS).returning(NOTIFICATIONS.c.id)


async def insert_notifications(
    session: AsyncSession, rows: list[dict[str, Any]], lock: int
) -> list[int]:
    """Insert `rows` (every column but the id; `created_at` the same in all) in the
    session's transaction and commit it with its own changes, holding the write lock
    (PostgreSQL: the advisory `lock`; SQLite: its only one) until the commit; their new
    ids, in the order of `rows`. (A group of its own: notification_groups.py.)"""
    if not rows:
        ids: list[int] = []
    elif session.get_bind().dialect.name == "postgresql":
        ids = await _insert_locked(await session.connection(), lock, rows)
    else:
        connection = await session.connection()
        ids = sorted((await connection.execute(INSERT_UNORDERED, rows)).scalars())
    await session.commit()
    return ids


def _write_lock(lock: str) -> str:
    return f"SELECT pg_advisory_xact_lock({lock})"


async def lock_notification_writes(session: AsyncSession, lock: int) -> None:
    """PostgreSQL: take the write lock in the session's transaction now, before its other
    writes (held to its end; `insert_notifications` taking it again only stacks it)."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text(_write_lock(":lock")), {"lock": lock})


# PostgreSQL: the write lock, the rows and their ids in one statement, run as its own
# transaction (autocommit, notification_groups.py) or in the caller's: one round trip
# instead of four (BEGIN, lock, INSERT, COMMIT).
# The lock is taken before the first id is drawn (every row joins its one row), held to the
# commit; the rows come as one array per column (one prepared statement for any group
# size), are inserted in their order, so the ids, sorted, are in the order of `rows`.
COLUMNS = {
    "notification_type": "VARCHAR",
    "title": "VARCHAR",
    "message": "TEXT",
    "recipient_type": "VARCHAR",
    "recipient_id": "BIGINT",
    "salon_id": "BIGINT",
    "entity_type": "VARCHAR",
    "entity_id": "BIGINT",
    "priority": "VARCHAR",
    "extra_data": "TEXT",  # JSON text, cast below
}


def insert_locked_sql(lock: str, created_at: str, column: Callable[[str], str]) -> str:
    """The statement, its parameters as the driver spells them (SQLAlchemy's `:name`,
    asyncpg's `$n`): one definition for the session's path and the raw driver's."""
    return (
        f"WITH write_lock AS MATERIALIZED ({_write_lock(lock)}) "
        f"INSERT INTO notifications ({', '.join(COLUMNS)}, is_read, created_at) "
        f"SELECT {', '.join(f'r.{name}' for name in COLUMNS if name != 'extra_data')}, "
        f"CAST(r.extra_data AS JSON), false, {created_at} "
        "FROM write_lock, unnest("
        + ", ".join(f"CAST({column(name)} AS {kind}[])" for name, kind in COLUMNS.items())
        + f") WITH ORDINALITY AS r({', '.join(COLUMNS)}, ordinal) "
        "ORDER BY r.ordinal RETURNING id"
    )


INSERT_LOCKED = text(insert_locked_sql(":lock", ":created_at", lambda name: f":{name}")).bindparams(
    bindparam("created_at", type_=UTCDateTime)
)


async def _insert_locked(
    connection: AsyncConnection, lock: int, rows: list[dict[str, Any]]
) -> list[int]:
    columns: dict[str, Any] = {name: [row[name] for row in rows] for name in COLUMNS}
    columns["extra_data"] = [json.dumps(row["extra_data"]) for row in rows]
    result = await connection.execute(
        INSERT_LOCKED, {"lock": lock, "created_at": rows[0]["created_at"], **columns}
    )
    return sorted(result.scalars())


# The highest notification id committed (NULL if none): one index look-up.
NEWEST_ID = select(func.max(Notification.id))


def newest_of(rows: Sequence[Row[Any]]) -> int:
    """NEWEST_ID's answer as a number (0 if none)."""
    return int(rows[0][0] or 0)


async def notifications_after(
    session: AsyncSession, after_id: int, limit: int, *where: ColumnElement[bool]
) -> Sequence[Notification]:
    """The first `limit` notifications past `after_id` (matching `where`), in id order:
    the sequencer's catch-up and replay read the database this way."""
    query = select(Notification).where(Notification.id > after_id, *where)
    return (await session.scalars(query.order_by(Notification.id).limit(limit))).all()


# A notification's public fields, in NotificationPublic's order: a row of these is the
# public JSON's object (app/services/notification_reads.py), with no ORM entity between.
PUBLIC_FIELDS = tuple(NotificationPublic.model_fields)
PUBLIC_COLUMNS = tuple(NOTIFICATIONS.c[name] for name in PUBLIC_FIELDS)


Query = tuple[Select[Any], dict[str, Any]]  # a statement and the values to run it with


def list_query(principal: Principal, options: ListOptions) -> Query:
    """The principal's newest notifications (PUBLIC_COLUMNS), newest first."""
    filter, before_id, salon_id = options.filter, options.before_id, options.salon_id
    types, min_rank = (None, 0) if filter is None else (filter.types, filter.min_rank)
    shape = (*_shape(principal), salon_id is not None, before_id is not None, options.unread_only)
    values = _values(principal) | {"salon_filter": salon_id, "before_id": before_id}
    values["row_limit"] = options.limit
    return _list_statement(*shape, types, min_rank), values


def replay_query(
    role: str,
    user_id: int,
    admin_salon: int | None,
    salon_filter: int | None,
    types: frozenset[str] | None,
    min_rank: int,
) -> Query:
    """A stream's notifications (PUBLIC_COLUMNS) past `after_id`, oldest first, at most
    `row_limit`: the two values given for each page."""
    values = {"user_id": user_id, "admin_salon": admin_salon, "salon_filter": salon_filter}
    shape = (role, admin_salon is not None, salon_filter is not None, types, min_rank)
    return _replay_statement(*shape), values


def unread_query(principal: Principal) -> Query:
    """How many of the principal's notifications are unread (one row, one column)."""
    return _count_statement(*_shape(principal)), _values(principal)


# The reads' statements are built once per shape (which options are given, a filter's
# values), the principal's and the request's values left as bound parameters: no
# statement building per request, and SQLAlchemy's compiled cache finds each shape.
@lru_cache(maxsize=256)  # a client's filter is its own choice: the shapes are bounded
def _list_statement(
    role: str,
    in_salon: bool,
    salon_filter: bool,
    before: bool,
    unread_only: bool,
    types: frozenset[str] | None,
    min_rank: int,
) -> Select[Any]:
    query = select(*PUBLIC_COLUMNS).where(_routed(role, in_salon, salon_filter))
    query = query.where(*matching(types, min_rank))
    if before:
        query = query.where(NOTIFICATIONS.c.id < bindparam("before_id"))
    if unread_only:
        query = query.where(NOTIFICATIONS.c.is_read.is_(False))
    return query.order_by(NOTIFICATIONS.c.id.desc()).limit(bindparam("row_limit", type_=Integer))


@lru_cache(maxsize=256)  # as the lists': a client's filter makes the shape
def _replay_statement(
    role: str,
    in_salon: bool,
    salon_filter: bool,
    types: frozenset[str] | None,
    min_rank: int,
) -> Select[Any]:
    query = select(*PUBLIC_COLUMNS).where(_routed(role, in_salon, salon_filter))
    query = query.where(NOTIFICATIONS.c.id > bindparam("after_id"), *matching(types, min_rank))
    return query.order_by(NOTIFICATIONS.c.id).limit(bindparam("row_limit", type_=Integer))


@lru_cache(maxsize=8)
def _count_statement(role: str, in_salon: bool) -> Select[Any]:
    return (
        select(func.count())
        .select_from(NOTIFICATIONS)
        .where(_routed(role, in_salon, False), NOTIFICATIONS.c.is_read.is_(False))
    )


def _routed(role: str, in_salon: bool, salon_filter: bool) -> ColumnElement[bool]:
    """`routed_to`, with the principal's ids as the parameters `user_id`, `admin_salon` and
    `salon_filter` (an admin of no salon keeps None: `IS NULL`, as visible_to has it)."""
    return routed_to(
        role,
        bindparam("user_id"),
        bindparam("admin_salon") if in_salon else None,
        bindparam("salon_filter") if salon_filter else None,
    )


def _shape(principal: Principal) -> tuple[str, bool]:
    return principal.role, principal.salon_id is not None


def _values(principal: Principal) -> dict[str, Any]:
    return {"user_id": principal.user_id, "admin_salon": principal.salon_id}


class NotificationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get_for(self, principal: Principal, notification_id: int) -> Notification | None:
        query = select(Notification).where(
            Notification.id == notification_id, visible_to(principal)
        )
        return await self.session.scalar(query)

    async def mark_all_read(self, principal: Principal) -> int:
        return await self._update(
            principal,
            Notification.is_read.is_(False),
            is_read=True,
            delivered_at=func.coalesce(Notification.delivered_at, utcnow()),
        )

    async def mark_delivered(self, principal: Principal, ids: Sequence[int]) -> int:
        return await self._update(
            principal,
            Notification.id.in_(sorted(set(ids))),
            Notification.delivered_at.is_(None),
            delivered_at=utcnow(),
        )

    async def _update(
        self, principal: Principal, *where: ColumnElement[bool], **values: object
    ) -> int:
        """Change the principal's rows only; returns how many changed."""
        statement = (
            update(Notification)
            .where(visible_to(principal), *where)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        result = await self.session.execute(statement)
        return int(result.rowcount)  # type: ignore[attr-defined]
