"""The command line as a newcomer meets it: `--help`, then `serve --demo` on an empty database.

The demo server runs in a fresh working directory with none of the test
environment's settings, so it uses the defaults: a SQLite file and a secret
kept in that directory.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.utils.server import free_port
from tests.utils.sse import open_stream

ADMIN_STREAM = "/api/v1/notifications/stream"
JWT = re.compile(r"eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+")
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
SETTINGS = (
    "DATABASE_URL",
    "BROKER_URL",
    "SECRET_KEY",
    "FIRST_SUPERADMIN_EMAIL",
    "FIRST_SUPERADMIN_PASSWORD",
    "SSE_PING_INTERVAL",
    "SSE_RETRY_MS",
    "ACCESS_TOKEN_EXPIRE_MINUTES",
)


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS}
    env["PYTHONUNBUFFERED"] = "1"
    env["COLUMNS"] = "200"
    return env


def claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


@dataclass
class Demo:
    process: asyncio.subprocess.Process
    base_url: str
    lines: list[str] = field(default_factory=list)

    @property
    def output(self) -> str:
        return "".join(self.lines)


@asynccontextmanager
async def demo_server(cwd: Path, banner: bool = True) -> AsyncIterator[Demo]:
    """Run `serve --demo` until it answers /healthz (and, with banner, printed a curl line)."""
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app.cli",
        "serve",
        "--demo",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        cwd=cwd,
        env=clean_env(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    demo = Demo(process, f"http://127.0.0.1:{port}")

    async def drain() -> None:
        assert process.stdout is not None
        async for line in process.stdout:
            demo.lines.append(line.decode(errors="replace"))

    reader = asyncio.create_task(drain())
    try:
        deadline = time.monotonic() + 30
        async with httpx.AsyncClient(base_url=demo.base_url, timeout=2.0) as probe:
            while True:
                assert process.returncode is None, f"server exited:\n{demo.output}"
                try:
                    healthy = (await probe.get("/healthz")).status_code == 200
                except httpx.TransportError:
                    healthy = False
                if healthy and (not banner or "curl" in demo.output):
                    break
                assert time.monotonic() < deadline, f"demo server not ready:\n{demo.output}"
                await asyncio.sleep(0.1)
        yield demo
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()
        await asyncio.wait_for(reader, 5)


def printed_tokens(output: str) -> dict[str, str]:
    """Tokens printed by the demo, by role."""
    return {claims(token)["role"]: token for token in JWT.findall(output)}


async def login_printed(client: httpx.AsyncClient, output: str, email: str) -> str:
    """Log in with `email` and a password printed on the same line."""
    line = next(line for line in output.splitlines() if email in line)
    words = re.split(r"[\s,;|]+|(?<=:)", line.replace(email, " "))
    candidates = [w.strip("'\"()[]`:/") for w in words]
    for password in dict.fromkeys(c for c in candidates if len(c) >= 8):
        response = await client.post(
            "/api/v1/auth/login", data={"username": email, "password": password}
        )
        if response.status_code == 200:
            return response.json()["access_token"]
    raise AssertionError(f"no password printed with {email} logs in: {line!r}")


def test_help_lists_serve_and_create_superadmin(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "--help"],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert re.search(r"\bserve\b", result.stdout), result.stdout
    assert "create-superadmin" in result.stdout, result.stdout


async def test_demo_prints_logins_tokens_and_curl_and_does_not_duplicate_on_restart(
    tmp_path: Path,
) -> None:
    async with demo_server(tmp_path) as demo, httpx.AsyncClient(base_url=demo.base_url) as client:
        output = demo.output
        tokens = printed_tokens(output)
        assert {"admin", "customer"} <= tokens.keys(), f"tokens printed:\n{output}"

        curl = [line for line in output.splitlines() if "curl" in line]
        assert any(ADMIN_STREAM in line for line in curl), f"no curl line for the stream:\n{output}"

        emails = list(dict.fromkeys(EMAIL.findall(output)))
        roles = set()
        for email in emails:
            token = await login_printed(client, output, email)
            roles.add(claims(token)["role"])
        assert {"admin", "customer"} <= roles, f"logins printed:\n{output}"

        admin_token = tokens["admin"]
        salons = (await client.get("/api/v1/salons", headers=auth(admin_token))).json()
        assert len(salons) == 1, salons
        async with open_stream(client, ADMIN_STREAM, token=admin_token) as stream:
            assert stream.response.status_code == 200
            connected = await stream.next_event(timeout=5.0)
            assert connected.event == "connected"
            assert connected.json()["salon_id"] == salons[0]["id"]
            assert connected.json()["user_id"] == int(claims(admin_token)["sub"])

    assert (tmp_path / "salon.db").exists(), "the default database is a file in the cwd"

    async with (
        demo_server(tmp_path, banner=False) as again,
        httpx.AsyncClient(base_url=again.base_url) as client,
    ):
        response = await client.get("/api/v1/salons", headers=auth(admin_token))
        assert response.status_code == 200, response.text
        assert response.json() == salons, "--demo on a filled database must not add a salon"


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
