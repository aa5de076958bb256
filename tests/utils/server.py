"""The real server, run as a subprocess on a free port, as a client would meet it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx

from app.core.config import Settings
from tests.utils.db import fresh_database_url

REPO_ROOT = Path(__file__).resolve().parents[2]

# Settings the app reads: never inherited from the developer's shell, only set explicitly.
APP_SETTINGS = tuple(name.upper() for name in Settings.model_fields)
ADDRESS_IN_USE = ("address already in use", "errno 98", "address in use")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(database_url: str, **overrides: str) -> dict[str, str]:
    """The settings of a test server: its own database, key and first superadmin."""
    token = secrets.token_hex(6)
    env = {
        "DATABASE_URL": database_url,
        "BROKER_URL": "memory://",
        "SECRET_KEY": "test-secret-" + secrets.token_hex(16),
        "FIRST_SUPERADMIN_EMAIL": f"root-{token}@example.com",
        "FIRST_SUPERADMIN_PASSWORD": "root-pass-" + token,
        "SSE_PING_INTERVAL": "1",
        "SSE_DRAIN_SECONDS": "0.3",  # stops stay quick; drain itself is tested on its own
        "LOG_LEVEL": "info",
        # Tests poll the stats in tight loops; the limits are tested in test_limits.py.
        "LIMIT_STATS_REQUESTS": "0",
        # Every test signs up and in from 127.0.0.1; the address throttles are tested in
        # test_auth_throttles.py (the per-account one stays on: accounts are each test's own).
        "LIMIT_REGISTRATIONS_PER_ADDRESS": "0",
        "LIMIT_LOGIN_FAILURES_PER_ADDRESS": "0",
    }
    env.update(overrides)
    return env


class ServerStartError(RuntimeError):
    """The server process exited or did not answer /healthz in time."""


class ServerProcess:
    """`python -m app.cli serve` on a free port; output goes to a log file in its work dir."""

    def __init__(
        self,
        env: Mapping[str, str | None] | None = None,
        *,
        port: int | None = None,
        workdir: Path | str | None = None,
        host: str = "127.0.0.1",
        backend: str | None = None,
    ) -> None:
        self.host = host
        self.port = port or free_port()
        self._fixed_port = port is not None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="salon-server-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.backend = backend
        self.log_path = self.workdir / "server.log"
        self.overrides: dict[str, str] = {k: v for k, v in (env or {}).items() if v is not None}
        self.env = self._build_env(env or {})
        self.proc: subprocess.Popen[bytes] | None = None
        self.cache: dict[str, Any] = {}  # per-server memo for fixtures (e.g. superadmin token)

    # ------------------------------------------------------------------ facts

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def secret_key(self) -> str:
        return self.env["SECRET_KEY"]

    @property
    def database_url(self) -> str:
        return self.env["DATABASE_URL"]

    @property
    def superadmin_email(self) -> str:
        return self.env["FIRST_SUPERADMIN_EMAIL"]

    @property
    def superadmin_password(self) -> str:
        return self.env["FIRST_SUPERADMIN_PASSWORD"]

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<ServerProcess {self.backend or ''} {self.base_url} pid={self.pid} {state}>"

    # ------------------------------------------------------------------ lifecycle

    def command(self) -> list[str]:
        return [sys.executable, "-m", "app.cli", "serve", "--host", self.host]

    def start(self, timeout: float = 20.0) -> ServerProcess:
        """Spawn the server and return once GET /healthz answers 200 (raise otherwise)."""
        if self.running:
            raise ServerStartError(f"{self!r} is already running")
        attempts = 1 if self._fixed_port else 3
        for attempt in range(attempts):
            self._spawn()
            try:
                self._wait_healthy(timeout)
                self._fixed_port = True  # a restart keeps the address clients know
                return self
            except ServerStartError:
                log = self.log_text().lower()
                port_taken = any(marker in log for marker in ADDRESS_IN_USE)
                self.kill()
                if not port_taken or attempt == attempts - 1:
                    raise
                self.port = free_port()  # lost a race for the port: try another one
        raise AssertionError("unreachable")

    async def astart(self, timeout: float = 20.0) -> ServerProcess:
        """`start` without blocking the event loop of an async test."""
        return await asyncio.to_thread(self.start, timeout)

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, wait up to `timeout`, then SIGKILL. Returns the exit code."""
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            try:
                proc.send_signal(signal.SIGTERM)
                return proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._write_marker(f"did not stop within {timeout}s of SIGTERM: SIGKILL")
        return self.kill()

    async def astop(self, timeout: float = 10.0) -> int | None:
        return await asyncio.to_thread(self.stop, timeout)

    def kill(self) -> int | None:
        """SIGKILL the process (a crash, as far as clients can tell)."""
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            proc.kill()
        try:
            return proc.wait(10)
        except subprocess.TimeoutExpired as exc:  # pragma: no cover - the kernel did not reap it
            raise RuntimeError(f"{self!r} survived SIGKILL") from exc

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ internals

    def _build_env(self, overrides: Mapping[str, str | None]) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in APP_SETTINGS}
        pythonpath = [str(REPO_ROOT), *filter(None, [env.get("PYTHONPATH")])]
        env["PYTHONPATH"] = os.pathsep.join(pythonpath)
        env["PYTHONUNBUFFERED"] = "1"
        for key, value in overrides.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = str(value)
        return env

    def _spawn(self) -> None:
        self._write_marker(f"starting on port {self.port}")
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [*self.command(), "--port", str(self.port)],
                cwd=self.workdir,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C in the terminal is the test run's, not its
            )

    def _write_marker(self, text: str) -> None:
        with self.log_path.open("a") as log:
            log.write(f"\n===== [tests] {time.strftime('%H:%M:%S')} {text}\n")

    def _wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last_error = "no answer yet"
        with httpx.Client(base_url=self.base_url, timeout=1.0) as client:
            while time.monotonic() < deadline:
                assert self.proc is not None
                if self.proc.poll() is not None:
                    raise ServerStartError(
                        f"server exited with code {self.proc.returncode} before answering "
                        f"/healthz; log {self.log_path}:\n{self.log_tail()}"
                    )
                try:
                    response = client.get("/healthz")
                    if response.status_code == 200:
                        return
                    last_error = f"/healthz answered {response.status_code}: {response.text[:200]}"
                except httpx.TransportError as exc:
                    last_error = repr(exc)
                time.sleep(0.1)
        raise ServerStartError(
            f"server did not answer /healthz within {timeout}s ({last_error}); "
            f"log {self.log_path}:\n{self.log_tail()}"
        )


@contextlib.contextmanager
def fresh_server(
    backend: str, workdir: Path, *, migrated: bool = True, **overrides: str
) -> Iterator[ServerProcess]:
    """A started server on a fresh database of `backend` (migrated from the run's template,
    or empty with `migrated=False`: the server's own start-up migration then builds it);
    stopped and the database dropped on exit, whatever happens."""
    database_url, drop_database = fresh_database_url(backend, workdir, migrated=migrated)
    process = ServerProcess(server_env(database_url, **overrides), workdir=workdir, backend=backend)
    try:
        process.start()
        yield process
    finally:
        try:
            process.stop()
        finally:
            drop_database()
