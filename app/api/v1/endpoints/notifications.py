"""The seed's endpoints: REST for history and read marks, SSE streams for live delivery."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, WebSocket

from app.api.deps import (
    CurrentPrincipal,
    FilterDep,
    IdPath,
    NotificationCreatorDep,
    NotificationReadsDep,
    NotificationServiceDep,
    RuntimeDep,
    StreamOptionsDep,
    StreamPrincipal,
    StreamsDep,
)
from app.api.transports.sse import EventStreamResponse
from app.api.transports.websocket import serve_websocket
from app.schemas.common import MAX_ID
from app.schemas.notification import (
    Acknowledgement,
    ListOptions,
    NotificationBatchCreate,
    NotificationBatchPublic,
    NotificationCreate,
    NotificationPublic,
    StreamStats,
    UnreadCount,
    Updated,
)
from app.services import policy
from app.services.notification_reads import DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT
from app.services.stored import batch_json
from app.streams.shared import StreamRequest, Streams

router = APIRouter(prefix="/notifications", tags=["notifications"])

OptionalId = Annotated[int | None, Query(ge=1, le=MAX_ID)]
# One event of the stream, as OpenAPI 3.1 describes the items of text/event-stream.
SSE_EVENT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "event": {"type": "string", "enum": ["connected", "notification", "ping", "reset"]},
        "data": {"type": "string", "description": "JSON: the notification, or the event's fields"},
        "id": {"type": "string", "description": "The notification id (notification events)"},
        "retry": {"type": "integer", "description": "Reconnection delay, milliseconds"},
    },
}
EVENT_STREAM: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/event-stream": {"schema": SSE_EVENT}}, "description": "SSE stream"}
}


# The create endpoints answer with the JSON the stream frames carry, serialized once (the
# documented response_model is that JSON's schema; a returned Response isn't re-validated).
@router.post("", response_model=NotificationPublic, status_code=201)
async def create_notification(
    data: NotificationCreate, principal: CurrentPrincipal, service: NotificationCreatorDep
) -> Response:
    stored = await service.create(principal, data)
    return Response(stored.public_json(), status_code=201, media_type="application/json")


@router.post("/batch", response_model=NotificationBatchPublic, status_code=201)
async def create_batch(
    data: NotificationBatchCreate, principal: CurrentPrincipal, service: NotificationCreatorDep
) -> Response:
    """Up to 500 notifications in one transaction, each routed and pushed as if created alone;
    all stored or none (a bad item is named by its index)."""
    stored = await service.create_batch(principal, data.notifications)
    return Response(batch_json(stored), status_code=201, media_type="application/json")


# The reads answer with JSON written straight from the rows (app/services/notification_reads.py),
# the same bytes as the fast read layer's (app/api/fast_reads.py) for the same request.
@router.get("", response_model=list[NotificationPublic])
async def list_notifications(
    principal: CurrentPrincipal,
    reads: NotificationReadsDep,
    filter: FilterDep,
    unread_only: bool = False,
    limit: Annotated[int, Query(ge=1, le=MAX_LIST_LIMIT)] = DEFAULT_LIST_LIMIT,
    before_id: OptionalId = None,
    salon_id: OptionalId = None,
) -> Response:
    options = ListOptions(limit, before_id, unread_only, salon_id, filter)
    return Response(await reads.list_json(principal, options), media_type="application/json")


@router.get("/unread-count", response_model=UnreadCount)
async def unread_count(principal: CurrentPrincipal, reads: NotificationReadsDep) -> Response:
    return Response(await reads.unread_json(principal), media_type="application/json")


@router.post("/read-all", response_model=Updated)
async def read_all(principal: CurrentPrincipal, service: NotificationServiceDep) -> Updated:
    return Updated(updated=await service.mark_all_read(principal))


@router.post("/ack", response_model=Updated)
async def acknowledge(
    data: Acknowledgement, principal: CurrentPrincipal, service: NotificationServiceDep
) -> Updated:
    """Record that these notifications reached the caller (first time only); others' are ignored."""
    return Updated(updated=await service.acknowledge(principal, data.ids))


@router.post("/{notification_id}/read", response_model=NotificationPublic)
async def mark_read(
    notification_id: IdPath, principal: CurrentPrincipal, service: NotificationServiceDep
) -> object:
    return await service.mark_read(principal, notification_id)


@router.get("/stream", response_class=EventStreamResponse, responses=EVENT_STREAM, status_code=200)
async def admin_stream(
    principal: StreamPrincipal, options: StreamOptionsDep, streams: StreamsDep
) -> EventStreamResponse:
    """Live notifications of the admin's salon and of the admin itself; with `Last-Event-ID`,
    first those missed since."""
    return _sse(streams, StreamRequest(principal, "admin", options))


@router.get(
    "/customer/stream", response_class=EventStreamResponse, responses=EVENT_STREAM, status_code=200
)
async def customer_stream(
    principal: StreamPrincipal,
    options: StreamOptionsDep,
    streams: StreamsDep,
    salon_id: OptionalId = None,
) -> EventStreamResponse:
    """Live notifications of the customer, optionally only those of one salon; with
    `Last-Event-ID`, first those missed since."""
    return _sse(streams, StreamRequest(principal, "customer", options, salon_id))


@router.websocket("/ws")
async def admin_websocket(
    websocket: WebSocket, options: StreamOptionsDep, streams: StreamsDep, runtime: RuntimeDep
) -> None:
    """WebSocket fallback of the admin stream: one JSON message per event."""
    await serve_websocket(websocket, streams, runtime.revocations, "admin", options)


@router.websocket("/customer/ws")
async def customer_websocket(
    websocket: WebSocket,
    options: StreamOptionsDep,
    streams: StreamsDep,
    runtime: RuntimeDep,
    salon_id: OptionalId = None,
) -> None:
    """WebSocket fallback of the customer stream: one JSON message per event."""
    await serve_websocket(websocket, streams, runtime.revocations, "customer", options, salon_id)


@router.get("/stream/stats", response_model=StreamStats)
async def stream_stats(principal: CurrentPrincipal, runtime: RuntimeDep) -> object:
    """Connections of every instance of the deployment, with a per-instance breakdown;
    at most LIMIT_STATS_REQUESTS per LIMIT_STATS_WINDOW seconds per caller (429 past it)."""
    policy.require_superadmin(principal)
    await runtime.limiter.stats_request(principal)
    return runtime.presence.stats()


def _sse(streams: Streams, request: StreamRequest) -> EventStreamResponse:
    """The stream as an SSE response; policy's refusal (403, 422) is raised before it."""
    subscription = streams.subscribe(request)
    return EventStreamResponse(
        streams, request.principal, subscription, request.options.last_event_id
    )
