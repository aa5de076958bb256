"""One push: the payload encrypted for one subscription (RFC 8291 through http-ece), one
POST with its VAPID header, and what the push service's answer means."""

from __future__ import annotations

import asyncio
import base64
import email.utils
import ssl
import time
from dataclasses import dataclass
from typing import Literal

import http_ece
import httpcore
import httpx
from cryptography.hazmat.primitives.asymmetric import ec

from app.push.endpoints import EndpointRule, UnsafeEndpoint
from app.push.pinning import PinnedTransport, pinned
from app.push.vapid import VapidKey

Result = Literal["delivered", "gone", "retry", "failed"]
RESULTS: tuple[Result, ...] = ("delivered", "gone", "retry", "failed")
MAX_RETRY_AFTER = 3600.0


@dataclass(frozen=True, slots=True)
class Target:
    endpoint: str
    p256dh: str
    auth: str


@dataclass(frozen=True, slots=True)
class Outcome:
    result: Result
    detail: str  # for the log: a status code or an error's kind, never the endpoint
    retry_after: float | None = None


def b64url_decode(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def encrypt(payload: bytes, target: Target) -> bytes:
    """aes128gcm for the browser's key and auth secret, from a key pair used once."""
    ephemeral = ec.generate_private_key(ec.SECP256R1())
    return bytes(
        http_ece.encrypt(
            payload,
            private_key=ephemeral,
            dh=b64url_decode(target.p256dh),
            auth_secret=b64url_decode(target.auth),
            version="aes128gcm",
        )
    )


class PushSender:
    def __init__(
        self,
        vapid: VapidKey,
        *,
        ttl: int,
        timeout: float,
        rule: EndpointRule,
        concurrency: int,
        network: httpcore.AsyncNetworkBackend | None = None,  # tests: a network of their own
        verify: ssl.SSLContext | bool = True,  # tests: a certificate authority of their own
    ) -> None:
        self.vapid = vapid
        self.ttl = ttl
        self.timeout = timeout
        self.rule = rule
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        # No redirects: a push service never needs one, and one could lead inside the network.
        self.client = httpx.AsyncClient(
            timeout=timeout,
            follow_redirects=False,
            trust_env=False,
            transport=PinnedTransport(limits, network, verify),
        )

    async def aclose(self) -> None:
        await self.client.aclose()

    async def send(self, target: Target, payload: bytes, urgency: str) -> Outcome:
        try:
            checked = await self.rule.check(target.endpoint)  # DNS may have changed
        except UnsafeEndpoint as exc:
            return Outcome("failed", str(exc))
        headers = {
            "TTL": str(self.ttl),
            "Urgency": urgency,
            "Content-Encoding": "aes128gcm",
            "Content-Type": "application/octet-stream",
            "Authorization": self.vapid.authorization(target.endpoint),
        }
        try:
            body = encrypt(payload, target)
        except Exception as exc:  # a key that passed validation but not the library
            return Outcome("failed", f"encryption: {type(exc).__name__}")
        try:
            # The whole attempt, not each read; a new connection goes to a checked address.
            with pinned(checked):
                async with asyncio.timeout(self.timeout):
                    response = await self.client.post(
                        target.endpoint, content=body, headers=headers
                    )
        except (httpx.HTTPError, TimeoutError) as exc:
            return Outcome("retry", type(exc).__name__)
        return outcome_of(response.status_code, response.headers.get("Retry-After"))


def outcome_of(status: int, retry_after: str | None) -> Outcome:
    """The contract's table: 201/202 done; 404/410 gone; 429 and 5xx retried; else failed."""
    if status in (200, 201, 202):
        return Outcome("delivered", str(status))
    if status in (404, 410):
        return Outcome("gone", str(status))
    if status == 429 or status >= 500:
        return Outcome("retry", str(status), parse_retry_after(retry_after))
    return Outcome("failed", str(status))


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date), capped."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return min(max(0.0, when.timestamp() - time.time()), MAX_RETRY_AFTER)
