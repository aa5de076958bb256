"""Latency, loss and duplicates from what the load generator recorded, computed after a
phase (outside its measuring window).

Two latencies per delivery: from the moment the POST was sent (`extra_data.sent_ns`, stamped
by the load generator in the body it sends, echoed back in the stored notification) and from
the server's `created_at` (which leaves out the POST's own queueing and handling).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from benchmarks.clients import SseStream


@dataclass(slots=True)
class Created:
    """One notification the server answered 201 for, as the load generator saw it."""

    created_at: float  # the server's created_at, epoch seconds
    sent_at: float | None  # extra_data.sent_ns as stored, epoch seconds
    recipient: int | None  # the index of its one recipient stream; None: every stream


def stamp(prefix: bytes, sent_ns: int) -> bytes:
    """A create body: `prefix` is a JSON object without its closing brace."""
    return b'%b,"extra_data":{"sent_ns":%d}}' % (prefix, sent_ns)


def created_from(obj: dict[str, Any], recipient: int | None) -> Created:
    extra = obj.get("extra_data") or {}
    sent_ns = extra.get("sent_ns")
    return Created(
        datetime.fromisoformat(obj["created_at"]).timestamp(),
        None if sent_ns is None else sent_ns / 1e9,
        recipient,
    )


def recording(
    created: dict[int, Created], errors: list[int], recipients: list[int | None], batch: bool
) -> Callable[[int, bytes], None]:
    """The answer to a create (`batch`: to a batch of them, one recipient each): what was
    stored goes into `created`, or its notifications are counted in `errors[0]`."""

    def on_answer(status: int, body: bytes) -> None:
        if status != 201:
            errors[0] += len(recipients)
            return
        answer = orjson.loads(body)
        stored = answer["notifications"] if batch else [answer]
        for obj, recipient in zip(stored, recipients, strict=True):
            created[obj["id"]] = created_from(obj, recipient)

    return on_answer


def percentile(values: list[float], q: float) -> float | None:
    """`values` sorted."""
    if not values:
        return None
    return values[min(len(values) - 1, int(q * len(values)))]


def ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(1000 * seconds, 2)


def spread(prefix: str, seconds: list[float]) -> dict[str, float | None]:
    """p50, p99 and max of `seconds` (sorted here), in ms, keys `<prefix>p50_ms` etc."""
    seconds.sort()
    return {
        f"{prefix}p50_ms": ms(percentile(seconds, 0.5)),
        f"{prefix}p99_ms": ms(percentile(seconds, 0.99)),
        f"{prefix}max_ms": ms(seconds[-1] if seconds else None),
    }


def analyse(
    streams: list[SseStream],
    created: dict[int, Created],
    send_start: float,
    send_end: float,
) -> dict[str, Any]:
    """Latency to receipt (from creation and from send), loss, duplicates, misroutes."""
    from_created: list[float] = []
    from_send: list[float] = []
    received = duplicates = misrouted = in_window = 0
    for stream in streams:
        seen: set[int] = set()
        index = stream.index
        for t, ids in stream.recs:
            for raw in ids:
                i = int(raw)
                c = created.get(i)
                if c is None:
                    continue
                if c.recipient is not None and c.recipient != index:
                    misrouted += 1
                    continue
                if i in seen:
                    duplicates += 1
                    continue
                seen.add(i)
                received += 1
                from_created.append(t - c.created_at)
                if c.sent_at is not None:
                    from_send.append(t - c.sent_at)
                in_window += t <= send_end
    expected = sum(len(streams) if c.recipient is None else 1 for c in created.values())
    return {
        "received": received,
        "lost": max(0, expected - received),
        "duplicates": duplicates,
        "misrouted": misrouted,
        "deliveries_per_s": round(in_window / max(1e-9, send_end - send_start)),
        **spread("", from_created),
        **spread("send_", from_send),
    }
