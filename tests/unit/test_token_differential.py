"""Our token check (app/core/security.py: the shape, header and signature by hand around
PyJWT's HMAC, then our claim rules) against `jwt.decode` over generated tokens: the same
accept or refuse, and the same principal.

The reference is `jwt.decode` (HS256 only, `exp` required, CLOCK_LEEWAY) followed by the
same claim rules (`verified_claims`: types, role, subject, salon) and the two rules we hold
on purpose where PyJWT is laxer: no leeway on the expiry (a stream ends when its credential
does), and the token type asked for. Time is frozen for both. Not generated, because we
refuse them on purpose where PyJWT accepts (tests/unit/test_security.py has each):
base64 padding or a non-canonical signature (one string per token: the cache's key),
`crit`/`b64` headers, claims that are not UTF-8 JSON.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

import jwt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jwt.utils import base64url_encode

from app.core import security
from app.core.security import ACCESS, CLOCK_LEEWAY, InvalidToken, Principal, decode_token

SECRET = "differential-test-secret-that-is-long-enough"
NOW = 1_900_000_000.25  # a fractional second: PyJWT compares whole ones


class _Clock:
    @staticmethod
    def time() -> float:
        return NOW


class _FrozenDatetime(datetime):
    @classmethod
    def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
        return datetime.fromtimestamp(NOW, tz or UTC)


@pytest.fixture(autouse=True)
def frozen_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(security, "time", _Clock)
    monkeypatch.setattr(jwt.api_jwt, "datetime", _FrozenDatetime)


EDGES = [-3600, -6, -5.5, -5, -4.75, -1, -0.5, -0.25, 0, 0.25, 0.5, 0.75, 1, 4.5, 4.75, 5, 5.25]
EDGES += [5.75, 6, 3600]
times = st.one_of(
    st.sampled_from(EDGES).map(lambda offset: NOW + offset),
    st.sampled_from(EDGES).map(lambda offset: int(NOW + offset)),
    st.floats(-10, 10).map(lambda offset: NOW + offset),
)
odd = st.one_of(
    st.none(),
    st.booleans(),
    st.text(max_size=5),
    st.just(str(int(NOW) + 60)),  # a number in a string
    st.lists(st.integers(), max_size=2),
    st.integers(-(2**70), 2**70),
    st.just(1e300),
)
MISSING = object()


def claim(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(values, odd, st.just(MISSING))


claims = st.fixed_dictionaries(
    {
        "exp": st.one_of(times, times, claim(times)),
        "iat": claim(times),
        "nbf": claim(times),
        "sub": claim(st.sampled_from(["7", "0", "٣", " 7", "99999999999999999999"])),
        "role": claim(st.sampled_from(["admin", "customer", "superadmin", "root"])),
        "salon_id": claim(st.sampled_from([None, 3, 0, -1, "3"])),
        "typ": claim(st.sampled_from(["access", "stream", "session"])),
        "sid": claim(st.sampled_from(["s1", "", "x" * 65])),
        "aud": claim(st.sampled_from(["", "api", ["api"], []])),
        "jti": claim(st.sampled_from(["j", 1])),
        "iss": claim(st.sampled_from(["salon", 1])),
        "extra": claim(st.dictionaries(st.text(max_size=3), st.integers(), max_size=2)),
    }
).map(lambda drawn: {k: v for k, v in drawn.items() if v is not MISSING})
headers = st.fixed_dictionaries(
    {},
    optional={
        "typ": st.sampled_from(["JWT", "at+jwt", 1]),
        "kid": st.sampled_from(["k1", 1, None]),
        "cty": st.just("JWT"),
        "x5u": st.just("https://example.test/key"),
    },
)


def reference(token: str) -> Principal | None:
    try:
        decoded = jwt.decode(
            token,
            SECRET,
            algorithms=["HS256"],
            options={"require": ["exp"]},
            leeway=CLOCK_LEEWAY,
        )
        verified = security.verified_claims(decoded)
    except (jwt.InvalidTokenError, InvalidToken):
        return None
    if verified.principal.expires_at <= NOW or verified.token_type != ACCESS:
        return None
    return verified.principal


def ours(token: str) -> Principal | None:
    try:
        return decode_token(token, secret=SECRET, token_type=ACCESS)
    except InvalidToken:
        return None


@settings(
    max_examples=400,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(claims=claims, header=headers, key=st.sampled_from([SECRET, SECRET, "another-" + SECRET]))
def test_our_check_gives_jwt_decodes_verdict_and_claims(
    claims: dict[str, Any], header: dict[str, Any], key: str
) -> None:
    token = sign({"alg": "HS256", **header}, claims, key)
    assert ours(token) == reference(token), (claims, header)


def sign(header: dict[str, Any], claims: dict[str, Any], key: str) -> str:
    """A compact HS256 JWS of whatever header and claims (jwt.encode refuses some)."""
    signing_input = b".".join(
        base64url_encode(json.dumps(part, separators=(",", ":")).encode())
        for part in (header, claims)
    )
    mac = hmac.new(key.encode(), signing_input, hashlib.sha256).digest()
    return (signing_input + b"." + base64url_encode(mac)).decode()


def test_the_generated_tokens_include_accepted_ones_and_every_edge() -> None:
    """The differential means something only if both verdicts occur, at the time edges."""
    verdicts = set()
    for offset in (-0.25, 0.25, 4.75, 5.25, 5.75):
        for name in ("exp", "nbf", "iat"):
            base = {"sub": "7", "role": "customer", "typ": "access", "exp": NOW + 60}
            token = sign({"alg": "HS256"}, {**base, name: NOW + offset}, SECRET)
            assert ours(token) == reference(token), (name, offset)
            verdicts.add(ours(token) is None)
    assert verdicts == {True, False}
