"""Pure password and JWT functions: no database, no HTTP."""

from __future__ import annotations

import binascii
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from jwt.utils import base64url_decode, base64url_encode

Role = Literal["superadmin", "admin", "customer"]
ROLES: frozenset[str] = frozenset({"superadmin", "admin", "customer"})
ALGORITHM = "HS256"
ACCESS = "access"
# Browser credentials: a stream token opens the principal's streams and nothing else (it may
# travel in a URL); a session token lives in an HttpOnly cookie set by POST /auth/session.
STREAM = "stream"
SESSION = "session"
CLOCK_LEEWAY = 5.0  # seconds an `iat` or `nbf` may be ahead of this server's clock

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


# A compact JWS: three base64url segments, one string per token (see `_verify`).
_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
MAX_TOKEN_CHARS = 4096
# Tokens whose signature and claims checked out, by (secret, token). A client presents the
# same token at every reconnect (and a benchmark's thousands of streams a few tokens):
# PyJWT's decode costs about 80 µs, a look-up here about 1. Bounded: the oldest entry
# goes first; a token pushed out is verified again, that is all.
MAX_VERIFIED = 4096
_PYJWT_OPTIONS: jwt.types.Options = {
    "require": ["exp"],
    # Times are checked below, on every call, cached or not: one place for the rule.
    "verify_exp": False,
    "verify_nbf": False,
    "verify_iat": False,
}


@dataclass(frozen=True, slots=True)
class _Verified:
    principal: Principal
    token_type: object  # the `typ` claim
    not_before: float  # the later of `nbf` and `iat`


_verified: dict[tuple[str, str], _Verified] = {}


def decode_token(token: str, *, secret: str, token_type: str = ACCESS) -> Principal:
    """The token's principal if we signed it (HS256 only: `alg: none` never passes), it is
    of `token_type`, and it is valid now; InvalidToken otherwise."""
    key = (secret, token)
    verified = _verified.get(key)
    if verified is None:
        verified = _verify(token, secret)
        if len(_verified) >= MAX_VERIFIED:
            _verified.pop(next(iter(_verified)), None)
        _verified[key] = verified
    now = time.time()
    if verified.principal.expires_at <= now:
        raise InvalidToken("token expired")
    if verified.not_before > now + CLOCK_LEEWAY:
        raise InvalidToken("token not valid yet")
    if verified.token_type != token_type:
        raise InvalidToken("wrong token type")
    return verified.principal


def _verify(token: str, secret: str) -> _Verified:
    """Signature and algorithm by PyJWT; the string's shape and the claims' by us."""
    if len(token) > MAX_TOKEN_CHARS or not _COMPACT_JWS.fullmatch(token):
        raise InvalidToken("malformed token")
    # One encoding per signature: base64url leaves spare bits in the last character, and a
    # lenient decoder would let a variant pass as another string (and another cache key).
    signature = token.rpartition(".")[2]
    try:
        canonical = base64url_encode(base64url_decode(signature)).decode() == signature
    except (ValueError, binascii.Error) as exc:
        raise InvalidToken("malformed signature") from exc
    if not canonical:
        raise InvalidToken("malformed signature")
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM], options=_PYJWT_OPTIONS)
    except jwt.InvalidTokenError as exc:
        raise InvalidToken(str(exc)) from exc
    exp, iat, nbf = _seconds(claims, "exp"), _seconds(claims, "iat", 0), _seconds(claims, "nbf", 0)
    role, salon_id, sub = claims.get("role"), claims.get("salon_id"), claims.get("sub")
    if role not in ROLES or not isinstance(sub, str) or not (sub.isascii() and sub.isdigit()):
        raise InvalidToken("malformed claims")
    if salon_id is not None and (isinstance(salon_id, bool) or not isinstance(salon_id, int)):
        raise InvalidToken("malformed salon_id")
    if role == "admin" and salon_id is None:
        raise InvalidToken("admin token without salon")
    principal = Principal(user_id=int(sub), role=role, salon_id=salon_id, expires_at=exp)
    return _Verified(principal, claims.get("typ"), max(iat, nbf))


def _seconds(claims: dict[str, Any], name: str, default: float | None = None) -> float:
    """A time claim (seconds since the epoch); InvalidToken if it is missing or not a number."""
    value = claims.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidToken(f"{name} must be a number")
    return float(value)
