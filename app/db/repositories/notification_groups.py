"""The writer's grouped insert beneath SQLAlchemy's session: a group's rows, its transaction
and its ids in the fewest thread hops and round trips each backend allows.

Profiled (S4, one client posting), the session path cost a single POST more than all the
rest of it: on SQLite a thread hop per step (aiosqlite: BEGIN, INSERT, fetch, COMMIT, the
pool's reset), with the session, the pool checkout and statement compilation around them;
on PostgreSQL the session and SQLAlchemy's statement machinery around one round trip.
Same statements, same locks, same commit before the answer: a 201 still means committed.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from functools import cache
from typing import Any, Protocol

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.repositories.notifications import COLUMNS, NOTIFICATIONS, insert_locked_sql
from app.db.session import SQLITE_BUSY_TIMEOUT, sqlite_pragmas

Row = tuple[Any, ...]  # a notification's values, in the order of COLUMNS
EXTRA_DATA = list(COLUMNS).index("extra_data")


class GroupInsert(Protocol):
    async def insert(self, rows: Sequence[Row], created_at: datetime, lock: int) -> list[int]:
        """Insert `rows` and commit, under the write lock; their ids, in the order of rows."""

    async def close(self) -> None:
        """Let go of what it holds (a thread, a connection)."""


def group_insert_for(engine: AsyncEngine) -> GroupInsert:
    if engine.dialect.name == "postgresql":
        return PostgresGroupInsert(engine)
    return SqliteGroupInsert(engine)


# asyncpg's own parameters: $1 the lock, $2 the creation time, then one array per column.
_POSITION = {name: f"${3 + index}" for index, name in enumerate(COLUMNS)}
PG_INSERT_LOCKED = insert_locked_sql("$1", "$2", _POSITION.__getitem__)


class PostgresGroupInsert:
    """The one-statement locked insert (lock, rows, ids, autocommit: one round trip) sent by
    asyncpg itself on a connection of the engine's pool, prepared once per connection by
    asyncpg's statement cache. No transaction is begun, so the pool's reset has nothing
    to roll back."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def insert(self, rows: Sequence[Row], created_at: datetime, lock: int) -> list[int]:
        columns = [list(values) for values in zip(*rows, strict=True)]
        columns[EXTRA_DATA] = [json.dumps(value) for value in columns[EXTRA_DATA]]
        async with self.engine.connect() as connection:
            driver = (await connection.get_raw_connection()).driver_connection
            assert driver is not None
            try:
                records = await driver.fetch(PG_INSERT_LOCKED, lock, created_at, *columns)
            except asyncpg.PostgresError:
                raise  # the server's refusal: the connection is as good as before
            except Exception:
                # Lost, or in an unknown state (a database restart?): so are its siblings,
                # likely. Replace the pool, as SQLAlchemy does on a disconnect, so that one
                # request fails, not one per pooled connection.
                await connection.invalidate()
                await self.engine.dispose(close=False)
                raise
            except BaseException:
                await connection.invalidate()  # cancelled mid-statement: the pool opens another
                raise
        return sorted(record[0] for record in records)

    async def close(self) -> None:
        """Nothing of its own: the connections are the pool's."""


# Rows per INSERT statement: 11 parameters each, far below SQLite's limit of 32,766.
SQLITE_ROWS_PER_INSERT = 500


@cache
def _sqlite_insert(rows: int) -> str:
    values = "(" + ", ".join("?" * (len(COLUMNS) + 1)) + ", 0)"  # ..., created_at, is_read
    return (
        f"INSERT INTO notifications ({', '.join(COLUMNS)}, created_at, is_read) "
        f"VALUES {', '.join([values] * rows)} RETURNING id"
    )


class SqliteGroupInsert:
    """The group's whole transaction (BEGIN IMMEDIATE, INSERT ... RETURNING id per 500 rows,
    COMMIT) as one call on a thread of its own with a connection of its own (the same file,
    pragmas and busy timeout as the pool's): one thread hop per group. SQLite can't promise
    the order RETURNING gives: the ids are sorted, which is right because the transaction
    holds SQLite's one write lock and AUTOINCREMENT numbers rows in the order inserted.
    Values are bound by the columns' own SQLAlchemy types, so rows read back alike."""

    def __init__(self, engine: AsyncEngine) -> None:
        if engine.url.database in (None, "", ":memory:"):
            raise ValueError(f"{engine.url!r}: the writer needs an SQLite file")
        self.path = engine.url.database
        dialect = engine.dialect
        self._stamp = NOTIFICATIONS.c.created_at.type.dialect_impl(dialect).bind_processor(dialect)
        self._json = NOTIFICATIONS.c.extra_data.type.dialect_impl(dialect).bind_processor(dialect)
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer")  # started lazily
        self._db: sqlite3.Connection | None = None  # opened on that thread, on first use

    async def insert(self, rows: Sequence[Row], created_at: datetime, lock: int) -> list[int]:
        assert self._stamp is not None and self._json is not None
        stamp, to_json = self._stamp(created_at), self._json
        values = [
            (*row[:EXTRA_DATA], to_json(row[EXTRA_DATA]), *row[EXTRA_DATA + 1 :], stamp)
            for row in rows
        ]
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, self._transaction, values)

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._thread, self._disconnect)
        self._thread.shutdown()  # idle by now: returns at once

    def _transaction(self, values: list[Row]) -> list[int]:
        """On the writer's thread."""
        db = self._db or self._connect()
        ids: list[int] = []
        db.execute("BEGIN IMMEDIATE")
        try:
            for start in range(0, len(values), SQLITE_ROWS_PER_INSERT):
                chunk = values[start : start + SQLITE_ROWS_PER_INSERT]
                flat = [value for row in chunk for value in row]
                ids += [id_ for (id_,) in db.execute(_sqlite_insert(len(chunk)), flat)]
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        return sorted(ids)

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: no implicit BEGIN; the transaction is ours to begin and end.
        db = sqlite3.connect(self.path, timeout=SQLITE_BUSY_TIMEOUT, isolation_level=None)
        sqlite_pragmas(db, None)
        self._db = db
        return db

    def _disconnect(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
