"""What the load generator posts: create bodies, each stamped with its send time when sent
(`latency.stamp`), and who each one is for."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import orjson

from benchmarks.latency import stamp

NOTIFY = "/api/v1/notifications"
# The create body without its closing brace (the send time is stamped in when it is sent),
# the index of its one recipient stream (None: every stream).
Item = tuple[bytes, int | None]


def unclosed(fields: dict[str, Any]) -> bytes:
    """A create body without its closing brace, for `stamp`."""
    return orjson.dumps(fields)[:-1]


def batch_body(prefixes: list[bytes], sent_ns: int) -> bytes:
    stamped = b",".join(stamp(prefix, sent_ns) for prefix in prefixes)
    return b'{"notifications":[' + stamped + b"]}"


def salon_item(salon_id: int) -> Callable[[], Item]:
    """One broadcast to every admin stream of the salon, always the same."""
    body = unclosed(
        {
            "notification_type": "bench",
            "title": "Salon broadcast",
            "message": "A new appointment was booked for tomorrow at 2 PM",
            "recipient_type": "salon",
            "salon_id": salon_id,
        }
    )
    return lambda: (body, None)


def customer_items(ids: list[int], seed: int = 6) -> Callable[[], Item]:
    """Notifications each for one customer of `ids`, picked at random (a fixed seed)."""
    rng = random.Random(seed)

    def make_item() -> Item:
        index = rng.randrange(len(ids))
        body = unclosed(
            {
                "notification_type": "appointment_confirmed",
                "title": "Appointment confirmed",
                "message": "See you tomorrow at 2 PM",
                "recipient_type": "customer",
                "recipient_id": ids[index],
            }
        )
        return body, index

    return make_item
