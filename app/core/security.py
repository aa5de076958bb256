"""Pure password and JWT functions: no database, no HTTP."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Literal

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from jwt import PyJWK

Role = Literal["superadmin", "admin", "customer"]
ROLES: frozenset[str] = frozenset({"superadmin", "admin", "customer"})
ALGORITHM = "HS256"
ACCESS = "access"
# Browser credentials: a stream token opens the principal's streams and nothing else (it may
# travel in a URL); a session token lives in an HttpOnly cookie set by POST /auth/session.
STREAM = "stream"
SESSION = "session"

_hasher = PasswordHasher()
# Verified against when the email is unknown, so both failures cost the same time.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


class InvalidToken(Exception):
    """The token is missing, malformed, expired, forged or of the wrong kind."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling, as the token says."""

    user_id: int
    role: Role
    salon_id: int | None
    expires_at: float


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def create_token(
    *,
    user_id: int,
    role: str,
    salon_id: int | None,
    secret: str,
    expires_in: timedelta,
    token_type: str = ACCESS,
) -> str:
    now = datetime.now(UTC)
    claims = {
        "sub": str(user_id),
        "role": role,
        "salon_id": salon_id,
        "typ": token_type,
        "iat": now,
        "exp": now + expires_in,
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


@lru_cache(maxsize=8)
def _signing_key(secret: str) -> PyJWK:
    """The secret as a prepared HS256 key: PyJWT otherwise re-inspects a plain string key
    on every decode, a tenth of what opening a stream costs."""
    encoded = base64.urlsafe_b64encode(secret.encode()).rstrip(b"=").decode()
    return PyJWK({"kty": "oct", "k": encoded}, algorithm=ALGORITHM)


def decode_token(token: str, *, secret: str, token_type: str = ACCESS) -> Principal:
    """Check signature, expiry and shape; only HS256 is accepted, so `alg: none` never passes."""
    try:
        claims = jwt.decode(
            token,
            _signing_key(secret),
            algorithms=[ALGORITHM],
            options={"require": ["exp", "sub", "role"]},
        )
    except jwt.PyJWTError as exc:
        raise InvalidToken(str(exc)) from exc
    if claims.get("typ") != token_type:
        raise InvalidToken("wrong token type")
    role, salon_id, sub = claims.get("role"), claims.get("salon_id"), claims.get("sub")
    if role not in ROLES or not isinstance(sub, str) or not sub.isdigit():
        raise InvalidToken("malformed claims")
    if salon_id is not None and (isinstance(salon_id, bool) or not isinstance(salon_id, int)):
        raise InvalidToken("malformed salon_id")
    if role == "admin" and salon_id is None:
        raise InvalidToken("admin token without salon")
    return Principal(
        user_id=int(sub), role=role, salon_id=salon_id, expires_at=float(claims["exp"])
    )
