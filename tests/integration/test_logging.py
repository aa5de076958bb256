"""Logs: with LOG_FORMAT=json one JSON object per line; streams opening and closing, and every
refusal with its status and reason, are there; no token, cookie, password or key ever is."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from typing import Any

import httpx

from tests.utils import tokens
from tests.utils.factories import API, Api, connect
from tests.utils.server import ServerProcess
from tests.utils.sse import open_stream

ADMIN_STREAM = f"{API}/notifications/stream"
CUSTOMER_STREAM = f"{API}/notifications/customer/stream"
MARKER = "===== [tests]"  # lines the test harness writes into the log itself
SHORT_PASSWORD = "Qx#7"
JWT = re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


def entries(srv: ServerProcess) -> list[dict[str, Any]]:
    """Every line of the server's log as JSON (the harness's own markers aside)."""
    parsed = []
    for line in srv.log_text().splitlines():
        if not line.strip() or line.startswith(MARKER):
            continue
        try:
            parsed.append(json.loads(line))
        except json.JSONDecodeError:
            raise AssertionError(f"not a JSON line: {line[:300]!r}") from None
    return parsed


async def wait_for_entry(
    srv: ServerProcess, matches: Callable[[dict[str, Any]], bool], what: str
) -> dict[str, Any]:
    async with asyncio.timeout(5):
        while True:
            found = [entry for entry in entries(srv) if matches(entry)]
            if found:
                return found[-1]
            await asyncio.sleep(0.05)
    raise AssertionError(f"no log line for {what}")  # pragma: no cover


async def test_json_lines_for_streams_and_every_kind_of_refusal(
    server_factory: Callable[..., ServerProcess],
) -> None:
    srv = await asyncio.to_thread(
        server_factory,
        {"LOG_FORMAT": "json", "LIMIT_STATS_REQUESTS": "1", "MAX_REQUEST_BODY_BYTES": "4096"},
    )
    async with connect(srv) as api:
        salon = await api.create_salon()
        admin = await api.create_admin(salon.id)
        customer = await api.register_customer()
        async with open_stream(api.client, ADMIN_STREAM, token=admin.token) as stream:
            assert (await stream.next_event()).event == "connected"
            await api.notify(admin.token, recipient_type="salon")
            await stream.next_notification()
        await wait_for_entry(
            srv, lambda e: e["message"].startswith("stream closed: admin"), "stream closed"
        )

        root = api.auth(api.superadmin_token)
        refusals = {
            401: await api.client.get(f"{API}/auth/me"),
            403: await api.client.get(
                f"{API}/notifications/stream/stats", headers=customer.headers
            ),
            404: await api.mark_read(customer.token, 2**62),
            409: await api.client.post(
                f"{API}/auth/register",
                json={"email": customer.email, "password": "password-1", "full_name": "Again"},
            ),
            422: await api.send_notification(admin.token, recipient_type="nobody"),
            413: await api.send_notification(
                admin.token, recipient_type="salon", message="x" * 5000
            ),
        }
        await api.client.get(f"{API}/notifications/stream/stats", headers=root)
        refusals[429] = await api.client.get(f"{API}/notifications/stream/stats", headers=root)
    assert {status: r.status_code for status, r in refusals.items()} == {s: s for s in refusals}

    logged = entries(srv)
    assert all({"ts", "level", "logger", "message"} <= set(entry) for entry in logged)
    opened = [e for e in logged if e["message"].startswith("stream opened: admin")]
    closed = [e for e in logged if e["message"].startswith("stream closed: admin")]
    assert len(opened) == len(closed) == 1, (opened, closed)
    # principal, duration and events sent
    assert re.search(rf"admin {admin.id} after [0-9.]+ s, \d+ events", closed[0]["message"])
    refused = {e["status"]: e for e in logged if e.get("event") == "request_refused"}
    assert set(refusals) <= set(refused), sorted(refused)
    for status, entry in refused.items():
        assert entry["reason"] and entry["method"] and entry["path"].startswith("/"), entry
        assert entry["level"] == ("warning" if status in (413, 429) else "info"), entry
    assert refused[429]["limit"] == "stats_requests"
    assert refused[413]["limit"] == "body_size"
    assert refused[422]["reason"].startswith("body.recipient_type"), refused[422]


async def test_no_token_cookie_password_or_key_is_ever_logged(
    server_factory: Callable[..., ServerProcess],
) -> None:
    """Every way a credential reaches the server, good and bad, at LOG_LEVEL=debug: then,
    after a clean stop, the whole log is searched for each of them."""
    srv = await asyncio.to_thread(server_factory, {"LOG_FORMAT": "json", "LOG_LEVEL": "debug"})
    secrets = [srv.env["SECRET_KEY"], srv.superadmin_password]
    async with connect(srv) as api:
        salon = await api.create_salon()
        admin = await api.create_admin(salon.id)
        customer = await api.register_customer()
        secrets += [api.superadmin_token, admin.token, customer.token, admin.password]
        secrets += [customer.password]
        http = api.client

        issued = await http.post(f"{API}/notifications/stream-token", headers=admin.headers)
        stream_token = issued.json()["token"]
        async with open_stream(http, ADMIN_STREAM, params={"token": stream_token}) as stream:
            assert (await stream.next_event()).event == "connected"
        async with open_stream(http, ADMIN_STREAM, params={"token": admin.token}) as stream:
            assert stream.status_code == 401  # an access token in a URL is refused

        async with httpx.AsyncClient(base_url=srv.base_url, timeout=10) as browser:
            signed_in = await browser.post(
                f"{API}/auth/session",
                data={"username": customer.email, "password": customer.password},
            )
            cookie = next(iter(browser.cookies.values()))
            async with open_stream(browser, CUSTOMER_STREAM) as stream:
                assert (await stream.next_event()).event == "connected"
        assert signed_in.status_code == 200

        claims = tokens.claims(admin.id, "admin", salon.id)
        forged = [
            tokens.encode({**claims, "exp": 1}, srv.env["SECRET_KEY"]),
            tokens.encode(claims, "another-key-entirely-000000"),
            tokens.alg_none(claims),
            tokens.tamper(customer.token, role="superadmin"),
        ]
        for token in forged:
            assert (await http.get(f"{API}/auth/me", headers=api.auth(token))).status_code == 401
            async with open_stream(http, ADMIN_STREAM, token=token) as stream:
                assert stream.status_code == 401
        bad_login = await http.post(
            f"{API}/auth/login",
            data={"username": admin.email, "password": "wrong-" + admin.password},
        )
        assert bad_login.status_code == 401
        short = await http.post(
            f"{API}/auth/register",
            json={"email": "short@example.com", "password": SHORT_PASSWORD, "full_name": "Short"},
        )
        assert short.status_code == 422
        secrets += [stream_token, cookie, *forged, "wrong-" + admin.password]
    await asyncio.to_thread(srv.stop)

    log = srv.log_text()
    assert "request_refused" in log and "stream opened" in log  # the log is not empty
    leaked = [s[:16] + "..." for s in secrets if s in log]
    assert not leaked, f"credentials in the log: {leaked}"
    assert not JWT.search(log), JWT.search(log)
    assert SHORT_PASSWORD not in log  # a refused password is not echoed (nor masked: short)


async def test_plain_lines_stay_one_per_event_whatever_the_request_holds(
    server_factory: Callable[..., ServerProcess],
) -> None:
    srv = await asyncio.to_thread(server_factory, {"LOG_FORMAT": "plain"})
    async with httpx.AsyncClient(base_url=srv.base_url, timeout=10) as http:
        response = await http.get("/api/v1/nowhere%0A2099-01-01T00:00:00Z CRITICAL forged")
        assert response.status_code == 404
    async with asyncio.timeout(5):
        while "refused GET /api/v1/nowhere" not in srv.log_text():
            await asyncio.sleep(0.05)
    lines = srv.log_text().splitlines()
    assert not [line for line in lines if line.startswith("2099-01-01")], lines[-5:]
    refused = next(line for line in lines if "refused GET /api/v1/nowhere" in line)
    assert "\\n2099-01-01" in refused and "status=404" in refused


async def test_the_session_servers_log_holds_no_token(server: ServerProcess, api: Api) -> None:
    """Whatever ran on the shared server before this test (most of the suite) logged no JWT."""
    await api.ensure_superadmin()
    found = JWT.search(server.log_text())
    assert found is None, found
