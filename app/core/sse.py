"""WHATWG EventSource framing: bytes built once, written to every recipient as they are."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson


def event_frame(event: str, data: bytes, event_id: int | None = None) -> bytes:
    """One SSE event; `data` must be a single line (compact JSON is)."""
    head = f"event: {event}\n" if event_id is None else f"event: {event}\nid: {event_id}\n"
    return b"".join((head.encode(), b"data: ", data, b"\n\n"))


def json_frame(event: str, payload: dict[str, Any], event_id: int | None = None) -> bytes:
    return event_frame(event, orjson.dumps(payload), event_id)


def retry_frame(retry_ms: int) -> bytes:
    return f"retry: {retry_ms}\n\n".encode()


def ping_frame() -> bytes:
    return json_frame("ping", {"timestamp": now_iso()})


def now_iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")
