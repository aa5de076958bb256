from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import AfterValidator, Field, StringConstraints

MAX_ID = 2**63 - 1
MAX_JSON_DEPTH = 32


def is_storable(value: str) -> bool:
    """Text every database here can keep: no NUL character, no lone surrogate."""
    if "\x00" in value:
        return False
    if value.isascii():
        return True
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def storable(value: str) -> str:
    if not is_storable(value):
        raise ValueError("must be Unicode text without NUL characters or lone surrogates")
    return value


def storable_json(value: Any, depth: int = 0) -> Any:
    """A JSON value the database and every client can read back: storable strings and keys,
    finite numbers, integers within 64 bits, at most MAX_JSON_DEPTH levels."""
    if depth > MAX_JSON_DEPTH:
        raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels")
    if isinstance(value, str):
        storable(value)
    elif isinstance(value, bool) or value is None:
        pass
    elif isinstance(value, int):
        if not -(2**63) <= value < 2**64:
            raise ValueError("integers must fit in 64 bits")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("numbers must be finite")
    elif isinstance(value, dict):
        for key, item in value.items():
            storable(key)
            storable_json(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            storable_json(item, depth + 1)
    return value


Storable = AfterValidator(storable)
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), Storable
]
