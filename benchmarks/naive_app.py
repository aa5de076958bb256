"""The naive baseline, as the seed sketches it: FastAPI + sse-starlette, one asyncio.Queue
per connection, no authentication, no database. Same paths and bodies as the product so
the load generator drives both alike; who a stream is comes from the query string.

Run: `taskset -c 0 python -m benchmarks.naive_app --port P` (uvicorn, uvloop, httptools).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
from datetime import UTC, datetime
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from sse_starlette.sse import EventSourceResponse

app = FastAPI()
admins: dict[int, set[asyncio.Queue[dict[str, Any]]]] = {}
customers: dict[int, set[asyncio.Queue[dict[str, Any]]]] = {}
ids = itertools.count(1)
PING = float(os.environ.get("SSE_PING_INTERVAL", "30"))


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


async def stream(index: dict[int, set[asyncio.Queue[dict[str, Any]]]], key: int, hello: dict):
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    index.setdefault(key, set()).add(queue)
    try:
        yield {"event": "connected", "data": json.dumps({**hello, "server_time": now_iso()})}
        while True:
            notification = await queue.get()
            yield {
                "event": "notification",
                "id": str(notification["id"]),
                "data": json.dumps(notification),
            }
    finally:
        index[key].discard(queue)


@app.get("/api/v1/notifications/stream")
async def admin_stream(salon_id: int, user_id: int = 0) -> EventSourceResponse:
    hello = {"user_id": user_id, "salon_id": salon_id}
    return EventSourceResponse(stream(admins, salon_id, hello), ping=PING)


@app.get("/api/v1/notifications/customer/stream")
async def customer_stream(customer_id: int) -> EventSourceResponse:
    hello = {"customer_id": customer_id, "salon_id": None}
    return EventSourceResponse(stream(customers, customer_id, hello), ping=PING)


def publish(body: dict[str, Any]) -> dict[str, Any]:
    notification = {
        "id": next(ids),
        "notification_type": body["notification_type"],
        "title": body["title"],
        "message": body["message"],
        "recipient_type": body["recipient_type"],
        "recipient_id": body.get("recipient_id"),
        "salon_id": body.get("salon_id"),
        "entity_type": None,
        "entity_id": None,
        "is_read": False,
        "priority": body.get("priority", "normal"),
        "created_at": now_iso(),
        "extra_data": body.get("extra_data"),  # carries the load generator's send time
    }
    if body["recipient_type"] == "salon":
        queues = admins.get(body["salon_id"], ())
    else:
        queues = customers.get(body["recipient_id"], ())
    for queue in list(queues):
        queue.put_nowait(notification)
    return notification


@app.post("/api/v1/notifications", status_code=201)
async def create(request: Request) -> dict[str, Any]:
    return publish(await request.json())


@app.post("/api/v1/notifications/batch", status_code=201)
async def create_batch(request: Request) -> dict[str, Any]:
    body = await request.json()
    return {"notifications": [publish(item) for item in body["notifications"]]}


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args()
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
