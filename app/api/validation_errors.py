"""What a 422 says about a request that failed validation, bounded whatever was sent.

FastAPI's answer echoes each error's `input`, and an error about the whole body echoes the
whole body: a 4 MB body missing three fields was answered with three copies of it. Every
path that answers with validation errors (FastAPI's handler, and whatever quotes pydantic's
messages) goes through `bounded_errors`, so no answer grows with what the client sent.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi.encoders import jsonable_encoder

MAX_ERRORS = 20
MAX_INPUT_BYTES = 256  # an error's `input` (or `ctx`) as JSON text; past it, that text cut
MAX_LOC_ITEM_BYTES = 64
MAX_MSG_BYTES = 256
MAX_ERROR_ANSWER_BYTES = 16 * 1024
# No schema here is half as deep; the bound keeps any one error well inside the answer.
MAX_LOC_ITEMS = 16
ELLIPSIS = "…"
_ENVELOPE = len(b'{"detail":[]}')


def json_bytes(content: Any) -> bytes:
    """JSON as Starlette writes it (compact, UTF-8), except that a lone surrogate, which
    UTF-8 can't carry, is written as its `\\uXXXX` escape instead of failing."""
    return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode(
        "utf-8", "backslashreplace"
    )


def bounded_errors(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """FastAPI's errors as it writes them, at most MAX_ERRORS of them, each cut to its
    bounds, and only as many as `{"detail": [...]}` holds in MAX_ERROR_ANSWER_BYTES."""
    values: dict[int, Any] = {}  # errors about the same object echo it once each: judged once
    detail: list[dict[str, Any]] = []
    size = _ENVELOPE
    for error in errors[:MAX_ERRORS]:
        item = _bounded_error(error, values)
        size += len(json_bytes(item)) + (1 if detail else 0)
        if size > MAX_ERROR_ANSWER_BYTES:
            break
        detail.append(item)
    return detail


def cut(text: str, limit: int) -> str:
    """`text` when its UTF-8 fits in `limit` bytes, else its start and `…` within them."""
    data = text.encode("utf-8", "surrogatepass")
    if len(data) <= limit:
        return text
    head = data[: limit - len(ELLIPSIS.encode())]
    while True:  # drop the bytes of a character cut in two (at most three)
        try:
            return head.decode("utf-8", "surrogatepass") + ELLIPSIS
        except UnicodeDecodeError:
            head = head[:-1]


def _bounded_error(error: Mapping[str, Any], values: dict[int, Any]) -> dict[str, Any]:
    item: dict[str, Any] = {}
    for key, value in error.items():
        if key == "loc":
            item[key] = [_loc_item(part) for part in list(value)[:MAX_LOC_ITEMS]]
        elif key in ("type", "msg"):
            item[key] = cut(str(value), MAX_MSG_BYTES)
        elif id(value) in values:
            item[key] = values[id(value)]
        else:
            item[key] = values[id(value)] = _bounded_value(value)
    return item


def _loc_item(part: Any) -> Any:
    return part if isinstance(part, int) else cut(str(part), MAX_LOC_ITEM_BYTES)


def _bounded_value(value: Any) -> Any:
    """The value as FastAPI writes it when its JSON text fits in MAX_INPUT_BYTES, else that
    text cut (a string)."""
    safe = json_safe(jsonable_encoder(value))
    text = json_bytes(safe)
    if len(text) <= MAX_INPUT_BYTES:
        return safe
    return cut(text[: MAX_INPUT_BYTES + 4].decode("utf-8", "ignore"), MAX_INPUT_BYTES)


def json_safe(value: Any) -> Any:
    """What JSON can't carry made text: NaN and the infinities become strings."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value
