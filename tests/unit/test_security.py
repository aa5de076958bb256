"""Tokens and passwords: only what we signed, unexpired and well-formed, passes."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import jwt
import pytest

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
