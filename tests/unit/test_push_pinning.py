"""DNS rebinding against the push sender, in process: a name that answers a public address to
the check and 127.0.0.1 to whoever asks next. The sender must connect to the address it
checked, with the name kept for TLS (SNI, the certificate) and the Host header.

The push service here is the loopback one (tests/utils/push_service.py) over HTTPS with a
certificate for fcm.googleapis.com; the "network" under the sender routes the public address
the name answered first to it, records every connection asked of it, and refuses the rest.
"""

from __future__ import annotations

import base64
import datetime
import ssl
from collections.abc import Iterable
from pathlib import Path

import httpcore
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from app.core.config import PUSH_SERVICES
from app.push.endpoints import EndpointRule
from app.push.sender import PushSender, Target
from app.push.vapid import load_vapid_key
from tests.utils.push_service import loopback_push_service

HOST = "fcm.googleapis.com"
PUBLIC = "142.250.74.42"  # what the name answers the first time


class RoutedNetwork(httpcore.AsyncNetworkBackend):
    """Connections to `routes`' addresses reach a local port; any other is refused."""

    def __init__(self, routes: dict[tuple[str, int], int]) -> None:
        self.routes = routes
        self.dials: list[tuple[str, int]] = []
        self.real = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        self.dials.append((host, port))
        if (host, port) not in self.routes:
            raise httpcore.ConnectError(f"no route to {host}:{port} in this test")
        return await self.real.connect_tcp("127.0.0.1", self.routes[host, port], timeout)

    async def sleep(self, seconds: float) -> None:
        await self.real.sleep(seconds)


async def test_the_sender_connects_to_the_checked_address_not_a_second_answer(
    tmp_path: Path,
) -> None:
    lookups: list[str] = []

    async def rebinding(host: str, port: int) -> list[str]:
        lookups.append(host)
        return [PUBLIC] if len(lookups) == 1 else ["127.0.0.1"]

    raw_key = ec.generate_private_key(ec.SECP256R1()).private_numbers().private_value
    vapid = load_vapid_key(
        base64.urlsafe_b64encode(raw_key.to_bytes(32)).rstrip(b"=").decode(), "mailto:a@b.example"
    )
    certificate, key = _certificate_for(HOST, tmp_path)
    async with loopback_push_service(
        vapid.public_key, tls=(certificate, key), public_origin=f"https://{HOST}"
    ) as service:
        network = RoutedNetwork({(PUBLIC, 443): service.port})
        sender = PushSender(
            vapid,
            ttl=60,
            timeout=5,
            rule=EndpointRule(PUSH_SERVICES, resolve=rebinding),
            concurrency=2,
            network=network,
            verify=ssl.create_default_context(cafile=str(certificate)),
        )
        try:
            browser = service.new_subscription()
            keys = browser.to_json()["keys"]
            target = Target(browser.endpoint, keys["p256dh"], keys["auth"])
            assert browser.endpoint.startswith(f"https://{HOST}/push/")

            first = await sender.send(target, b'{"id": 1}', "normal")
            assert first.result == "delivered", first
            assert network.dials == [(PUBLIC, 443)]  # the checked address, named once
            [push] = service.pushes
            assert push.headers["host"] == HOST and push.payload == {"id": 1}

            # The name now answers 127.0.0.1: the check refuses it, nothing is dialed.
            second = await sender.send(target, b'{"id": 2}', "normal")
            assert (second.result, second.detail) == (
                "failed",
                "endpoint must be on a public address",
            )
            assert network.dials == [(PUBLIC, 443)]
            assert lookups == [HOST, HOST]  # one look-up per send, the sender's own
            assert service.errors == []
        finally:
            await sender.aclose()


def _certificate_for(host: str, directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for `host` (its own authority) and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.UTC)
    public = key.public_key()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file
