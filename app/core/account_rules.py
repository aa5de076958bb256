"""What an account's email and password must be, decided here for registration and login.

Emails are compared by one key, `email_key`, used when an account is stored and when one
signs in: NFKC folds compatibility look-alikes onto the plain letter (fullwidth `U+FF49` → `i`,
the long s `U+017F` → `s`) and composes decomposed (NFD) text, then the address is lower-cased
and composed again. A character that still carries a combining mark after that has no
precomposed form (`İ` lower-cases to `i` + U+0307): it is refused at registration, since
it could only look like an existing address, never be one's own plain spelling.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache
from importlib import resources

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 128
COMMON_PASSWORDS = "common_passwords.txt"


def email_key(address: str) -> str:
    """The form every email is stored and looked up in."""
    folded = unicodedata.normalize("NFKC", address.strip()).lower()
    return unicodedata.normalize("NFKC", folded)


def registrable_email(address: str) -> str:
    """`email_key(address)`, or ValueError if it holds a mark no letter absorbs."""
    key = email_key(address)
    if any(unicodedata.combining(char) for char in key):
        raise ValueError("must not contain combining marks (look-alikes of other addresses)")
    return key


def acceptable_password(password: str) -> str:
    """The password, or ValueError naming the rule it breaks (the length is the schema's)."""
    if not password.strip():
        raise ValueError("must not be only whitespace")
    if password.strip().lower() in _common_passwords():
        raise ValueError("is one of the most common passwords: choose another")
    return password


@lru_cache(maxsize=1)
def _common_passwords() -> frozenset[str]:
    text = resources.files("app.core").joinpath(COMMON_PASSWORDS).read_text("utf-8")
    return frozenset(line for line in text.splitlines() if line and not line.startswith("#"))
