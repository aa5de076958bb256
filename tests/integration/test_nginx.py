"""deploy/nginx.conf for real: Debian's nginx in front of two instances, no sticky sessions.

Events pass through unbuffered, the REST API and /healthz go through, and a stream
whose instance dies resumes through nginx on the other one, with nothing lost or twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import secrets
import socket
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect

from tests.utils.cluster import (
    Follower,
    assert_exactly_once_in_order,
    instance_env,
    read_notifications,
    start_instances,
    wait_until,
)
from tests.utils.factories import API, Api, expect
from tests.utils.nginx import DEPLOY_CONF, NginxProcess
from tests.utils.server import ServerProcess, free_port
from tests.utils.stats import wait_for_stats


def location_block(config: str, pattern: str) -> str:
    match = re.search(
        r"^\s*location\s+" + pattern + r"\s*\{(?P<body>.*?)^\s*\}", config, re.M | re.S
    )
    assert match is not None, f"no location matching {pattern!r} in {DEPLOY_CONF}"
    return match["body"]


def test_the_deployment_file_balances_two_instances_without_sticky_sessions() -> None:
    """What the SSE streams need of the proxy, and no session affinity."""
    config = DEPLOY_CONF.read_text()
    code = "\n".join(line.split("#", 1)[0] for line in config.splitlines())
    upstream = re.search(r"upstream\s+salon_backend\s*\{(.*?)\}", code, re.S)
    assert upstream is not None
    assert len(re.findall(r"^\s*server\s+\S+", upstream[1], re.M)) == 2
    for sticky in ("ip_hash", "hash ", "sticky"):
        assert sticky not in upstream[1]
    assert re.search(r"proxy_http_version\s+1\.1;", code)
    assert re.search(r'proxy_set_header\s+Connection\s+"";', code)
    assert re.search(r"proxy_next_upstream\s+error\s+timeout\s+http_502\s+http_503;", code)
    stream = location_block(code, r"~\s+\^/api/v1/notifications/\(customer/\)\?stream\$")
    assert re.search(r"proxy_buffering\s+off;", stream)
    timeout = re.search(r"proxy_read_timeout\s+(\d+)([smhd]?);", stream)
    assert timeout is not None
    seconds = int(timeout[1]) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[timeout[2]]
    assert seconds >= 300, "a stream's read timeout must outlast many pings"
    for path in (r"/api/", r"=\s+/healthz"):
        assert "proxy_pass http://salon_backend;" in location_block(code, path)


Deployment = tuple[list[ServerProcess], NginxProcess]


@contextlib.asynccontextmanager
async def nginx_in_front(
    server_factory: Callable[..., ServerProcess], folder: Path
) -> AsyncIterator[Deployment]:
    """Two instances on one database and one Redis, and nginx in front of them (the
    instances stop with `server_factory`)."""
    instances = await start_instances(server_factory, instance_env())
    nginx = NginxProcess(folder / "nginx", [f"127.0.0.1:{i.port}" for i in instances])
    await asyncio.to_thread(nginx.start)
    try:
        yield instances, nginx
    finally:
        await asyncio.to_thread(nginx.stop)


@pytest.fixture(scope="module")
async def deployment(
    module_server_factory: Callable[..., ServerProcess],
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Deployment]:
    """The module's deployment, for the tests that leave both instances up."""
    async with nginx_in_front(module_server_factory, tmp_path_factory.mktemp("nginx")) as both:
        yield both


@pytest.fixture
async def own_deployment(
    server_factory: Callable[..., ServerProcess], tmp_path: Path
) -> AsyncIterator[Deployment]:
    """A deployment of the test's own, for one that kills an instance."""
    async with nginx_in_front(server_factory, tmp_path) as both:
        yield both


async def next_ws_notification(ws, timeout: float = 5.0) -> dict:
    async with asyncio.timeout(timeout):
        while True:
            message = json.loads(await ws.recv())
            if message["event"] != "ping":
                assert message["event"] == "notification", message
                return message


async def test_events_pass_through_nginx_unbuffered(api: Api, deployment) -> None:
    """SSE (and the WebSocket fallback) through nginx: each notification created through
    nginx, on either instance, is on the stream well under a second later."""
    (one, _two), nginx = deployment
    salon = await api.create_salon()
    admin = await api.create_admin(salon.id)
    ws_url = nginx.base_url.replace("http://", "ws://") + f"{API}/notifications/ws"
    async with (
        httpx.AsyncClient(base_url=nginx.base_url, timeout=10) as http,
        connect(ws_url, additional_headers=admin.headers, open_timeout=5) as ws,
    ):
        via_nginx = Api(http, one)
        assert expect(await http.get("/healthz"), 200).json() == {"status": "ok"}
        me = expect(await http.get(f"{API}/auth/me", headers=admin.headers), 200).json()
        assert me["id"] == admin.id
        async with asyncio.timeout(5):
            assert json.loads(await ws.recv())["event"] == "connected"
        follower = Follower(admin)
        async with follower.connect(http) as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            assert stream.headers["cache-control"] == "no-cache"
            latencies = []
            for _ in range(6):  # round robin: half are created on the other instance
                started = time.monotonic()
                note = await via_nginx.notify(admin.token, recipient_type="salon")
                assert await read_notifications(stream, 1, timeout=5) == [note.id]
                latencies.append(time.monotonic() - started)
                assert (await next_ws_notification(ws))["id"] == note.id
            assert max(latencies) < 0.5, f"POST to event through nginx: {latencies}"
            await stream.expect_no_event(within=0.3)


async def serving_instance(api: Api, instances: list[ServerProcess]) -> ServerProcess:
    """The instance holding the test's one stream, from the stats' per-instance breakdown."""
    by_name = {f"{socket.gethostname()}:{i.pid}": i for i in instances}

    def holding(stats: dict[str, Any]) -> list[str]:
        return [each["instance"] for each in stats["instances"] if each["total_connections"]]

    stats = await wait_for_stats(api, lambda stats: len(holding(stats)) == 1, 5)
    return by_name[holding(stats)[0]]


async def test_a_stream_through_nginx_survives_the_loss_of_an_instance(
    api: Api, own_deployment: Deployment
) -> None:
    instances, nginx = own_deployment
    salon = await api.create_salon()
    admin = await api.create_admin(salon.id)
    async with (
        httpx.AsyncClient(base_url=nginx.base_url, timeout=10) as http,
        httpx.AsyncClient(base_url=instances[0].base_url, timeout=10) as direct,
    ):
        via_nginx = Api(http, instances[0])
        observer = Api(direct, instances[0])
        observer.server.cache["superadmin_token"] = api.superadmin_token
        created: list[int] = []

        async def create(count: int) -> None:
            for _ in range(count):
                created.append((await via_nginx.notify(admin.token, recipient_type="salon")).id)

        follower = Follower(admin)
        follower.last_event_id = 0
        async with follower.connect(http) as stream:
            await create(3)
            await follower.read_until(stream, set(created), timeout=5)
            doomed = await serving_instance(observer, instances)
            await asyncio.to_thread(doomed.kill)
            await stream.wait_closed(timeout=5)

        # nginx sends everything to the survivor now: health checks and writes succeed. The
        # GETs go first: a kept-alive connection to the dead instance that nginx has not yet
        # seen close fails a request already sent on it, and nginx retries only idempotent
        # ones on the survivor (a POST in that instant gets a 502: see the closing notes).
        for _ in range(4):
            assert (await http.get("/healthz")).status_code == 200
        await create(3)

        async with follower.connect(http) as stream:  # with Last-Event-ID, as EventSource
            await follower.read_until(stream, set(created), timeout=5)
            await create(2)
            await follower.read_until(stream, set(created), timeout=5)
            await stream.expect_no_event(within=0.3)

    assert follower.connections == 2
    assert_exactly_once_in_order(follower.ids, created, "the client behind nginx")


async def test_nginx_logs_requests_without_their_query_strings(api: Api, deployment) -> None:
    """A stream token in `?token=` reaches the instance but not nginx's access log."""
    _instances, nginx = deployment
    access_log = nginx.dir / "salon-access.log"

    def logged() -> str:
        return access_log.read_text(errors="replace") if access_log.exists() else ""

    logged_before = len(logged())  # the module's deployment: what other tests asked before
    customer = await api.register_customer()
    async with httpx.AsyncClient(base_url=nginx.base_url, timeout=10) as http:
        minted = await http.post(f"{API}/notifications/stream-token", headers=customer.headers)
        stream_token = expect(minted, 200).json()["token"]
        marker = "secret-marker-in-a-query"
        for path in (f"{API}/auth/me?note={marker}", "/api/v1/nowhere?x=" + marker):
            await http.get(path, headers=customer.headers)
        async with http.stream(
            "GET", f"{API}/notifications/customer/stream", params={"token": stream_token}
        ) as stream:
            assert stream.status_code == 200

    async def stream_logged() -> bool:  # nginx writes a request's line when it ends
        return f"{API}/notifications/customer/stream" in logged()[logged_before:]

    await wait_until(stream_logged, 5, "the stream's request is in the access log")
    text = logged()[logged_before:]
    assert f"GET {API}/auth/me HTTP/1.1" in text, text
    assert stream_token not in text and marker not in text and "?" not in text, text


async def test_no_stream_token_in_nginx_logs_when_every_instance_is_down(tmp_path: Path) -> None:
    """The upstream-down path: nginx's error log quotes the request line, query included,
    unless the stream locations keep it quiet; the access log still shows the failure."""
    down = [f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"]  # nothing listens
    nginx = NginxProcess(tmp_path / "nginx", down)
    await asyncio.to_thread(nginx.start)
    token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI3In0." + secrets.token_urlsafe(32)
    paths = [f"{API}/notifications/{kind}" for kind in ("stream", "customer/stream", "ws")]
    try:
        async with httpx.AsyncClient(base_url=nginx.base_url, timeout=10) as http:
            for path in paths:
                response = await http.get(path, params={"token": token})
                assert response.status_code == 502, response.text
    finally:
        await asyncio.to_thread(nginx.stop)  # the logs are complete once it has exited

    access_log = (nginx.dir / "salon-access.log").read_text(errors="replace")
    error_log = nginx.error_log()
    assert token not in access_log and token not in error_log, error_log
    assert token.split(".")[-1] not in access_log + error_log
    for path in paths:
        # The path without its query, nginx's 502, and the instances' 502 (refused).
        line = re.search(
            rf'"GET {re.escape(path)} HTTP/1\.1" 502 .*upstream "(.*)" "(.*)"', access_log
        )
        assert line is not None, access_log
        assert "502" in line[2], line[0]
