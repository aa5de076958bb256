"""The sender connects to an address the SSRF rule checked, never to a second answer of DNS.

Resolving the name again to connect would let a name that answered a public address to the
check answer 127.0.0.1 to the connection (DNS rebinding). httpcore, under httpx, asks its
network backend to connect to (host, port); PinnedBackend dials the addresses the rule
judged for that host in this attempt instead (a context variable, set around the request by
`pinned`). Everything above the socket stays httpx's and httpcore's: TLS with the host as SNI
and for the certificate check, the Host header, the pool (keyed by the host).
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import httpcore
import httpx

from app.push.endpoints import CheckedEndpoint

_checked: ContextVar[CheckedEndpoint | None] = ContextVar("push_checked_endpoint", default=None)


@contextmanager
def pinned(checked: CheckedEndpoint) -> Iterator[None]:
    """Connections opened within the block go to `checked`'s addresses."""
    token = _checked.set(checked)
    try:
        yield
    finally:
        _checked.reset(token)


class PinnedBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, network: httpcore.AsyncNetworkBackend | None = None) -> None:
        self.network = network or httpcore.AnyIOBackend()  # httpx's own under asyncio

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        checked = _checked.get()
        if checked is None or checked.host != host:  # fail closed: nothing unchecked is dialed
            raise httpcore.ConnectError(f"{host} was not checked for this attempt")
        # No addresses: PUSH_ALLOW_PRIVATE_ENDPOINTS, the name is resolved as usual.
        failure: Exception | None = None
        for address in checked.addresses or (host,):
            try:
                return await self.network.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc  # the next address the host has, as a client would
        raise failure or httpcore.ConnectError(f"{host} has no address")

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("push endpoints are never Unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self.network.sleep(seconds)


class PinnedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over httpcore's pool on PinnedBackend. httpx 0.28 takes no network
    backend, so the pool it built is replaced by the same pool with ours (tested: the
    rebinding test of tests/unit/test_push_rules.py fails if this stops taking effect)."""

    def __init__(
        self,
        limits: httpx.Limits,
        network: httpcore.AsyncNetworkBackend | None = None,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        super().__init__(limits=limits, trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify, trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=PinnedBackend(network),
        )
