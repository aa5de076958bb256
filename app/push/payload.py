"""What one push carries: the contract's fields, cut to fit 3 KiB, and its Urgency header."""

from __future__ import annotations

from urllib.parse import urlencode

import orjson

from app.db.repositories.push_outbox import PushedNotification

# Push services accept about 4 KiB of encrypted body; 3 KiB of JSON leaves room to spare.
MAX_PAYLOAD_BYTES = 3072
ELLIPSIS = "…"
URGENCY = {"low": "low", "normal": "normal", "high": "high", "urgent": "high"}


def dashboard_url(notification: PushedNotification) -> str:
    """Where a click leads: the dashboard. The salon's name rides in the query, so that a
    service worker (which holds no credential) can show it without asking the API."""
    query: dict[str, str | int] = {"notification": notification.id}
    if notification.salon_name:
        query["salon"] = notification.salon_name
    return "/?" + urlencode(query)


def push_payload(notification: PushedNotification) -> bytes:
    """The JSON body before encryption; the message is cut (on a character) to fit."""
    fields = {
        "id": notification.id,
        "notification_type": notification.notification_type,
        "title": notification.title,
        "message": notification.message,
        "salon_id": notification.salon_id,
        "priority": notification.priority,
        "url": dashboard_url(notification),
    }
    body = orjson.dumps(fields)
    if len(body) <= MAX_PAYLOAD_BYTES:
        return body
    # The longest prefix of the message that fits, found by bisection (escapes vary in size).
    low, high = 0, len(notification.message)
    while low < high:
        middle = (low + high + 1) // 2
        fields["message"] = notification.message[:middle] + ELLIPSIS
        if len(orjson.dumps(fields)) <= MAX_PAYLOAD_BYTES:
            low = middle
        else:
            high = middle - 1
    fields["message"] = notification.message[:low] + ELLIPSIS
    return orjson.dumps(fields)


def urgency(priority: str) -> str:
    return URGENCY.get(priority, "normal")
