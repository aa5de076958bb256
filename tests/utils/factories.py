"""Build the world a test needs through the public API: salons, accounts, services.

Every email is unique (uuid), so tests share one server without colliding. Passwords
are hashed with argon2 by the server: create accounts sparingly.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass
from typing import Any

import httpx

from tests.utils.server import ServerProcess

API = "/api/v1"


class Record(dict[str, Any]):
    """A JSON object that also reads as attributes: `salon["id"] == salon.id`."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


@dataclass
class Account:
    id: int
    email: str
    password: str
    role: str
    salon_id: int | None
    token: str
    full_name: str = ""

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}@example.com"


def expect(response: httpx.Response, status: int) -> httpx.Response:
    """Fail with the server's answer when a set-up step does not succeed."""
    assert response.status_code == status, (
        f"{response.request.method} {response.request.url.path} answered "
        f"{response.status_code}, expected {status}: {response.text[:500]}"
    )
    return response


def assert_json_error(
    response: httpx.Response, status: int | Collection[int] | None = None
) -> dict[str, Any]:
    """A refusal as the contract says: a 4xx (`status`, or one of them) with a JSON `detail`;
    returns the body."""
    request = response.request
    where = f"{request.method} {request.url.path}: {response.status_code} {response.text[:500]}"
    allowed = range(400, 500) if status is None else [status] if isinstance(status, int) else status
    assert response.status_code in allowed, where
    assert response.headers["content-type"] == "application/json", where
    body = response.json()
    assert "detail" in body, where
    return body


class Api:
    """An httpx client on a running server, with the steps tests repeat."""

    def __init__(self, client: httpx.AsyncClient, server: ServerProcess) -> None:
        self.client = client
        self.server = server

    @staticmethod
    def auth(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    # ------------------------------------------------------------------ auth

    async def login_response(self, email: str, password: str) -> httpx.Response:
        return await self.client.post(
            f"{API}/auth/login", data={"username": email, "password": password}
        )

    async def login(self, email: str, password: str) -> str:
        response = expect(await self.login_response(email, password), 200)
        return str(response.json()["access_token"])

    async def me(self, token: str) -> dict[str, Any]:
        return expect(await self.client.get(f"{API}/auth/me", headers=self.auth(token)), 200).json()

    async def ensure_superadmin(self) -> str:
        """Log the first superadmin in once per server; the token is memoised on it."""
        if "superadmin_token" not in self.server.cache:
            self.server.cache["superadmin_token"] = await self.login(
                self.server.superadmin_email, self.server.superadmin_password
            )
        return str(self.server.cache["superadmin_token"])

    @property
    def superadmin_token(self) -> str:
        try:
            return str(self.server.cache["superadmin_token"])
        except KeyError:
            raise RuntimeError("call `await api.ensure_superadmin()` first") from None

    async def register_customer(self, *, login: bool = True, **overrides: Any) -> Account:
        body = {
            "email": unique_email("customer"),
            "password": "customer-pass-" + uuid.uuid4().hex[:8],
            "full_name": "Test Customer",
            **overrides,
        }
        created = expect(await self.client.post(f"{API}/auth/register", json=body), 201).json()
        return await self._account(created, body, login)

    async def create_salon(self, name: str | None = None, token: str | None = None) -> Record:
        response = await self.client.post(
            f"{API}/salons",
            json={"name": name or f"Salon {uuid.uuid4().hex[:8]}"},
            headers=self.auth(token or self.superadmin_token),
        )
        return Record(expect(response, 201).json())

    async def create_admin(
        self, salon_id: int, *, by: str | None = None, login: bool = True, **overrides: Any
    ) -> Account:
        """An admin of `salon_id`, created by the superadmin unless `by` (a token) says."""
        body = {
            "email": unique_email("admin"),
            "password": "admin-pass-" + uuid.uuid4().hex[:8],
            "full_name": "Test Admin",
            **overrides,
        }
        response = await self.client.post(
            f"{API}/salons/{salon_id}/admins",
            json=body,
            headers=self.auth(by or self.superadmin_token),
        )
        return await self._account(expect(response, 201).json(), body, login)

    async def create_service(
        self,
        admin_token: str,
        salon_id: int,
        name: str | None = None,
        duration_minutes: int = 30,
        price: float | str = 25.5,
    ) -> Record:
        body = {
            "name": name or f"Service {uuid.uuid4().hex[:8]}",
            "duration_minutes": duration_minutes,
            "price": price,
        }
        response = await self.client.post(
            f"{API}/salons/{salon_id}/services", json=body, headers=self.auth(admin_token)
        )
        return Record(expect(response, 201).json())

    async def _account(self, created: dict[str, Any], body: dict[str, Any], login: bool) -> Account:
        token = await self.login(body["email"], body["password"]) if login else ""
        return Account(
            id=created["id"],
            email=body["email"],
            password=body["password"],
            role=created["role"],
            salon_id=created.get("salon_id"),
            token=token,
            full_name=body.get("full_name", ""),
        )

    # ------------------------------------------------------------------ notifications

    async def send_notification(self, token: str, **body: Any) -> httpx.Response:
        """POST /notifications; title, message and type are filled in when not given."""
        body.setdefault("notification_type", "test")
        body.setdefault("title", f"Title {uuid.uuid4().hex[:8]}")
        body.setdefault("message", "Message")
        return await self.client.post(f"{API}/notifications", json=body, headers=self.auth(token))

    async def notify(self, token: str, **body: Any) -> Record:
        """`send_notification` that must succeed; returns the stored notification."""
        return Record(expect(await self.send_notification(token, **body), 201).json())

    async def notifications(self, token: str, **params: Any) -> list[dict[str, Any]]:
        response = await self.client.get(
            f"{API}/notifications", params=params, headers=self.auth(token)
        )
        return list(expect(response, 200).json())

    async def unread_count(self, token: str) -> int:
        response = await self.client.get(
            f"{API}/notifications/unread-count", headers=self.auth(token)
        )
        return int(expect(response, 200).json()["unread"])

    async def mark_read(self, token: str, notification_id: int | str) -> httpx.Response:
        return await self.client.post(
            f"{API}/notifications/{notification_id}/read", headers=self.auth(token)
        )

    async def read_all(self, token: str) -> httpx.Response:
        return await self.client.post(f"{API}/notifications/read-all", headers=self.auth(token))


@contextlib.asynccontextmanager
async def connect(server: ServerProcess, http_timeout: float = 10.0) -> AsyncIterator[Api]:
    """An `Api` with its own client, for fixtures wider than one test."""
    async with httpx.AsyncClient(base_url=server.base_url, timeout=http_timeout) as client:
        api = Api(client, server)
        await api.ensure_superadmin()
        yield api
