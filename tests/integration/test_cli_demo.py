"""The command line as a newcomer meets it: `--help`, then `serve --demo` on an empty database.

The demo server runs in a fresh working directory with none of the test
environment's settings, so it uses the defaults: a SQLite file and a secret
kept in that directory.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from tests.utils.server import ServerProcess
from tests.utils.sse import open_stream
from tests.utils.tokens import decode_unverified

ADMIN_STREAM = "/api/v1/notifications/stream"
JWT = re.compile(r"eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+")
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


class DemoServer(ServerProcess):
    """`python -m app.cli serve --demo` with only default settings, in `workdir`."""

    def __init__(self, workdir: Path) -> None:
        super().__init__({}, workdir=workdir)
        self.log_offset = len(self.log_text())

    def command(self) -> list[str]:
        return [*super().command(), "--demo"]

    def database_files(self) -> list[Path]:
        return list(self.workdir.glob("*.db"))

    def output(self) -> str:
        """What this run printed (the log file is shared with earlier runs in the directory)."""
        return self.log_text()[self.log_offset :]


def claims(token: str) -> dict[str, Any]:
    return decode_unverified(token)[1]


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def wait_printed(demo: DemoServer, text: str) -> str:
    """The demo's output once it contains `text` (the banner may follow start-up)."""
    deadline = time.monotonic() + 10
    while text not in (output := demo.output()):
        assert time.monotonic() < deadline, f"{text!r} never printed:\n{output}"
        await asyncio.sleep(0.1)
    return output


async def login_printed(client: httpx.AsyncClient, output: str, email: str) -> str:
    """Log in with `email` and a password printed on the same line."""
    line = next(line for line in output.splitlines() if email in line)
    words = re.split(r"[\s,;|]+", line.replace(email, " "))
    candidates = [w.strip("'\"()[]`:/=") for w in words]
    for password in dict.fromkeys(c for c in candidates if len(c) >= 8):
        response = await client.post(
            "/api/v1/auth/login", data={"username": email, "password": password}
        )
        if response.status_code == 200:
            return str(response.json()["access_token"])
    raise AssertionError(f"no password printed beside {email} logs in: {line!r}")


def test_help_lists_serve_and_create_superadmin(tmp_path: Path) -> None:
    env = ServerProcess({}, workdir=tmp_path).env
    env["COLUMNS"] = "200"
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "--help"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert re.search(r"\bserve\b", result.stdout), result.stdout
    assert "create-superadmin" in result.stdout, result.stdout


async def test_demo_prints_logins_tokens_and_curl_and_is_not_duplicated_on_restart(
    tmp_path: Path,
) -> None:
    demo = DemoServer(tmp_path)
    try:
        await demo.astart(timeout=30)
        output = await wait_printed(demo, "curl")
        async with httpx.AsyncClient(base_url=demo.base_url, timeout=10) as client:
            tokens = {claims(t)["role"]: t for t in JWT.findall(output)}
            assert {"admin", "customer"} <= tokens.keys(), f"tokens printed:\n{output}"

            curl = [line for line in output.splitlines() if "curl" in line]
            assert any(ADMIN_STREAM in line and f":{demo.port}/" in line for line in curl), (
                f"no curl line for this server's stream:\n{output}"
            )

            roles = set()
            for email in dict.fromkeys(EMAIL.findall(output)):
                roles.add(claims(await login_printed(client, output, email))["role"])
            assert {"admin", "customer"} <= roles, f"logins printed:\n{output}"

            admin_token = tokens["admin"]
            response = await client.get("/api/v1/salons", headers=auth(admin_token))
            assert response.status_code == 200, response.text
            salons = response.json()
            assert len(salons) == 1, salons
            async with open_stream(client, ADMIN_STREAM, token=admin_token) as stream:
                assert stream.status_code == 200, stream.text
                connected = await stream.next_event(timeout=5.0)
                assert connected.event == "connected"
                assert connected.json()["salon_id"] == salons[0]["id"]
                assert connected.json()["user_id"] == int(claims(admin_token)["sub"])
    finally:
        await demo.astop()

    assert demo.database_files(), "the default database is a SQLite file in the cwd"

    again = DemoServer(tmp_path)
    try:
        await again.astart(timeout=30)
        async with httpx.AsyncClient(base_url=again.base_url, timeout=10) as client:
            response = await client.get("/api/v1/salons", headers=auth(admin_token))
            assert response.status_code == 200, response.text
            assert response.json() == salons, "--demo on a filled database must not add a salon"
    finally:
        await again.astop()
