"""Fixtures: one real server per database backend for the whole session, and clients on it.

Every test that uses `server` (directly or through `client`/`api`) runs once per backend.
The backend is a session-scoped parameter, so pytest runs all the sqlite tests, then all
the postgres tests, starting each session server once. TEST_BACKENDS=sqlite (comma
separated) narrows a local run; CI runs both and fails if PostgreSQL is missing.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.utils.db import BACKENDS, fresh_database_url
from tests.utils.factories import Api
from tests.utils.redis_server import RedisServer
from tests.utils.server import ServerProcess, fresh_server, server_env


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A skipped test fails: nothing here may skip (a skip counted as passing hides a
    missing service or a test that never ran). Expected failures (xfail) are pytest's."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped, and no test may skip: {report.longrepr}"


def _selected_backends() -> list[str]:
    names = [b.strip() for b in os.environ.get("TEST_BACKENDS", ",".join(BACKENDS)).split(",")]
    unknown = sorted(set(names) - set(BACKENDS))
    if unknown or not names:
        raise pytest.UsageError(f"TEST_BACKENDS: unknown {unknown}; choose from {BACKENDS}")
    return names


@pytest.fixture(scope="session", params=_selected_backends())
def backend(request: pytest.FixtureRequest) -> str:
    """The database kind the servers of this part of the session use."""
    return str(request.param)


@pytest.fixture(scope="session")
def server(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """The session's server on a fresh database of `backend`; exposes `secret_key`.

    Its database starts empty: `salon serve` migrates it from nothing, on each backend (the
    other servers start on copies of a migrated template, where the migration is a no-op)."""
    workdir = tmp_path_factory.mktemp(f"server-{backend}")
    with fresh_server(backend, workdir, migrated=False) as process:
        yield process


class ServerFactory:
    """Starts extra servers of one backend, and stops them (dropping their databases) on
    `close`: see `server_factory`."""

    def __init__(self, backend: str, server: ServerProcess, root: Path) -> None:
        self.backend, self.server, self.root = backend, server, root
        self.started: list[ServerProcess] = []
        self.cleanups: list[Callable[[], None]] = []

    def __call__(
        self,
        env: dict[str, str | None] | None = None,
        *,
        share_database: bool = False,
        start: bool = True,
    ) -> ServerProcess:
        workdir = self.root / f"server-{len(self.started)}"
        workdir.mkdir()
        if share_database:
            settings: dict[str, str | None] = dict(self.server.overrides)
        else:
            database_url, cleanup = fresh_database_url(self.backend, workdir)
            self.cleanups.append(cleanup)
            settings = dict(server_env(database_url))
        settings.update(env or {})
        process = ServerProcess(settings, workdir=workdir, backend=self.backend)
        self.started.append(process)
        return process.start() if start else process

    def close(self) -> None:
        try:
            for process in reversed(self.started):
                process.stop()
        finally:
            for cleanup in self.cleanups:
                cleanup()


@pytest.fixture
def server_factory(backend: str, server: ServerProcess, tmp_path: Path) -> Iterator[ServerFactory]:
    """Start extra servers: `server_factory({"SSE_PING_INTERVAL": "0.2"})`.

    Each gets a fresh database of the current backend and its own secret, unless
    `share_database=True`, which reuses the session server's database, secret and first
    superadmin (tokens then work on both). `start=False` returns it unstarted. All are
    stopped, and their databases dropped, when the test ends. Starting blocks for a
    second or two; from an async test that is harmless, or use `await srv.astart()`.
    """
    factory = ServerFactory(backend, server, tmp_path)
    try:
        yield factory
    finally:
        factory.close()


@pytest.fixture(scope="module")
def module_server_factory(
    backend: str, server: ServerProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerFactory]:
    """`server_factory` for a module's own servers, shared by its tests and stopped after
    its last: for tests that need settings (or a log, or figures) apart from the session
    server's, but not a server each. Its tests must leave the server as they found it."""
    factory = ServerFactory(backend, server, tmp_path_factory.mktemp(f"module-{backend}"))
    try:
        yield factory
    finally:
        factory.close()


@pytest.fixture
async def client(server: ServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
        yield http


@pytest.fixture
async def api(client: httpx.AsyncClient, server: ServerProcess) -> Api:
    api = Api(client, server)
    await api.ensure_superadmin()
    return api


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis of the test's own, to kill, freeze or restart (the machine's is shared)."""
    redis = RedisServer(tmp_path / "redis").start()
    try:
        yield redis
    finally:
        redis.stop()
