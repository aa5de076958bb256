"""What one push carries: the contract's fields, cut to fit 3 KiB, and its Urgency header."""

from __future__ import annotations

from urllib.parse import urlencode

import orjson

from app.db.repositories.push_outbox import PushedNotification

# Push services accept about 4 KiB of encrypted body; 3 KiB of JSON leaves room to spare.
MAX_PAYLOAD_BYTES = 3072
ELLIPSIS = "…"
CUT_ORDER = ("message", "salon", "title")  # what gives way first
URGENCY = {"low": "low", "normal": "normal", "high": "high", "urgent": "high"}


def dashboard_url(notification_id: int, salon_name: str) -> str:
    """Where a click leads: the dashboard. The salon's name rides in the query, so that a
    service worker (which holds no credential) can show it without asking the API."""
    query: dict[str, str | int] = {"notification": notification_id}
    if salon_name:
        query["salon"] = salon_name
    return "/?" + urlencode(query)


def push_payload(notification: PushedNotification) -> bytes:
    """The JSON body before encryption, at most MAX_PAYLOAD_BYTES: past it the message is
    cut (on a character), then the salon's name, then the title, each no more than needed."""
    texts = {
        "message": notification.message,
        "salon": notification.salon_name or "",
        "title": notification.title,
    }
    body = _render(notification, texts)
    for name in CUT_ORDER:
        if len(body) <= MAX_PAYLOAD_BYTES:
            break
        texts[name] = _longest_fitting(notification, texts, name)
        body = _render(notification, texts)
    return body


def _render(notification: PushedNotification, texts: dict[str, str]) -> bytes:
    return orjson.dumps(
        {
            "id": notification.id,
            "notification_type": notification.notification_type,
            "title": texts["title"],
            "message": texts["message"],
            "salon_id": notification.salon_id,
            "priority": notification.priority,
            "url": dashboard_url(notification.id, texts["salon"]),
        }
    )


def _longest_fitting(notification: PushedNotification, texts: dict[str, str], name: str) -> str:
    """The longest prefix of text `name`, with an ellipsis, that lets the body fit (found by
    bisection: escapes vary in size); the ellipsis alone when none does."""
    whole = texts[name]
    trial = dict(texts)
    low, high = 0, len(whole)
    while low < high:
        middle = (low + high + 1) // 2
        trial[name] = whole[:middle] + ELLIPSIS
        if len(_render(notification, trial)) <= MAX_PAYLOAD_BYTES:
            low = middle
        else:
            high = middle - 1
    return whole[:low] + ELLIPSIS


def urgency(priority: str) -> str:
    return URGENCY.get(priority, "normal")
