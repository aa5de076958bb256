"""Browser tests: Debian's Chromium driven by Playwright, against real `salon serve` processes.

They run on SQLite only (the browser path does not depend on the database), and never skip:
without /usr/bin/chromium they fail (`scripts/test` installs it). Pages of other origins are
served by small real HTTP servers on their own ports (`pages/`).
"""

from __future__ import annotations

import functools
import http.server
import os
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright

from tests.utils.db import fresh_database_url
from tests.utils.server import REPO_ROOT, ServerProcess, server_env

CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PAGES = Path(__file__).parent / "pages"
ARTIFACTS = REPO_ROOT / "test-artifacts" / "e2e"
LAPTOP = {"width": 1366, "height": 860}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (scripts/test does)")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=LAUNCH_ARGS, timeout=30_000
        )
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


class DemoServer(ServerProcess):
    """`salon serve --demo` on a fresh SQLite database: the demo salon, admin and customer."""

    def command(self) -> list[str]:
        return [*super().command(), "--demo"]

    def sibling(self, workdir: Path) -> ServerProcess:
        """Another server on the same database and secret, on a port of its own."""
        return ServerProcess(dict(self.overrides), workdir=workdir)


def demo_server(workdir: Path, **env: str) -> DemoServer:
    workdir.mkdir(parents=True, exist_ok=True)
    database_url, _cleanup = fresh_database_url("sqlite", workdir)  # the file dies with workdir
    settings = server_env(database_url, **{"SSE_RETRY_MS": "500", "SSE_PING_INTERVAL": "5", **env})
    return DemoServer(settings, workdir=workdir, backend="sqlite")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


class OriginServer:
    """A static file server for `pages/`: a page of an origin other than the API's."""

    def __init__(self) -> None:
        handler = functools.partial(_QuietHandler, directory=str(PAGES))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> OriginServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(10)


@pytest.fixture(scope="session")
def allowed_origin() -> Iterator[OriginServer]:
    """A front end on another origin that the API lists in CORS_ORIGINS."""
    with OriginServer() as server:
        yield server


@pytest.fixture(scope="session")
def foreign_origin() -> Iterator[OriginServer]:
    """A page of an origin the API does not list."""
    with OriginServer() as server:
        yield server
