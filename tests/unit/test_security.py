"""Tokens and passwords: only what we signed, unexpired and well-formed, passes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import timedelta

import jwt
import pytest

from app.core import security
from app.core.security import (
    InvalidToken,
    create_token,
    decode_token,
    hash_password,
    verify_password,
)

SECRET = "unit-test-secret-that-is-long-enough-for-hs256"


def token(**overrides) -> str:
    args = {
        "user_id": 3,
        "role": "admin",
        "salon_id": 7,
        "secret": SECRET,
        "expires_in": timedelta(minutes=5),
    }
    return create_token(**{**args, **overrides})


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_round_trip_gives_the_principal():
    principal = decode_token(token(), secret=SECRET)
    assert (principal.user_id, principal.role, principal.salon_id) == (3, "admin", 7)


@pytest.mark.parametrize(
    "bad",
    [
        token(expires_in=timedelta(seconds=-1)),
        token(secret="another-secret-that-is-long-enough-for-hs256!"),
        token(token_type="stream"),
        token(role="root"),
        token(role="admin", salon_id=None),
        "not.a.token",
        "",
    ],
    ids=["expired", "other-key", "other-type", "unknown-role", "admin-no-salon", "junk", "empty"],
)
def test_invalid_tokens_are_refused(bad):
    with pytest.raises(InvalidToken):
        decode_token(bad, secret=SECRET)


def test_alg_none_is_refused():
    claims = jwt.decode(token(), options={"verify_signature": False})
    unsigned = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}."
    with pytest.raises(InvalidToken):
        decode_token(unsigned, secret=SECRET)


def test_tampered_payload_is_refused():
    header, payload, signature = token(role="customer", salon_id=None).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    forged = f"{header}.{b64({**claims, 'role': 'superadmin'})}.{signature}"
    with pytest.raises(InvalidToken):
        decode_token(forged, secret=SECRET)


def test_password_hash_verifies_only_the_password():
    stored = hash_password("correct horse")
    assert stored.startswith("$argon2")
    assert verify_password("correct horse", stored)
    assert not verify_password("wrong horse", stored)
    assert not verify_password("correct horse", None)


def signed(header: dict, claims: dict, secret: str = SECRET) -> str:
    """A token signed with our key, whatever its content (to test what is checked after)."""
    return jwt.encode(claims, secret, algorithm="HS256", headers=header)


def claims_of(**overrides) -> dict:
    base = jwt.decode(token(), options={"verify_signature": False})
    return {**base, **overrides}


@pytest.mark.parametrize(
    "claims",
    [
        claims_of(exp="2999999999"),
        claims_of(exp=True),
        claims_of(nbf=4102444800),  # 2100: not valid yet
        claims_of(iat=4102444800),
        claims_of(sub="²³"),  # digits, but not ASCII ones: refused, not a crash
        {k: v for k, v in claims_of().items() if k != "exp"},
        claims_of(role=["admin"]),  # not a string: refused, not a crash
        claims_of(typ={"access": 1}),
    ],
    ids=[
        "exp-string",
        "exp-bool",
        "nbf-future",
        "iat-future",
        "sub-unicode-digits",
        "no-exp",
        "role-list",
        "typ-object",
    ],
)
def test_well_signed_tokens_with_bad_claims_are_refused(claims):
    with pytest.raises(InvalidToken):
        decode_token(signed({}, claims), secret=SECRET)


@pytest.mark.parametrize(
    "header",
    [{"crit": ["exp"]}, {"b64": False, "crit": ["b64"]}],
    ids=["crit", "b64"],
)
def test_header_parameters_we_never_issue_are_refused(header):
    with pytest.raises(InvalidToken):
        decode_token(signed(header, claims_of()), secret=SECRET)


def test_only_hs256_is_accepted():
    # Signed with our key, but its header names another algorithm.
    signing_input = f"{b64({'alg': 'HS512', 'typ': 'JWT'})}.{b64(claims_of())}"
    mac = hmac.new(SECRET.encode(), signing_input.encode(), hashlib.sha256).digest()
    other = f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
    with pytest.raises(InvalidToken):
        decode_token(other, secret=SECRET)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t + "=",  # padding
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # another signature
        lambda t: t.replace(".", "..", 1),
        lambda t: t + ".x",
        lambda t: t[:10] + "!" + t[11:],  # outside the base64url alphabet
        lambda t: "x" * 5000,
    ],
    ids=["padding", "signature", "empty-segment", "four-segments", "bad-character", "huge"],
)
def test_variants_of_a_valid_token_are_refused(mangle):
    with pytest.raises(InvalidToken):
        decode_token(mangle(token()), secret=SECRET)


def test_a_signature_has_one_encoding():
    # The last base64url character of a 32-byte signature carries 2 unused bits: flipping
    # them decodes to the same bytes, so a lenient decoder would accept another string.
    good = token()
    head, _, signature = good.rpartition(".")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    index = alphabet.index(signature[-1])
    variant = f"{head}.{signature[:-1]}{alphabet[index ^ 1]}"
    assert base64.urlsafe_b64decode(variant.rpartition(".")[2] + "=") == base64.urlsafe_b64decode(
        signature + "="
    )
    with pytest.raises(InvalidToken):
        decode_token(variant, secret=SECRET)


def test_a_cached_token_is_refused_once_it_expires():
    short = token(expires_in=timedelta(seconds=1))
    principal = decode_token(short, secret=SECRET)  # verified, and remembered
    assert decode_token(short, secret=SECRET) == principal
    time.sleep(max(0.0, principal.expires_at - time.time()) + 0.01)
    with pytest.raises(InvalidToken, match="expired"):
        decode_token(short, secret=SECRET)


def test_a_cached_token_still_needs_the_key_and_the_type():
    good = token()
    decode_token(good, secret=SECRET)
    with pytest.raises(InvalidToken):
        decode_token(good, secret="another-secret-that-is-long-enough-for-hs256!")
    with pytest.raises(InvalidToken, match="wrong token type"):
        decode_token(good, secret=SECRET, token_type="stream")


def test_the_cache_of_verified_tokens_is_bounded():
    tokens = [token(user_id=n) for n in range(security.MAX_VERIFIED + 50)]
    for n, each in enumerate(tokens):
        assert decode_token(each, secret=SECRET).user_id == n
    assert len(security._verified) == security.MAX_VERIFIED
    assert decode_token(tokens[0], secret=SECRET).user_id == 0  # pushed out: verified again
