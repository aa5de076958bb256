"""docs/clients.md's browser examples, run as written in Chromium against a real server.

The cookie example runs on a page of the API's own origin; the stream-token example and the
React hook on a page of another origin that CORS_ORIGINS lists. Stream tokens live 3 s here,
so each test also sees a token expire and the example fetch a new one without losing a
notification. A page of an origin not in CORS_ORIGINS gets neither a token nor a stream.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, Request

from app.services.bootstrap import DEMO_ADMIN
from tests.e2e.conftest import DemoServer, OriginServer, demo_server
from tests.utils.factories import API, expect
from tests.utils.guide import guide_block

pytestmark = pytest.mark.timeout(60)

TOKEN_LIFETIME_S = 3


class Backend:
    """The server and the httpx side of each test: logins, notifications, stats."""

    def __init__(self, server: DemoServer, client: httpx.AsyncClient) -> None:
        self.server = server
        self.client = client
        self.tokens: dict[str, str] = {}

    async def login(self, email: str, password: str) -> str:
        form = {"username": email, "password": password}
        response = expect(await self.client.post(f"{API}/auth/login", data=form), 200)
        return str(response.json()["access_token"])

    async def admin(self) -> tuple[str, dict[str, object]]:
        token = await self.login(DEMO_ADMIN[0], DEMO_ADMIN[1])
        me = (await self.client.get(f"{API}/auth/me", headers=self.auth(token))).json()
        return token, me

    @staticmethod
    def auth(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    async def notify_salon(self, admin_token: str, title: str) -> int:
        body = {
            "notification_type": "message",
            "title": title,
            "message": "",
            "recipient_type": "salon",
        }
        response = await self.client.post(
            f"{API}/notifications", json=body, headers=self.auth(admin_token)
        )
        return int(expect(response, 201).json()["id"])

    async def admin_streams(self) -> int:
        if "superadmin" not in self.tokens:
            server = self.server
            self.tokens["superadmin"] = await self.login(
                server.superadmin_email, server.superadmin_password
            )
        superadmin = self.tokens["superadmin"]
        response = await self.client.get(
            f"{API}/notifications/stream/stats", headers=self.auth(superadmin)
        )
        return int(expect(response, 200).json()["active_admin_connections"])

    async def wait_admin_streams(self, count: int, timeout: float = 10.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (current := await self.admin_streams()) != count:
            assert loop.time() < deadline, f"{current} admin streams open, expected {count}"
            await asyncio.sleep(0.25)


@pytest.fixture(scope="module")
async def backend_server(
    tmp_path_factory: pytest.TempPathFactory, allowed_origin: OriginServer
) -> AsyncIterator[DemoServer]:
    server = demo_server(
        tmp_path_factory.mktemp("guide-server"),
        CORS_ORIGINS=allowed_origin.origin,
        STREAM_TOKEN_EXPIRE_MINUTES=str(TOKEN_LIFETIME_S / 60),
        SSE_RETRY_MS="300",
        LIMIT_STATS_REQUESTS="0",  # the tests poll the stats; limits are tested elsewhere
    )
    await server.astart()
    try:
        yield server
    finally:
        await server.astop()


@pytest.fixture
async def backend(backend_server: DemoServer) -> AsyncIterator[Backend]:
    async with httpx.AsyncClient(base_url=backend_server.base_url, timeout=10) as client:
        backend = Backend(backend_server, client)
        await backend.wait_admin_streams(0)  # what an earlier test opened is closed
        yield backend


@pytest.fixture
async def context(browser: Browser) -> AsyncIterator[BrowserContext]:
    context = await browser.new_context()
    try:
        yield context
    finally:
        await context.close()


def count_token_requests(page: Page) -> list[Request]:
    requests: list[Request] = []

    def seen(request: Request) -> None:
        if request.method == "POST" and request.url.endswith("/notifications/stream-token"):
            requests.append(request)

    page.on("request", seen)
    return requests


async def wait_until(page: Page, expression: str, arg: object = None, timeout: float = 10) -> None:
    await page.wait_for_function(expression, arg=arg, timeout=timeout * 1000)


async def test_cookie_example_signs_in_and_follows_the_stream_on_the_same_origin(
    context: BrowserContext, backend: Backend
) -> None:
    page = await context.new_page()
    await page.goto(backend.server.base_url + "/healthz")  # a page of the API's origin
    await page.add_script_tag(content=guide_block("browser-cookie"))
    me = await page.evaluate(
        """async ([email, password]) => {
            window.received = [];
            const me = await signIn(email, password);
            window.source = followNotifications((n) => window.received.push(n));
            return me;
        }""",
        [DEMO_ADMIN[0], DEMO_ADMIN[1]],
    )
    assert me["role"] == "admin"
    await backend.wait_admin_streams(1)
    admin_token, _ = await backend.admin()
    sent = await backend.notify_salon(admin_token, "Hello, cookie")
    await wait_until(page, "(id) => window.received.some((n) => n.id === id)", sent)

    await page.evaluate("(id) => markRead(id)", sent)
    listed = await backend.client.get(f"{API}/notifications", headers=backend.auth(admin_token))
    assert next(n for n in listed.json() if n["id"] == sent)["is_read"] is True
    await page.evaluate("window.source.close()")
    await backend.wait_admin_streams(0)


async def test_stream_token_example_follows_from_another_origin_across_token_expiry(
    context: BrowserContext, backend: Backend, allowed_origin: OriginServer
) -> None:
    page = await context.new_page()
    token_requests = count_token_requests(page)
    await page.goto(allowed_origin.origin + "/blank.html")
    await page.add_script_tag(content=guide_block("browser-stream-token"))
    admin_token, _ = await backend.admin()
    await page.evaluate(
        """([apiBase, accessToken]) => {
            window.received = [];
            const collect = (n) => window.received.push(n);
            window.stream = followWithStreamToken(apiBase, accessToken, collect);
        }""",
        [backend.server.base_url, admin_token],
    )
    await backend.wait_admin_streams(1)
    first = await backend.notify_salon(admin_token, "Before the token expires")
    await wait_until(page, "(id) => window.received.some((n) => n.id === id)", first)

    # The token expires: the server ends the stream, the reconnect is refused, a new token comes.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TOKEN_LIFETIME_S + 8
    while len(token_requests) < 2:
        assert loop.time() < deadline, "the example never fetched a fresh stream token"
        await asyncio.sleep(0.1)
    await backend.wait_admin_streams(1)
    second = await backend.notify_salon(admin_token, "After the token expired")
    await wait_until(page, "(id) => window.received.some((n) => n.id === id)", second)
    ids = await page.evaluate("window.received.map((n) => n.id)")
    assert ids == [first, second], ids

    await page.evaluate("window.stream.close()")
    await backend.wait_admin_streams(0)


async def test_react_hook_refreshes_its_token_and_closes_its_stream_on_unmount(
    context: BrowserContext, backend: Backend, allowed_origin: OriginServer
) -> None:
    page = await context.new_page()
    token_requests = count_token_requests(page)
    await page.goto(allowed_origin.origin + "/blank.html")
    for script in ("react.production.min.js", "react-dom.production.min.js"):
        await page.add_script_tag(url=f"{allowed_origin.origin}/vendor/{script}")
    hook = guide_block("react-hook")
    # The guide is an ES module for a bundler; here React is the UMD global.
    hook = re.sub(r'^import \{(.*)\} from "react";$', r"const {\1} = React;", hook, flags=re.M)
    hook = re.sub(r"^export ", "", hook, flags=re.M)
    await page.add_script_tag(content=hook)
    admin_token, _ = await backend.admin()
    await page.evaluate(
        """([apiBase, accessToken]) => {
            window.hookState = { status: null, ids: [] };
            const getAccessToken = async () => accessToken;  // stable, as the guide asks
            function App() {
                const options = { apiBase, getAccessToken };
                const { notifications, status } = useNotificationStream(options);
                window.hookState = { status, ids: notifications.map((n) => n.id) };
                return React.createElement("p", null, status);
            }
            window.root = ReactDOM.createRoot(document.getElementById("root"));
            window.root.render(React.createElement(App));
        }""",
        [backend.server.base_url, admin_token],
    )
    await wait_until(page, "() => window.hookState.status === 'connected'")
    first = await backend.notify_salon(admin_token, "Hello, React")
    await wait_until(page, "(id) => window.hookState.ids.includes(id)", first)

    loop = asyncio.get_running_loop()
    deadline = loop.time() + TOKEN_LIFETIME_S + 8
    while len(token_requests) < 2:
        assert loop.time() < deadline, "the hook never fetched a fresh stream token"
        await asyncio.sleep(0.1)
    await wait_until(page, "() => window.hookState.status === 'connected'")
    await backend.wait_admin_streams(1)
    second = await backend.notify_salon(admin_token, "Still here")
    await wait_until(page, "(id) => window.hookState.ids.includes(id)", second)
    assert await page.evaluate("window.hookState.ids") == [second, first]

    await page.evaluate("window.root.unmount()")
    await backend.wait_admin_streams(0)
    fetched = len(token_requests)
    await asyncio.sleep(TOKEN_LIFETIME_S / 2)
    assert len(token_requests) == fetched, "an unmounted hook must not reconnect"


OPEN_FROM_PAGE = """async ([apiBase, accessToken, streamToken]) => {
    let tokenError = null;
    try {
        const r = await fetch(`${apiBase}/api/v1/notifications/stream-token`, {
            method: "POST", headers: { Authorization: `Bearer ${accessToken}` } });
        await r.json();
    } catch (error) {
        tokenError = String(error);
    }
    const stream = await new Promise((resolve) => {
        const url = `${apiBase}/api/v1/notifications/stream?token=${streamToken}`;
        const source = new EventSource(url);
        const done = (how) => { source.close(); resolve({ how, state: source.readyState }); };
        source.addEventListener("connected", () => done("connected"));
        source.onerror = () => done("error");
        setTimeout(() => done("timeout"), 5000);
    });
    return { tokenError, stream: stream.how };
}"""


@pytest.mark.parametrize("listed", [True, False], ids=["listed-origin", "unlisted-origin"])
async def test_only_pages_of_cors_origins_get_a_token_and_a_stream(
    context: BrowserContext,
    backend: Backend,
    allowed_origin: OriginServer,
    foreign_origin: OriginServer,
    listed: bool,
) -> None:
    page = await context.new_page()
    await page.goto((allowed_origin if listed else foreign_origin).origin + "/blank.html")
    admin_token, _ = await backend.admin()
    answer = await backend.client.post(
        f"{API}/notifications/stream-token", headers=backend.auth(admin_token)
    )
    stream_token = expect(answer, 200).json()["token"]
    result = await page.evaluate(
        OPEN_FROM_PAGE, [backend.server.base_url, admin_token, stream_token]
    )
    if listed:
        assert result == {"tokenError": None, "stream": "connected"}, result
    else:
        assert result["tokenError"] and "fetch" in result["tokenError"].lower(), result
        assert result["stream"] == "error", result
    await backend.wait_admin_streams(0)
