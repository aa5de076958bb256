"""The SSRF rule: where the server may post a push.

A user chooses the endpoint, so without this rule a subscription could make the server post
to its own network (a metadata service, an admin port), or aim its pushes at any host and
port as a reflector. An endpoint must be https:// on port 443 at a host of a browser push
service (PUSH_ALLOWED_HOSTS; `*` lets any host in), and every address the host resolves to
must be public: an IPv4 address written inside an IPv6 one (IPv4-mapped, IPv4-compatible,
NAT64, 6to4, Teredo) is judged as that IPv4 address. The rule runs when a browser subscribes
and again before each send (DNS can change); the sender then connects to an address this
check passed (app/push/pinning.py), never to a second answer of DNS. Redirects are never
followed (the sender's client has them off). PUSH_ALLOW_PRIVATE_ENDPOINTS lifts it all.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

RESOLVE_TIMEOUT = 5.0
HTTPS_PORT = 443

# Addresses resolved for a host: (host, port) -> addresses. Injected in tests.
Resolve = Callable[[str, int], Awaitable[Sequence[str]]]

NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052: the IPv4 address in the last 32 bits
# RFC 8215: a translator of the operator's own, which may lead anywhere inside: never public.
LOCAL_NAT64 = ipaddress.IPv6Network("64:ff9b:1::/48")
IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")  # deprecated ::a.b.c.d (and :: and ::1)
SITE_LOCAL = ipaddress.IPv6Network("fec0::/10")  # deprecated, but routed inside some networks


class UnsafeEndpoint(ValueError):
    """An endpoint the server must not post to; the message says why (never the URL)."""


@dataclass(frozen=True, slots=True)
class CheckedEndpoint:
    """A host as the HTTP client names it, and the addresses the rule judged for it (empty:
    private endpoints allowed, the client resolves the name itself)."""

    host: str
    addresses: tuple[str, ...]


async def resolve_host(host: str, port: int) -> list[str]:
    infos = await asyncio.wait_for(
        asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM),
        RESOLVE_TIMEOUT,
    )
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True, slots=True)
class EndpointRule:
    allowed_hosts: tuple[str, ...]  # exact names, `*.suffix` for its subdomains, `*` for any
    allow_private: bool = False
    resolve: Resolve = resolve_host

    async def check(self, endpoint: str) -> CheckedEndpoint:
        """The endpoint's host and its checked addresses, or UnsafeEndpoint saying why.
        Parsed by httpx, the sender's own parser: no second reading to disagree with."""
        try:
            url = httpx.URL(endpoint)
        except (httpx.InvalidURL, TypeError) as exc:
            raise UnsafeEndpoint("endpoint is not a valid URL") from exc
        if url.scheme not in (("https", "http") if self.allow_private else ("https",)):
            raise UnsafeEndpoint("endpoint must be an https:// URL")
        host = url.raw_host.decode("ascii")
        if not host or url.userinfo:
            raise UnsafeEndpoint("endpoint must name a host, without credentials")
        if self.allow_private:
            return CheckedEndpoint(host, ())
        if url.port not in (None, HTTPS_PORT):  # None: the scheme's own, 443
            raise UnsafeEndpoint("endpoint must be on port 443")
        if not self.allows_host(host):
            raise UnsafeEndpoint("endpoint must be at a browser push service (PUSH_ALLOWED_HOSTS)")
        try:
            addresses = [str(ipaddress.ip_address(host))]  # a literal: nothing to resolve
        except ValueError:
            try:
                addresses = list(await self.resolve(host, HTTPS_PORT))
            except (OSError, TimeoutError, UnicodeError) as exc:
                raise UnsafeEndpoint("endpoint host does not resolve") from exc
        if not addresses:
            raise UnsafeEndpoint("endpoint host does not resolve")
        if not all(is_public(address) for address in addresses):
            raise UnsafeEndpoint("endpoint must be on a public address")
        return CheckedEndpoint(host, tuple(addresses))

    def allows_host(self, host: str) -> bool:
        name = host.rstrip(".").lower()
        for allowed in self.allowed_hosts:
            if allowed == "*" or allowed == name:
                return True
            if allowed.startswith("*.") and name.endswith(allowed[1:]):
                return True
        return False


def endpoint_origin(endpoint: str) -> str:
    """What may be logged of an endpoint: its origin. The path is the capability."""
    parts = urlsplit(endpoint)
    return f"{parts.scheme}://{parts.hostname or ''}"


def is_public(address: str) -> bool:
    """Whether packets to `address` leave for the internet; an IPv6 address that carries an
    IPv4 one is judged as the IPv4 one (a translator or tunnel would deliver it there)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in LOCAL_NAT64 or ip in SITE_LOCAL:
            return False
        embedded = embedded_ipv4(ip)
        if embedded:
            return all(_is_global(inner) for inner in embedded)
    return _is_global(ip)


def embedded_ipv4(ip: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, ...]:
    """The IPv4 addresses an IPv6 one carries (Teredo: its server and its client)."""
    if ip.ipv4_mapped is not None:
        return (ip.ipv4_mapped,)
    if ip in NAT64 or ip in IPV4_COMPATIBLE:
        return (ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF),)
    if ip.sixtofour is not None:
        return (ip.sixtofour,)
    if ip.teredo is not None:
        return ip.teredo
    return ()


def _is_global(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    # is_global is False for loopback, private, link-local, reserved, shared (CGNAT) space.
    return ip.is_global and not ip.is_multicast
