"""The seed's endpoints: REST for history and read marks, SSE streams for live delivery."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, WebSocket

from app.api.deps import (
    CurrentPrincipal,
    FilterDep,
    IdPath,
    ManagerDep,
    NotificationServiceDep,
    SettingsDep,
    StreamPrincipal,
)
from app.api.streaming import EventStreamResponse
from app.api.websocket import serve_websocket
from app.core.config import Settings
from app.core.notification_manager import Kind, NotificationManager
from app.core.security import Principal
from app.schemas.common import MAX_ID
from app.schemas.notification import (
    Acknowledgement,
    NotificationCreate,
    NotificationFilter,
    NotificationPublic,
    StreamStats,
    UnreadCount,
    Updated,
)
from app.services import policy

router = APIRouter(prefix="/notifications", tags=["notifications"])

OptionalId = Annotated[int | None, Query(ge=1, le=MAX_ID)]
EVENT_STREAM: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/event-stream": {}}, "description": "SSE stream"}
}


@router.post("", response_model=NotificationPublic, status_code=201)
async def create_notification(
    data: NotificationCreate, principal: CurrentPrincipal, service: NotificationServiceDep
) -> object:
    return await service.create(principal, data)


@router.get("", response_model=list[NotificationPublic])
async def list_notifications(
    principal: CurrentPrincipal,
    service: NotificationServiceDep,
    filter: FilterDep,
    unread_only: bool = False,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before_id: OptionalId = None,
    salon_id: OptionalId = None,
) -> object:
    return await service.list_for(
        principal,
        limit=limit,
        before_id=before_id,
        unread_only=unread_only,
        salon_id=salon_id,
        filter=filter,
    )


@router.get("/unread-count", response_model=UnreadCount)
async def unread_count(principal: CurrentPrincipal, service: NotificationServiceDep) -> UnreadCount:
    return UnreadCount(unread=await service.unread_count(principal))


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
    principal: StreamPrincipal, manager: ManagerDep, settings: SettingsDep, filter: FilterDep
) -> EventStreamResponse:
    """Live notifications of the admin's salon and of the admin itself."""
    return _open_stream(principal, "admin", manager, settings, filter)


@router.get(
    "/customer/stream", response_class=EventStreamResponse, responses=EVENT_STREAM, status_code=200
)
async def customer_stream(
    principal: StreamPrincipal,
    manager: ManagerDep,
    settings: SettingsDep,
    filter: FilterDep,
    salon_id: OptionalId = None,
) -> EventStreamResponse:
    """Live notifications of the customer, optionally only those of one salon."""
    return _open_stream(principal, "customer", manager, settings, filter, salon_id)


def _open_stream(
    principal: Principal,
    kind: Kind,
    manager: NotificationManager,
    settings: Settings,
    filter: NotificationFilter,
    salon_filter: int | None = None,
) -> EventStreamResponse:
    subscription = policy.stream_subscription(principal, kind, salon_filter, filter)
    return EventStreamResponse(manager, subscription, settings.sse_retry_ms, principal.expires_at)


@router.websocket("/ws")
async def admin_websocket(websocket: WebSocket, filter: FilterDep) -> None:
    """WebSocket fallback of the admin stream: one JSON message per event."""
    await serve_websocket(
        websocket, lambda principal: policy.stream_subscription(principal, "admin", None, filter)
    )


@router.websocket("/customer/ws")
async def customer_websocket(
    websocket: WebSocket, filter: FilterDep, salon_id: OptionalId = None
) -> None:
    """WebSocket fallback of the customer stream: one JSON message per event."""
    await serve_websocket(
        websocket,
        lambda principal: policy.stream_subscription(principal, "customer", salon_id, filter),
    )


@router.get("/stream/stats", response_model=StreamStats)
async def stream_stats(principal: CurrentPrincipal, manager: ManagerDep) -> object:
    policy.require_superadmin(principal)
    return manager.stats()
