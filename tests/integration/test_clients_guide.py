"""docs/clients.md's Python and curl examples, run as written against a real server.

Each runs in a subprocess of its own (the Python generator never ends by itself, and curl -N
neither): the test reads its output with deadlines and ends it. The browser examples are in
tests/e2e/test_clients_guide_browser.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from tests.utils.factories import API, Account, Api, connect
from tests.utils.guide import guide_block
from tests.utils.server import ServerProcess
from tests.utils.stats import wait_for_stats

# Runs the guide's generator and prints what it yields, one JSON line each; every call of
# get_token (a fresh login) is announced too.
PYTHON_DRIVER = """
import json, os, sys
import httpx

{guide}

def get_token():
    print(json.dumps({{"get_token": True}}), flush=True)
    form = {{"username": os.environ["EMAIL"], "password": os.environ["PASSWORD"]}}
    response = httpx.post(os.environ["BASE"] + "/api/v1/auth/login", data=form, timeout=10)
    return response.raise_for_status().json()["access_token"]

for notification in follow_notifications(os.environ["BASE"], get_token):
    print(json.dumps(notification), flush=True)
"""


class Process:
    """A subprocess whose stdout lines are read with deadlines."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[str] = []

    async def read_until(self, wanted: Callable[[str], bool], timeout: float = 10.0) -> str:
        assert self.proc.stdout is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            remaining = deadline - loop.time()
            try:
                raw = await asyncio.wait_for(self.proc.stdout.readline(), max(remaining, 0.01))
            except TimeoutError:
                raise AssertionError(
                    f"no wanted line within {timeout}s; got {self.lines}"
                ) from None
            if not raw:
                stderr = await self._stderr()
                raise AssertionError(f"the process ended; stdout {self.lines}; stderr {stderr}")
            line = raw.decode().rstrip("\n")
            self.lines.append(line)
            if wanted(line):
                return line

    async def _stderr(self) -> str:
        assert self.proc.stderr is not None
        with contextlib.suppress(TimeoutError):
            return (await asyncio.wait_for(self.proc.stderr.read(), 2)).decode()[-2000:]
        return ""


@contextlib.asynccontextmanager
async def run(argv: list[str], env: dict[str, str], cwd: Path) -> AsyncIterator[Process]:
    proc = await asyncio.create_subprocess_exec(
        *argv,
        env={**os.environ, **env},
        cwd=cwd,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,  # so the whole group (bash and its curls) can be ended
    )
    try:
        yield Process(proc)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await asyncio.wait_for(proc.wait(), 10)


async def wait_streaming(api: Api, admin: Account, timeout: float = 10.0) -> None:
    """Until the stats show the admin's stream open (the examples print nothing before)."""
    await wait_for_stats(api, lambda stats: [admin.salon_id, admin.id] in stats["admins"], timeout)


def is_notification(notification_id: int) -> Callable[[str], bool]:
    def wanted(line: str) -> bool:
        with contextlib.suppress(ValueError):
            data = json.loads(line.removeprefix("data:").strip())
            return isinstance(data, dict) and data.get("id") == notification_id
        return False

    return wanted


def python_example(server: ServerProcess, admin: Account, cwd: Path) -> tuple[list[str], dict]:
    code = PYTHON_DRIVER.format(guide=guide_block("python"))
    env = {"BASE": server.base_url, "EMAIL": admin.email, "PASSWORD": admin.password}
    return [sys.executable, "-c", code], env


async def new_admin(api: Api) -> Account:
    salon = await api.create_salon()
    return await api.create_admin(salon.id)


async def test_python_example_yields_the_notifications_of_the_stream(
    api: Api, server: ServerProcess, tmp_path: Path
) -> None:
    admin = await new_admin(api)
    argv, env = python_example(server, admin, tmp_path)
    async with run(argv, env, tmp_path) as example:
        await example.read_until(lambda line: "get_token" in line)
        await wait_streaming(api, admin)
        sent = await api.notify(admin.token, recipient_type="salon", salon_id=admin.salon_id)
        line = await example.read_until(is_notification(sent.id))
        assert json.loads(line)["title"] == sent.title


async def test_python_example_reconnects_after_a_restart_and_gets_what_it_missed(
    server_factory: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    first = await asyncio.to_thread(server_factory)
    async with connect(first) as api:
        admin = await new_admin(api)
        before = await api.notify(admin.token, recipient_type="salon", salon_id=admin.salon_id)
    argv, env = python_example(first, admin, tmp_path)
    async with run(argv, env, tmp_path) as example:
        async with connect(first) as api:
            await wait_streaming(api, admin)
            live = await api.notify(admin.token, recipient_type="salon", salon_id=admin.salon_id)
        await example.read_until(is_notification(live.id))
        await first.astop()

        # While it is down, another server on the same database takes a notification.
        sibling = ServerProcess(dict(first.overrides), workdir=tmp_path / "sibling")
        await sibling.astart()
        try:
            async with connect(sibling) as api:
                missed = await api.notify(
                    admin.token, recipient_type="salon", salon_id=admin.salon_id
                )
        finally:
            await sibling.astop()

        await first.astart()
        await example.read_until(is_notification(missed.id), timeout=20)
    seen = [json.loads(line)["id"] for line in example.lines if '"id"' in line]
    assert seen == [live.id, missed.id], f"none lost, none twice, none from before: {seen}"
    assert before.id not in seen
    assert sum("get_token" in line for line in example.lines) >= 2, "it logged in again"


@pytest.mark.parametrize("block", ["curl-bearer", "curl-cookie", "curl-stream-token"])
async def test_curl_examples_follow_the_stream(
    api: Api, server: ServerProcess, tmp_path: Path, block: str
) -> None:
    assert shutil.which("curl"), "the curl examples need curl"
    admin = await new_admin(api)
    env = {
        "BASE": f"{server.base_url}{API}",
        "EMAIL": admin.email,
        "PASSWORD": admin.password,
        "ACCESS_TOKEN": admin.token,
    }
    script = "set -eu\n" + guide_block(block)
    async with run(["bash", "-c", script], env, tmp_path) as example:
        await example.read_until(lambda line: line == "event: connected")
        sent = await api.notify(admin.token, recipient_type="salon", salon_id=admin.salon_id)
        await example.read_until(is_notification(sent.id))
    assert f"id: {sent.id}" in example.lines
