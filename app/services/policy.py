"""Who may do what with notifications and streams: decided here, nowhere else."""

from __future__ import annotations

from app.core.hub import Kind, Subscription
from app.core.security import Principal
from app.schemas.notification import NotificationCreate, NotificationFilter
from app.services.errors import PermissionDenied

NO_FILTER = NotificationFilter()


def authorize_create(principal: Principal, data: NotificationCreate) -> NotificationCreate:
    """Superadmins send anywhere, admins only for their own salon (the default), nobody else."""
    if principal.role == "superadmin":
        return data
    if principal.role == "admin":
        if data.salon_id is None:
            return data.model_copy(update={"salon_id": principal.salon_id})
        if data.salon_id != principal.salon_id:
            raise PermissionDenied("admins can only send notifications for their own salon")
        return data
    raise PermissionDenied("only admins and superadmins can send notifications")


def require_recipient(principal: Principal) -> None:
    """Lists, counts and read marks belong to principals that receive notifications."""
    if principal.role not in ("admin", "customer"):
        raise PermissionDenied("only admins and customers have notifications")


def stream_subscription(
    principal: Principal,
    kind: Kind,
    salon_filter: int | None = None,
    filter: NotificationFilter = NO_FILTER,
) -> Subscription:
    """The admin stream is for an admin of a salon; the customer stream for a customer."""
    if kind == "admin" and (principal.role != "admin" or principal.salon_id is None):
        raise PermissionDenied("the admin stream is for salon admins")
    if kind == "customer" and principal.role != "customer":
        raise PermissionDenied("the customer stream is for customers")
    return Subscription(
        kind,
        principal.user_id,
        salon_id=principal.salon_id if kind == "admin" else None,
        salon_filter=salon_filter if kind == "customer" else None,
        types=filter.types,
        min_priority=filter.min_rank,
        issued_at=principal.issued_at,
        sid=principal.sid,
    )


def may_add_admin(principal: Principal, salon_id: int) -> None:
    if principal.role == "superadmin" or (
        principal.role == "admin" and principal.salon_id == salon_id
    ):
        return
    raise PermissionDenied("only a superadmin or an admin of this salon can add admins")


def may_manage_salon(principal: Principal, salon_id: int) -> None:
    if principal.role != "admin" or principal.salon_id != salon_id:
        raise PermissionDenied("only an admin of this salon can do that")


def require_superadmin(principal: Principal) -> None:
    if principal.role != "superadmin":
        raise PermissionDenied("superadmin only")
