from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

import orjson
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from app.schemas.common import Id, Storable, storable_json

RecipientType = Literal["salon", "user", "customer"]
Priority = Literal["low", "normal", "high", "urgent"]
Slug = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), Storable
]


class ExtraDataLimit:
    """The largest `extra_data` accepted, in bytes once serialized. A schema can't read the
    settings, so create_app sets it from MAX_EXTRA_DATA_BYTES; the create routes' reader
    (app/api/readers.py) validates with these models, whoever answers."""

    max_bytes = 16384


def bounded_size(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is not None and len(orjson.dumps(value)) > ExtraDataLimit.max_bytes:
        raise ValueError(f"at most {ExtraDataLimit.max_bytes} bytes once serialized as JSON")
    return value


PRIORITY_RANK: dict[str, int] = {"low": 0, "normal": 1, "high": 2, "urgent": 3}


class NotificationFilter(BaseModel):
    """A client's own choice of what it wants to see (the seed's "custom filtering")."""

    model_config = ConfigDict(frozen=True)

    types: frozenset[Slug] | None = Field(default=None, max_length=50)
    min_priority: Priority = "low"

    @property
    def min_rank(self) -> int:
        return PRIORITY_RANK[self.min_priority]


@dataclass(frozen=True, slots=True)
class ListOptions:
    """Which of a principal's notifications a list shows: the newest `limit` (below
    `before_id`), those of one salon (a customer's choice), unread only, the filter's."""

    limit: int
    before_id: int | None = None
    unread_only: bool = False
    salon_id: int | None = None
    filter: NotificationFilter | None = None


class NotificationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    notification_type: Slug
    title: Annotated[str, StringConstraints(min_length=1, max_length=200), Storable]
    message: Annotated[str, StringConstraints(max_length=5000), Storable]
    recipient_type: RecipientType
    recipient_id: Id | None = None
    salon_id: Id | None = None
    entity_type: Slug | None = None
    entity_id: Id | None = None
    extra_data: Annotated[
        dict[str, Any] | None, AfterValidator(storable_json), AfterValidator(bounded_size)
    ] = None
    priority: Priority = "normal"


class NotificationBatchCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    notifications: list[NotificationCreate] = Field(min_length=1, max_length=500)


class NotificationPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    notification_type: str
    title: str
    message: str
    recipient_type: RecipientType
    recipient_id: int | None
    salon_id: int | None
    entity_type: str | None
    entity_id: int | None
    is_read: bool
    priority: Priority
    created_at: datetime
    extra_data: dict[str, Any] | None
    delivered_at: datetime | None = Field(
        default=None, description="When a recipient first acknowledged receipt"
    )


class NotificationBatchPublic(BaseModel):
    notifications: list[NotificationPublic]


class Acknowledgement(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ids: list[Id] = Field(min_length=1, max_length=500, description="Notification ids received")


class UnreadCount(BaseModel):
    unread: int


class Updated(BaseModel):
    updated: int


class InstanceStats(BaseModel):
    instance: str
    active_admin_connections: int
    active_customer_connections: int
    total_connections: int
    slow_consumers_dropped: int


class StreamStats(BaseModel):
    active_admin_connections: int
    active_customer_connections: int
    total_connections: int
    admins: list[list[int]] = Field(description="[salon_id, user_id] pairs, sorted, each once")
    customers: list[int]
    slow_consumers_dropped: int = Field(description="Streams closed for falling too far behind")
    instances: list[InstanceStats] = Field(description="The same figures, instance by instance")
