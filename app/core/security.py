"""Pure password and JWT functions: no database, no HTTP."""

from __future__ import annotations

import binascii
import math
import re
import secrets
import sys
import time
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from typing import Any, Literal, cast

import jwt
import orjson
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
    issued_at: float = 0.0  # seconds since the epoch, to the millisecond
    sid: str | None = None  # the sign-in session a credential belongs to, when it has one


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
    sid: str | None = None,
) -> str:
    now = time.time()
    claims: dict[str, Any] = {
        "sub": str(user_id),
        "role": role,
        "salon_id": salon_id,
        "typ": token_type,
        # To the millisecond, rounded down: "issued before a revocation" is then exact for
        # every credential issued before it (a whole second would spare some issued just
        # before a logout, or refuse some issued just after).
        "iat": math.floor(now * 1000) / 1000,
        "exp": int(now + expires_in.total_seconds()),
    }
    if sid is not None:
        claims["sid"] = sid
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def new_session_id() -> str:
    return secrets.token_urlsafe(12)


# A compact JWS: three base64url segments, one string per token (see `_verify`).
_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
MAX_TOKEN_CHARS = 4096
MAX_SID_CHARS = 64
# Which algorithm a token's header may name is PyJWT's to say, from a registry holding
# HS256 alone: `none` and every other name are refused there.
_JWS = jwt.PyJWS(algorithms=[ALGORITHM])
# Header parameters that would change how a token is read (RFC 7515 `crit`, RFC 7797
# `b64`): we never issue them, so a token carrying one is not ours.
_UNSUPPORTED_HEADERS = ("crit", "b64")
# Tokens whose signature and claims checked out, by token, for one secret (a process has
# one; another empties it). A client presents the same token at every REST request and
# reconnect: a look-up costs about 0.5 µs against about 10 µs to verify. Bounded, and
# small: an entry holds ~0.6 KiB (the token string most of it), and 4,096 of them were a
# sixth of an idle stream's memory at 1,000 streams, each with its own token, for 10 µs
# saved per reconnect. The oldest entry goes first; a token pushed out is verified again.
MAX_VERIFIED = 256


@dataclass(frozen=True, slots=True)
class _Verified:
    principal: Principal
    token_type: object  # the `typ` claim
    not_before: float  # the later of `nbf` and `iat`


_verified: dict[str, _Verified] = {}
_verified_secret: list[str] = [""]  # the secret `_verified` holds tokens of


def decode_token(token: str, *, secret: str, token_type: str = ACCESS) -> Principal:
    """The token's principal if we signed it (HS256 only: `alg: none` never passes), it is
    of `token_type`, and it is valid now; InvalidToken otherwise."""
    if secret != _verified_secret[0]:
        _verified.clear()
        _verified_secret[0] = secret
    verified = _verified.get(token)
    if verified is None:
        verified = _verify(token, secret)
        if len(_verified) >= MAX_VERIFIED:
            _verified.pop(next(iter(_verified)), None)
        _verified[token] = verified
    now = time.time()
    if verified.principal.expires_at <= now:
        raise InvalidToken("token expired")
    if verified.not_before > now + CLOCK_LEEWAY:
        raise InvalidToken("token not valid yet")
    if verified.token_type != token_type:
        raise InvalidToken("wrong token type")
    return verified.principal


@lru_cache(maxsize=8)
def _signing_key(secret: str) -> Any:
    """The secret as PyJWT's HS256 prepares it (and checks it is no asymmetric key): once per
    secret, not per token (its checks cost more than the HMAC itself)."""
    return _JWS.get_algorithm_by_name(ALGORITHM).prepare_key(secret)


def _verify(token: str, secret: str) -> _Verified:
    """The algorithm (from the header) and the signature by PyJWT; the string's shape and
    the claims by us (`_signed_claims`, then `verified_claims`).

    Not `jwt.decode` nor `PyJWS.decode_complete`: they cost 55-70 µs per token against 8 here,
    in Python loops over each character (the alphabet check that our one regular expression
    makes in C) and in preparing the key at every call. tests/unit/test_token_differential.py
    holds this to `jwt.decode`'s verdicts over generated tokens."""
    return verified_claims(_signed_claims(token, secret))


def _signed_claims(token: str, secret: str) -> dict[str, Any]:
    """The claims of a token we signed, as a JSON object; InvalidToken otherwise."""
    if len(token) > MAX_TOKEN_CHARS or not _COMPACT_JWS.fullmatch(token):
        raise InvalidToken("malformed token")
    signing_input, _, signature_segment = token.rpartition(".")
    header_segment, _, payload_segment = signing_input.partition(".")
    try:
        header = orjson.loads(base64url_decode(header_segment))
        signature = base64url_decode(signature_segment)
    except (ValueError, binascii.Error) as exc:
        raise InvalidToken("malformed token") from exc
    # One encoding per signature: base64url leaves spare bits in the last character, and a
    # lenient decoder would let a variant pass as another string (and another cache key).
    # (A variant of the header or payload changes the signed bytes: the signature fails.)
    if base64url_encode(signature).decode() != signature_segment:
        raise InvalidToken("malformed signature")
    alg = header.get("alg") if isinstance(header, dict) else None
    if not isinstance(alg, str) or any(name in header for name in _UNSUPPORTED_HEADERS):
        raise InvalidToken("malformed header")
    if "kid" in header and not isinstance(header["kid"], str):
        raise InvalidToken("malformed header")  # as PyJWT
    try:
        algorithm = _JWS.get_algorithm_by_name(alg)
    except NotImplementedError as exc:
        raise InvalidToken(f"only {ALGORITHM} tokens are accepted") from exc
    if not algorithm.verify(signing_input.encode(), _signing_key(secret), signature):
        raise InvalidToken("signature verification failed")
    try:
        claims = orjson.loads(base64url_decode(payload_segment))
    except (ValueError, binascii.Error) as exc:
        raise InvalidToken("malformed claims") from exc
    if not isinstance(claims, dict):
        raise InvalidToken("malformed claims")
    return claims


def verified_claims(claims: dict[str, Any]) -> _Verified:
    """Our rules for the claims of a token whose signature checked out (whoever checked
    it): their types, the principal they name, and when the token starts being valid."""
    exp, iat, nbf = _seconds(claims, "exp"), _seconds(claims, "iat", 0), _seconds(claims, "nbf", 0)
    role, salon_id, sub = claims.get("role"), claims.get("salon_id"), claims.get("sub")
    if (
        not isinstance(role, str)
        or role not in ROLES
        or not isinstance(sub, str)
        or not (sub.isascii() and sub.isdigit())
    ):
        raise InvalidToken("malformed claims")
    if salon_id is not None and (isinstance(salon_id, bool) or not isinstance(salon_id, int)):
        raise InvalidToken("malformed salon_id")
    if role == "admin" and salon_id is None:
        raise InvalidToken("admin token without salon")
    sid = claims.get("sid")
    if sid is not None and not (isinstance(sid, str) and 0 < len(sid) <= MAX_SID_CHARS):
        raise InvalidToken("malformed sid")
    if claims.get("aud") or ("jti" in claims and not isinstance(claims["jti"], str)):
        raise InvalidToken("malformed claims")  # as PyJWT with no audience expected
    principal = Principal(
        user_id=int(sub),
        role=cast(Role, sys.intern(role)),  # one string per role, not one per cached token
        salon_id=salon_id,
        expires_at=exp,
        issued_at=iat,
        sid=sid,
    )
    token_type = claims.get("typ")
    if isinstance(token_type, str):
        token_type = sys.intern(token_type)
    # Whole seconds, as PyJWT compares `nbf` and `iat` (int() of each).
    return _Verified(principal, token_type, max(int(iat), int(nbf)))


def _seconds(claims: dict[str, Any], name: str, default: float | None = None) -> float:
    """A time claim (seconds since the epoch); InvalidToken if it is missing or not a number."""
    value = claims.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidToken(f"{name} must be a number")
    return float(value)
