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


def frames_as_json(chunk: bytes) -> list[str]:
    """Re-wrap SSE frames (as built above) as JSON texts `{"event", "id"?, "data"}`.

    Used by the WebSocket fallback; `data` is already JSON and is spliced in, not re-parsed.
    """
    messages = []
    for frame in chunk.split(b"\n\n"):
        if not frame:
            continue
        fields = dict(line.split(b": ", 1) for line in frame.split(b"\n") if b": " in line)
        if b"event" not in fields:
            continue  # `retry:`: for EventSource only
        event_id = fields.get(b"id")
        head = b'{"event":"' + fields[b"event"] + b'",'
        if event_id is not None:
            head += b'"id":' + event_id + b","
        messages.append((head + b'"data":' + fields[b"data"] + b"}").decode())
    return messages
