"""The SSRF rule: the server posts only to https:// endpoints on public addresses.

A user chooses the endpoint, so without this rule a subscription could make the server
post to its own network (a metadata service, an admin port). The host is resolved and
every address it has must be public, at subscribe time and again before each send
(DNS can change). Redirects are never followed (the sender's client has them off).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

RESOLVE_TIMEOUT = 5.0


class UnsafeEndpoint(ValueError):
    """An endpoint the server must not post to; the message says why (never the URL)."""


def endpoint_origin(endpoint: str) -> str:
    """What may be logged of an endpoint: its origin. The path is the capability."""
    parts = urlsplit(endpoint)
    return f"{parts.scheme}://{parts.hostname or ''}"


async def check_endpoint(endpoint: str, allow_private: bool) -> None:
    """Raise UnsafeEndpoint unless `endpoint` is an https:// URL whose host resolves to
    public addresses only (`allow_private`: http:// and any address are allowed too)."""
    try:
        parts = urlsplit(endpoint)
        port = parts.port
    except ValueError as exc:
        raise UnsafeEndpoint("endpoint is not a valid URL") from exc
    schemes = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in schemes:
        raise UnsafeEndpoint("endpoint must be an https:// URL")
    host = parts.hostname
    if not host or parts.username is not None or parts.password is not None:
        raise UnsafeEndpoint("endpoint must name a host, without credentials")
    if allow_private:
        return
    port = port or 443
    try:
        infos = await asyncio.wait_for(
            asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM),
            RESOLVE_TIMEOUT,
        )
    except (OSError, TimeoutError, UnicodeError) as exc:
        raise UnsafeEndpoint("endpoint host does not resolve") from exc
    addresses = {str(info[4][0]) for info in infos}
    if not addresses:
        raise UnsafeEndpoint("endpoint host does not resolve")
    for address in addresses:
        if not _is_public(address):
            raise UnsafeEndpoint("endpoint must be on a public address")


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    # is_global is False for loopback, private, link-local, reserved, shared (CGNAT) space.
    return ip.is_global and not ip.is_multicast
