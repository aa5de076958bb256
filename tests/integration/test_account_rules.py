"""Passwords a guesser tries first are refused, and an email has one spelling: look-alikes
don't make a second account, and a decomposed (NFD) address signs in."""

from __future__ import annotations

import unicodedata
import uuid

import httpx
import pytest

from tests.utils.factories import API, Api

REGISTER = f"{API}/auth/register"


async def _register(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post(
        REGISTER, json={"email": email, "password": password, "full_name": "Someone"}
    )


@pytest.mark.parametrize(
    ("password", "rule"),
    [
        ("password", "at least 10 characters"),
        ("12345678", "at least 10 characters"),
        (" " * 12, "only whitespace"),
        ("\t \u3000 \n  \t  ", "only whitespace"),
        ("1234567890", "most common passwords"),
        ("QwertyUiop", "most common passwords"),  # the list is compared case-insensitively
        ("password123", "most common passwords"),
    ],
)
async def test_a_weak_password_is_a_422_naming_the_rule(
    client: httpx.AsyncClient, password: str, rule: str
) -> None:
    email = f"weak-{uuid.uuid4().hex[:10]}@example.com"
    response = await _register(client, email, password)
    assert response.status_code == 422, response.text
    assert rule in response.text, response.text
    # Nothing was created: the address is still free for a good password.
    assert (
        await _register(client, email, "a-much-better-one-" + uuid.uuid4().hex[:6])
    ).status_code == 201


async def test_a_decomposed_address_registers_and_signs_in_in_either_form(api: Api) -> None:
    local = f"jos\u00e9-{uuid.uuid4().hex[:8]}"
    composed = f"{local}@example.com"
    decomposed = unicodedata.normalize("NFD", composed)
    assert decomposed != composed
    password = "correct-horse-" + uuid.uuid4().hex[:6]
    created = await _register(api.client, decomposed, password)
    assert created.status_code == 201, created.text
    for spelling in (decomposed, composed, composed.upper()):
        response = await api.login_response(spelling, password)
        assert response.status_code == 200, (spelling, response.text)
        assert (await api.me(response.json()["access_token"]))["id"] == created.json()["id"]


@pytest.mark.parametrize(
    ("original", "look_alike", "status"),
    [
        ("ivan", "\uff49van", 409),  # fullwidth i: the same address once folded
        ("sam", "\u017fam", 409),  # long s
        ("ivan", "\u0130van", 422),  # capital I with a dot: no plain spelling, refused
    ],
)
async def test_a_look_alike_address_does_not_make_a_second_account(
    api: Api, original: str, look_alike: str, status: int
) -> None:
    suffix = f"-{uuid.uuid4().hex[:8]}@example.com"
    password = "correct-horse-" + uuid.uuid4().hex[:6]
    first = await _register(api.client, original + suffix, password)
    assert first.status_code == 201, first.text
    second = await _register(api.client, look_alike + suffix, "another-one-" + uuid.uuid4().hex)
    assert second.status_code == status, second.text
    assert "detail" in second.json()
    if status == 409:  # the look-alike spelling signs in to the one account, nobody else's
        token = await api.login(look_alike + suffix, password)
        assert (await api.me(token))["id"] == first.json()["id"]
