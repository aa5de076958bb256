"""Starting the server under test on core 0: the product on a fresh database, under one of
the server stacks (STACKS), or the naive baseline; and stopping it."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from app.core.config import Settings
from benchmarks.setup_db import Accounts, Database, naive_accounts, seed

BIN = Path(sys.executable).parent
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
BROKERS = {"memory": "memory://", "redis": REDIS_URL}
SERVER_CORE, LOADGEN_CORE = "0", "1"
ROOT = Path(__file__).resolve().parent.parent
# The product's command under each server stack; `uvicorn` is what the product serves with.
STACKS = {
    "uvicorn": [str(BIN / "salon"), "serve"],  # direct streams (app.server.SalonHttpProtocol)
    "uvicorn-asgi": [sys.executable, "-m", "benchmarks.uvicorn_asgi_server"],
    "granian": [sys.executable, "-m", "benchmarks.granian_server"],
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_environ() -> dict[str, str]:
    """This shell's environment without any of the app's settings in it."""
    names = {name.upper() for name in Settings.model_fields}
    return {k: v for k, v in os.environ.items() if k.upper() not in names}


class Server:
    """One server process pinned to SERVER_CORE; `accounts` holds the ids and tokens."""

    def __init__(
        self,
        target: str,
        db: str,
        broker: str,
        ping: float,
        workdir: Path,
        accounts: tuple[int, int] = (1000, 10000),
        stack: str = "uvicorn",
        leader: Server | None = None,
        core: str = SERVER_CORE,
    ) -> None:
        """`leader`: another instance whose database, broker prefix and secret this one
        shares (it creates and drops them); `core`: the CPUs it is pinned to."""
        self.target, self.db_kind, self.broker = target, db, broker
        self.stack = "-" if target == "naive" else stack
        self.ping, self.workdir = ping, workdir
        self.counts = accounts  # admins, customers
        self.port = free_port()
        self.database: Database | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.worker: int | None = None  # the process serving, when not the one started
        self.accounts: Accounts | None = None
        self.leader, self.core = leader, core
        self.secret = secrets.token_urlsafe(32)
        self.prefix = f"bench{os.getpid()}_{self.port}"
        self.log = workdir / f"server-{target}-{self.stack}-{db}-{broker}-{self.port}.log"

    @property
    def label(self) -> str:
        if self.target == "naive":
            return "naive"
        return f"{self.stack} {self.db_kind}+{self.broker}"

    def start(self) -> None:
        env = clean_environ()
        env["SSE_PING_INTERVAL"] = str(self.ping)
        if self.target == "naive":
            self.accounts = naive_accounts(*self.counts)
            command = [sys.executable, "-m", "benchmarks.naive_app", "--port", str(self.port)]
            ready = "/healthz"
        else:
            database_url = self._database_url()
            env.update(
                DATABASE_URL=database_url,
                BROKER_URL=BROKERS[self.broker],
                BROKER_PREFIX=self.prefix,
                SECRET_KEY=self.secret,
                FIRST_SUPERADMIN_EMAIL="root@bench.example.com",
                FIRST_SUPERADMIN_PASSWORD="bench-root-password",
                LOG_LEVEL="warning",
                SSE_MAX_PENDING_EVENTS="100000",
                SSE_DRAIN_SECONDS="0",
                # S2 opens 1,000 admin streams of one salon (and again after a saturated phase).
                LIMIT_STREAMS_PER_SALON="5000",
                # Full garbage collections come every 300 s by default, so never within a
                # phase: every 20 s here, so that their pauses are measured with the rest.
                GC_FULL_COLLECT_INTERVAL="20",
            )
            # This checkout's code, whichever the environment has installed.
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
            command = [*STACKS[self.stack], "--port", str(self.port)]
            ready = "/readyz"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                ["taskset", "-c", self.core, *command],
                cwd=self.workdir if self.target != "naive" else ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self._wait_ready(ready)
        if self.stack == "granian":
            self.worker = self._only_child()

    def _database_url(self) -> str:
        """A fresh database, seeded; or the leader's, with its accounts and secrets."""
        if self.leader is not None:
            assert self.leader.database is not None
            self.accounts, self.secret = self.leader.accounts, self.leader.secret
            self.prefix = self.leader.prefix
            return self.leader.database.url
        self.database = Database(self.db_kind, self.workdir, f"{self.broker}_{self.port}")
        self.database.create()
        self.accounts = seed(self.database.url, self.secret, *self.counts)
        return self.database.url

    @property
    def pid(self) -> int:
        """The process that serves, which the load generator measures (CPU, memory)."""
        assert self.process is not None
        return self.worker or self.process.pid

    def _only_child(self) -> int:
        """Granian's worker: its supervisor is the process started, and idles."""
        pid = self.pid
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        if len(children) != 1:
            raise RuntimeError(f"expected one worker under {pid}, found {children}")
        return int(children[0])

    def _wait_ready(self, path: str, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        url = f"http://127.0.0.1:{self.port}{path}"
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"server exited: see {self.log}\n{self.log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"server not ready after {timeout} s: see {self.log}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                if self.worker is not None:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(self.worker, signal.SIGKILL)
                self.process.kill()
                self.process.wait()
        if self.database is not None:
            self.database.drop()
