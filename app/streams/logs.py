"""The two log lines of a stream's life: opened, and closed with why and after how long."""

from __future__ import annotations

import logging
import time
from typing import Any

from app.core.connection import Connection, Subscription
from app.core.logging import log_event

logger = logging.getLogger(__name__)


def _who(sub: Subscription) -> dict[str, Any]:
    return {"kind": sub.kind, "user_id": sub.user_id, "salon_id": sub.salon_id or sub.salon_filter}


def log_opened(sub: Subscription) -> None:
    if logger.isEnabledFor(logging.INFO):
        log_event(logger, "stream_opened", f"stream opened: {sub.kind} {sub.user_id}", **_who(sub))


def log_closed(conn: Connection) -> None:
    if not logger.isEnabledFor(logging.INFO):
        return
    sub = conn.subscription
    duration, reason = time.monotonic() - conn.opened_at, conn.close_reason or "error"
    log_event(
        logger,
        "stream_closed",
        f"stream closed: {sub.kind} {sub.user_id} after {duration:.1f} s, "
        f"{conn.events_sent} events, {reason}",
        **_who(sub),
        duration_s=round(duration, 3),
        events_sent=conn.events_sent,
        reason=reason,
    )
