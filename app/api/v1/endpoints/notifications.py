"""The seed's endpoints: REST for history and read marks, SSE streams for live delivery."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Response, WebSocket

from app.api import front_door, parameters, readers
from app.api.deps import (
    CurrentPrincipal,
    IdPath,
    NotificationServiceDep,
    RuntimeDep,
    StreamsDep,
    reading,
)
from app.api.parameters import query_parameters, request_body
from app.api.readers import Asked
from app.api.transports.sse import EventStreamResponse
from app.api.transports.websocket import serve_websocket
from app.core.connection import Kind
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
from app.streams.shared import StreamRequest, Streams

router = APIRouter(prefix="/notifications", tags=["notifications"])
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


# The routes the front door also answers (app/api/front_door.py): each endpoint's dependency
# is the route's reader, its body the route's handler; their parameters and bodies are
# documented from the readers' models (`openapi_extra`), parsed by the readers only.
JSON = "application/json"


@router.post(
    "",
    response_model=NotificationPublic,
    status_code=201,
    openapi_extra=request_body(NotificationCreate),
)
async def create_notification(
    asked: Annotated[Asked[NotificationCreate], reading(readers.read_create)], runtime: RuntimeDep
) -> Response:
    return Response(await front_door.create_json(asked, runtime), 201, media_type=JSON)


@router.post(
    "/batch",
    response_model=NotificationBatchPublic,
    status_code=201,
    openapi_extra=request_body(NotificationBatchCreate),
)
async def create_batch(
    asked: Annotated[Asked[NotificationBatchCreate], reading(readers.read_batch)],
    runtime: RuntimeDep,
) -> Response:
    """Up to 500 notifications in one transaction, each routed and pushed as if created alone;
    all stored or none (a bad item is named by its index)."""
    return Response(await front_door.batch_create_json(asked, runtime), 201, media_type=JSON)


@router.get(
    "",
    response_model=list[NotificationPublic],
    openapi_extra={"parameters": query_parameters(parameters.ListQuery)},
)
async def list_notifications(
    asked: Annotated[Asked[ListOptions], reading(readers.read_list)], runtime: RuntimeDep
) -> Response:
    return Response(await front_door.list_json(asked, runtime), media_type=JSON)


@router.get("/unread-count", response_model=UnreadCount)
async def unread_count(
    asked: Annotated[Asked[None], reading(readers.read_count)], runtime: RuntimeDep
) -> Response:
    return Response(await front_door.unread_json(asked, runtime), media_type=JSON)


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


def _stream_route(kind: Kind) -> dict[str, Any]:
    """An SSE route's answer and its parameters (read by the stream's reader)."""
    documented = [
        *query_parameters(parameters.STREAM_QUERIES[kind]),
        parameters.LAST_EVENT_ID_HEADER,
    ]
    return {
        "response_class": EventStreamResponse,
        "responses": EVENT_STREAM,
        "status_code": 200,
        "openapi_extra": {"parameters": documented},
    }


@router.get("/stream", **_stream_route("admin"))
async def admin_stream(
    request: Annotated[StreamRequest, reading(readers.read_admin_stream)], streams: StreamsDep
) -> EventStreamResponse:
    """Live notifications of the admin's salon and of the admin itself; with `Last-Event-ID`,
    first those missed since."""
    return _sse(streams, request)


@router.get("/customer/stream", **_stream_route("customer"))
async def customer_stream(
    request: Annotated[StreamRequest, reading(readers.read_customer_stream)], streams: StreamsDep
) -> EventStreamResponse:
    """Live notifications of the customer, optionally only those of one salon (`salon_id`);
    with `Last-Event-ID`, first those missed since."""
    return _sse(streams, request)


@router.websocket("/ws")
async def admin_websocket(websocket: WebSocket, runtime: RuntimeDep) -> None:
    """WebSocket fallback of the admin stream: one JSON message per event."""
    await serve_websocket(websocket, runtime, "admin")


@router.websocket("/customer/ws")
async def customer_websocket(websocket: WebSocket, runtime: RuntimeDep) -> None:
    """WebSocket fallback of the customer stream: one JSON message per event."""
    await serve_websocket(websocket, runtime, "customer")


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
