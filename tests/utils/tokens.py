"""Hand-made JWTs: valid ones signed with any key, expired, tampered and `alg: none`.

Written with hmac rather than a JWT library so that no library's refusal to produce a
bad token can hide what the server does with it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

_HASHES = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _segment(obj: dict[str, Any]) -> str:
    return b64url_encode(json.dumps(obj, separators=(",", ":")).encode())


def encode(payload: dict[str, Any], key: str, alg: str = "HS256") -> str:
    """A JWT signed with HMAC `alg` and `key`."""
    signing_input = f"{_segment({'alg': alg, 'typ': 'JWT'})}.{_segment(payload)}"
    digest = hmac.new(key.encode(), signing_input.encode(), _HASHES[alg]).digest()
    return f"{signing_input}.{b64url_encode(digest)}"


def alg_none(payload: dict[str, Any]) -> str:
    """An unsigned token: header {"alg": "none"}, the payload, an empty signature."""
    return f"{_segment({'alg': 'none', 'typ': 'JWT'})}.{_segment(payload)}."


def decode_unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(header, payload) of a JWT, without checking anything."""
    header, payload, _signature = token.split(".")
    return json.loads(b64url_decode(header)), json.loads(b64url_decode(payload))


def tamper(token: str, **changes: Any) -> str:
    """The same token with payload claims changed and the original signature kept."""
    header, _payload, signature = token.split(".")
    claims = decode_unverified(token)[1]
    claims.update(changes)
    return f"{header}.{_segment(claims)}.{signature}"


def claims(
    sub: int | str,
    role: str,
    salon_id: int | None = None,
    *,
    expires_in: float = 1800,
    **extra: Any,
) -> dict[str, Any]:
    """Access-token claims as the server issues them (see notes/interface.md)."""
    now = int(time.time())
    return {
        "sub": str(sub),
        "role": role,
        "salon_id": salon_id,
        "iat": now,
        "exp": now + int(expires_in),
        "typ": "access",
        **extra,
    }
