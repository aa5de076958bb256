"""The server's VAPID identity (RFC 8292), through py-vapid; the key file is made once."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02, VapidException, b64urlencode

from app.core.private_files import create_owner_only, keep_owner_only

logger = logging.getLogger(__name__)

VAPID_KEY_FILE = ".salon-vapid"
# A signed header is reused for an origin until an hour before its `exp` (12 h later).
TOKEN_LIFETIME = 12 * 3600
TOKEN_REUSE = TOKEN_LIFETIME - 3600


class VapidKey:
    def __init__(self, private_key: ec.EllipticCurvePrivateKey, subject: str) -> None:
        if not isinstance(private_key.curve, ec.SECP256R1):
            raise ValueError("VAPID_PRIVATE_KEY must be a P-256 key")
        self._vapid = Vapid02(private_key)
        self.subject = subject
        point = private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        self.public_key: str = b64urlencode(point)  # the browsers' applicationServerKey
        self._headers: dict[str, tuple[str, float]] = {}
        try:  # py-vapid checks the subject when signing: fail at start, not at each push
            self.authorization("https://push.example")
        except VapidException as exc:
            raise ValueError(f"VAPID_SUBJECT {subject!r} is refused: {exc}") from exc
        self._headers.clear()

    def authorization(self, endpoint: str) -> str:
        """`vapid t=<JWT ES256>, k=<public key>` for this endpoint's push service."""
        parts = urlsplit(endpoint)
        audience = f"{parts.scheme}://{parts.netloc}"
        now = time.time()
        cached = self._headers.get(audience)
        if cached is not None and cached[1] > now:
            return cached[0]
        claims = {"aud": audience, "sub": self.subject, "exp": int(now) + TOKEN_LIFETIME}
        header = str(self._vapid.sign(claims)["Authorization"])
        if len(self._headers) > 1000:  # push services are few; never grow without bound
            self._headers.clear()
        self._headers[audience] = (header, now + TOKEN_REUSE)
        return header


def load_vapid_key(configured: str, subject: str, key_file: Path | None = None) -> VapidKey:
    """VAPID_PRIVATE_KEY as PEM or base64url raw; unset: the key file, created once."""
    text = configured.strip()
    if not text:
        text = _load_or_create_key_file(key_file or Path(VAPID_KEY_FILE))
    if "-----BEGIN" in text:
        key = serialization.load_pem_private_key(text.encode(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError("VAPID_PRIVATE_KEY must be an EC (P-256) key")
        return VapidKey(key, subject)
    vapid = Vapid02.from_raw(text.encode())
    return VapidKey(vapid.private_key, subject)


def _load_or_create_key_file(path: Path) -> str:
    """Read the key file (made owner-only if others could read it), or write a new key into
    it atomically (0600, first writer wins: several workers starting together end up with
    the same key)."""
    if not path.exists():
        pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        fd = create_owner_only(temporary)
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(pem)
            os.link(temporary, path)  # fails if another process made it meanwhile
            logger.warning(
                "VAPID_PRIVATE_KEY is not set: generated one and stored it in %s", path.resolve()
            )
        except FileExistsError:
            pass
        finally:
            temporary.unlink(missing_ok=True)
    keep_owner_only(path)
    return path.read_text()
