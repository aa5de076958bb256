"""A push service on loopback that behaves like a real one, and the browser side of a
subscription (its P-256 key pair and auth secret), for the Web Push tests.

Every request is checked as a push service would: the VAPID JWT's ES256 signature against
the server's published key, its `aud` (this service's origin) and `exp` (in the future,
at most 24 h ahead, RFC 8292); then the body is decrypted with the subscription's
private key. The decryption is written here with `cryptography` (RFC 8291 + RFC 8188),
independently of the http-ece library the server encrypts with. A request that fails a
check is answered 400 and recorded in `errors`, which every test asserts empty.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import secrets
import socket
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import orjson
import uvicorn
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class BrowserSubscription:
    """What a browser's pushManager.subscribe() makes: an endpoint and two keys."""

    endpoint: str
    private_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    auth_secret: bytes = field(default_factory=lambda: os.urandom(16))

    @property
    def public_point(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )

    @property
    def token(self) -> str:
        return self.endpoint.rsplit("/", 1)[1]

    def to_json(self) -> dict[str, Any]:
        """PushSubscription.toJSON()"""
        return {
            "endpoint": self.endpoint,
            "expirationTime": None,
            "keys": {"p256dh": b64url(self.public_point), "auth": b64url(self.auth_secret)},
        }

    def decrypt(self, body: bytes) -> bytes:
        """RFC 8291 (Web Push keys) over RFC 8188 (aes128gcm), one record."""
        salt, record_size, id_length = body[:16], int.from_bytes(body[16:20]), body[20]
        sender_point = body[21 : 21 + id_length]
        ciphertext = body[21 + id_length :]
        assert id_length == 65 and len(ciphertext) <= record_size, "one aes128gcm record"
        sender = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), sender_point)
        shared = self.private_key.exchange(ec.ECDH(), sender)
        key_info = b"WebPush: info\x00" + self.public_point + sender_point
        ikm = _hkdf(self.auth_secret, shared, key_info, 32)
        key = _hkdf(salt, ikm, b"Content-Encoding: aes128gcm\x00", 16)
        nonce = _hkdf(salt, ikm, b"Content-Encoding: nonce\x00", 12)
        padded = AESGCM(key).decrypt(nonce, ciphertext, None).rstrip(b"\x00")
        assert padded.endswith(b"\x02"), "the last record ends with the 0x02 delimiter"
        return padded[:-1]


def _hkdf(salt: bytes, ikm: bytes, info: bytes, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


@dataclass
class Push:
    """One request the service accepted the checks of."""

    token: str
    headers: dict[str, str]
    claims: dict[str, Any]
    payload: dict[str, Any]
    status: int
    received_at: float


class LoopbackPushService:
    """`answer(token, 410)`, `answer(token, 429, retry_after=1)`, `answer(token, "hang")`
    queue answers for the next requests of a subscription; otherwise 201."""

    def __init__(
        self, vapid_public_key: str, check: bool = True, public_origin: str | None = None
    ) -> None:
        self.vapid_public_key = vapid_public_key
        self.public_origin = public_origin  # the name endpoints use, if not its own address
        self.check = check  # False: accept without checking (the benchmark's client side)
        self.subscriptions: dict[str, BrowserSubscription] = {}
        self.answers: dict[str, deque[tuple[int | str, int | None]]] = {}
        self.pushes: list[Push] = []  # every checked request, whatever it was answered
        self.errors: list[str] = []
        self.hanging = 0
        self._release = asyncio.Event()
        self._arrived = asyncio.Condition()
        self.port = 0

    @property
    def origin(self) -> str:
        return self.public_origin or f"http://127.0.0.1:{self.port}"

    def new_subscription(self) -> BrowserSubscription:
        subscription = BrowserSubscription(f"{self.origin}/push/{secrets.token_urlsafe(16)}")
        self.subscriptions[subscription.token] = subscription
        return subscription

    def answer(self, token: str, status: int | str, retry_after: int | None = None) -> None:
        self.answers.setdefault(token, deque()).append((status, retry_after))

    def pushes_to(self, subscription: BrowserSubscription) -> list[Push]:
        return [p for p in self.pushes if p.token == subscription.token]

    async def wait_for(
        self, subscription: BrowserSubscription, count: int = 1, timeout: float = 10.0
    ) -> list[Push]:
        async with asyncio.timeout(timeout), self._arrived:
            await self._arrived.wait_for(lambda: len(self.pushes_to(subscription)) >= count)
        return self.pushes_to(subscription)

    async def wait_hanging(self, count: int = 1, timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout), self._arrived:
            await self._arrived.wait_for(lambda: self.hanging >= count)

    # ------------------------------------------------------------------ the ASGI app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        status, extra = await self._handle(scope["path"], headers, body)
        await send({"type": "http.response.start", "status": status, "headers": extra})
        await send({"type": "http.response.body", "body": b""})

    async def _handle(
        self, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, list[tuple[bytes, bytes]]]:
        token = path.rsplit("/", 1)[-1]
        try:
            if self.check:
                push = self._check(token, headers, body)
            else:
                push = Push(token, headers, {}, {}, 0, time.monotonic())
        except Exception as exc:
            self.errors.append(f"{path}: {exc!r}")
            return 400, []
        queued = self.answers.get(token)
        status, retry_after = queued.popleft() if queued else (201, None)
        if status == "hang":
            async with self._arrived:
                self.hanging += 1
                self._arrived.notify_all()
            try:
                await self._release.wait()
            finally:
                self.hanging -= 1
            status = 201
        assert isinstance(status, int)
        push.status = status
        async with self._arrived:
            self.pushes.append(push)
            self._arrived.notify_all()
        extra = [(b"retry-after", str(retry_after).encode())] if retry_after is not None else []
        return status, extra

    def _check(self, token: str, headers: dict[str, str], body: bytes) -> Push:
        subscription = self.subscriptions[token]
        scheme, _, params = headers["authorization"].partition(" ")
        assert scheme == "vapid", f"Authorization scheme {scheme!r}"
        parts = dict(p.strip().split("=", 1) for p in params.split(","))
        assert parts["k"] == self.vapid_public_key, "k is not the server's published key"
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(parts["k"]))
        claims = jwt.decode(
            parts["t"], key=public, algorithms=["ES256"], audience=self.origin,
            options={"require": ["exp", "aud", "sub"]},
        )  # fmt: skip
        assert claims["exp"] <= time.time() + 24 * 3600, "exp more than 24 h ahead"
        assert headers["content-encoding"] == "aes128gcm"
        payload = orjson.loads(subscription.decrypt(body))
        return Push(token, headers, claims, payload, 0, time.monotonic())

    def release_hanging(self) -> None:
        self._release.set()


@contextlib.asynccontextmanager
async def loopback_push_service(
    vapid_public_key: str,
    check: bool = True,
    *,
    tls: tuple[Path, Path] | None = None,
    public_origin: str | None = None,
) -> AsyncIterator[LoopbackPushService]:
    """The service, served by uvicorn on a free loopback port for the block's duration
    (`tls`: over HTTPS with this certificate and key file)."""
    service = LoopbackPushService(vapid_public_key, check, public_origin)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    service.port = sock.getsockname()[1]
    certfile, keyfile = tls or (None, None)
    config = uvicorn.Config(
        service,
        log_level="warning",
        lifespan="off",
        loop="none",
        ssl_certfile=certfile,
        ssl_keyfile=keyfile,
    )
    server = uvicorn.Server(config)
    task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
    try:
        async with asyncio.timeout(10):
            while not server.started:
                await asyncio.sleep(0.01)
        yield service
    finally:
        service.release_hanging()
        server.should_exit = True
        async with asyncio.timeout(10):
            await task
        sock.close()
