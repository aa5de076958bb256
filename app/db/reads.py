"""Running one read statement at the least cost per request, on either database.

PostgreSQL: a pooled async connection in autocommit, so the statement costs no BEGIN and
ROLLBACK round trips around it. SQLite: aiosqlite crosses to its thread and back for each
step of a statement (cursor, execute, fetch, close, rollback: five hops, most of a short
read's CPU), so the whole read, rows turned into their answer included, runs in one call
to a worker thread, on a pysqlite engine of its own over the same file (WAL: readers see
every commit and don't wait on writers).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy import Engine, Executable, Row, create_engine, event
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.session import SQLITE_BUSY_TIMEOUT, sqlite_pragmas

T = TypeVar("T")
Finish = Callable[[Sequence[Row[Any]]], T]
SQLITE_READ_THREADS = 2  # reads are short and hold the GIL most of the time: a few suffice


class Reads:
    """Runs read statements on `engine`'s database; `stop()` releases what it opened."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._sqlite: Engine | None = None
        self._threads: ThreadPoolExecutor | None = None
        database = engine.url.database
        if engine.dialect.name == "sqlite" and database not in (None, "", ":memory:"):
            # A private in-memory database would be another database: those stay async.
            self._sqlite = create_engine(
                engine.url.set(drivername="sqlite+pysqlite"),
                connect_args={"timeout": SQLITE_BUSY_TIMEOUT, "check_same_thread": False},
                pool_size=SQLITE_READ_THREADS,
                hide_parameters=True,
            )
            event.listen(self._sqlite, "connect", sqlite_pragmas)  # as every SQLite connection
            self._threads = ThreadPoolExecutor(SQLITE_READ_THREADS, "sqlite-reads")

    async def run(self, statement: Executable, values: Mapping[str, Any], finish: Finish[T]) -> T:
        """`finish(rows)` of the statement run with `values`."""
        if self._sqlite is not None:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(
                self._threads, _run_sync, self._sqlite, statement, values, finish
            )
        async with self.engine.connect() as connection:
            if self.engine.dialect.name == "postgresql":
                await connection.execution_options(isolation_level="AUTOCOMMIT")
            return finish((await connection.execute(statement, values)).all())

    async def stop(self) -> None:
        if self._threads is not None:
            self._threads.shutdown(wait=True)
        if self._sqlite is not None:
            self._sqlite.dispose()


def _run_sync(
    engine: Engine, statement: Executable, values: Mapping[str, Any], finish: Finish[T]
) -> T:
    with engine.connect() as connection:
        return finish(connection.execute(statement, values).all())
