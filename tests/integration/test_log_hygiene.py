"""The plain log as an operator's terminal shows it: no escape sequence from a request
path reaches it raw, uvicorn's WebSocket lines carry no query string (tokens), and no
email address is written (accounts are named by their id)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.asyncio.client import connect as ws_connect

from tests.utils.factories import API, connect, expect, unique_email
from tests.utils.server import ServerProcess, fresh_server

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


@pytest.fixture(scope="module")
def srv(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for the module, its log plain; its first superadmin is made at start."""
    workdir: Path = tmp_path_factory.mktemp(f"log-hygiene-{backend}")
    with fresh_server(backend, workdir, LOG_FORMAT="plain") as process:
        yield process


async def test_escape_sequences_and_websocket_queries_stay_out_of_the_plain_log(
    srv: ServerProcess,
) -> None:
    async with connect(srv) as api:
        salon = await api.create_salon()
        admin = await api.create_admin(salon.id)
        # A path holding a terminal escape (red text, a bell, a cursor-up).
        response = await api.client.get("/api/v1/%1B[31mred%07%1B[1A")  # decoded by the server
        assert response.status_code == 404
        url = srv.base_url.replace("http://", "ws://") + f"{API}/notifications/ws"
        async with ws_connect(
            url + "?types=query-marker-7f3a", additional_headers=admin.headers, open_timeout=5
        ) as ws:
            assert '"connected"' in str(await asyncio.wait_for(ws.recv(), 5))

    async with asyncio.timeout(5):
        while "WebSocket /api/v1/notifications/ws" not in srv.log_text():
            await asyncio.sleep(0.05)
    log = srv.log_text()
    assert "\x1b" not in log and "\x07" not in log
    assert "\\x1b[31mred\\x07\\x1b[1A" in log  # the refusal is there, escaped
    assert "query-marker-7f3a" not in log


async def test_no_email_address_is_written_to_the_log(srv: ServerProcess) -> None:
    """Registering (twice, the second refused), signing in with the right and a wrong
    password, by token and by cookie, and an unknown address: the log names none of them."""
    email, password = unique_email("hygiene"), "hygiene-pass-4921"
    account = {"email": email, "password": password, "full_name": "Hy Giene"}
    async with connect(srv) as api:
        http = api.client
        expect(await http.post(f"{API}/auth/register", json=account), 201)
        expect(await http.post(f"{API}/auth/register", json=account), 409)
        wrong = "wrong-pass-4921"
        attempts = ((email, password, 200), (email, wrong, 401), (unique_email(), wrong, 401))
        for route in ("login", "session"):
            for who, secret, status in attempts:
                form = {"username": who, "password": secret}
                expect(await http.post(f"{API}/auth/{route}", data=form), status)
        await api.create_admin((await api.create_salon()).id)  # by the first superadmin
    log = srv.log_text()  # a refusal's line is written before its answer is sent
    for refused in ("register: 409", "login: 401", "session: 401"):
        assert f"refused POST {API}/auth/{refused}" in log, log  # the attempts were logged
    assert EMAIL.findall(log) == [], [line for line in log.splitlines() if EMAIL.search(line)]
