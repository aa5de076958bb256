"""A private redis-server for one test: killed, frozen and restarted at will.

Tests that break Redis must never touch the machine's Redis on 6379, which other tests
share. This one listens on a free port of 127.0.0.1, keeps nothing on disk and runs as
a child of the test. A missing `redis-server` is an error, never a skip.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from tests.utils.server import free_port

# The machine's shared Redis, for tests that only use it (never break it).
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


class RedisServerError(RuntimeError):
    """redis-server is missing, or did not answer in time."""


def redis_server_binary() -> str:
    path = os.environ.get("TEST_REDIS_SERVER") or shutil.which("redis-server")
    if path is None:
        raise RedisServerError(
            "redis-server is not installed (apt-get install redis-server); the Redis outage "
            "tests start a private one"
        )
    return path


class RedisServer:
    """`redis-server --port P` in the foreground; the port stays the same across restarts."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.log_path = self.workdir / "redis.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def start(self, timeout: float = 10.0) -> RedisServer:
        """Spawn it and return once it answers PING (raise otherwise)."""
        if self.running:
            raise RedisServerError(f"redis-server on {self.port} is already running")
        command = [
            redis_server_binary(),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--dir",
            str(self.workdir),
        ]
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RedisServerError(
                    f"redis-server exited with {self.proc.returncode}:\n{self.log_text()[-2000:]}"
                )
            if self.ping():
                return self
            time.sleep(0.05)
        self.kill()
        raise RedisServerError(f"redis-server did not answer PING within {timeout}s")

    def ping(self, timeout: float = 0.5) -> bool:
        try:
            return self.command("PING", timeout=timeout) == b"+PONG"
        except OSError:
            return False

    def command(self, *args: str, timeout: float = 2.0) -> bytes:
        """One command in RESP; the first line of the reply (enough for PING, PUBLISH...)."""
        payload = f"*{len(args)}\r\n".encode()
        for arg in args:
            data = arg.encode()
            payload += b"$%d\r\n%s\r\n" % (len(data), data)
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as sock:
            sock.sendall(payload)
            reply = b""
            while not reply.endswith(b"\r\n"):
                chunk = sock.recv(4096)
                if not chunk:
                    break
                reply += chunk
        return reply.split(b"\r\n", 1)[0]

    def numsub(self, channel: str) -> int:
        """How many connections are subscribed to `channel` (PUBSUB NUMSUB)."""
        payload = f"*3\r\n$6\r\nPUBSUB\r\n$6\r\nNUMSUB\r\n${len(channel)}\r\n{channel}\r\n"
        with socket.create_connection(("127.0.0.1", self.port), timeout=2.0) as sock:
            sock.sendall(payload.encode())
            reply = b""
            # *2 $len channel :count
            while reply.count(b"\r\n") < 4:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                reply += chunk
        lines = reply.split(b"\r\n")
        if not lines[0].startswith(b"*2") or not lines[3].startswith(b":"):
            raise RedisServerError(f"unexpected PUBSUB NUMSUB reply {reply!r}")
        return int(lines[3][1:])

    def kill(self) -> None:
        """SIGKILL: Redis is gone at once, as in a crash (its memory with it)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
        if self.proc is not None:
            self.proc.wait(10)

    def freeze(self) -> None:
        """SIGSTOP: the port still accepts connections but nothing answers (a partition)."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)

    def stop(self) -> None:
        """SIGCONT (in case it is frozen), SIGTERM, then SIGKILL after a few seconds."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        self.thaw()
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            self.kill()
