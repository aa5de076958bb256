"""The operations overview: GET /api/v1/ops/overview (superadmin)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from app.schemas.notification import InstanceStats


class OpsTotals(BaseModel):
    active_admin_connections: int
    active_customer_connections: int
    total_connections: int
    slow_consumers_dropped: int
    instances: int = Field(description="Instances counted (those announced recently)")


class OpsInstance(InstanceStats):
    last_announcement_seconds: float = Field(
        description="Seconds since its last announcement (0 for the instance that answered)"
    )
    notifications_per_second: float | None = Field(description="Created, in its last sample")
    deliveries_per_second: float | None = Field(description="Written to streams, last sample")
    loop_lag_p99_ms: float | None = Field(description="Event-loop lag p99, last sample")


class OpsHealth(BaseModel):
    status: Literal["ok", "degraded"]
    database: bool = Field(description="The database answers (its schema readable)")
    broker: bool = Field(description="The broker answers")
    loop_lag_ms: float | None = Field(
        description="Worst instance's event-loop lag p99, last sample"
    )
    loop_lag_ok: bool


class BusySalon(BaseModel):
    salon_id: int
    name: str | None = Field(description="Null until the next database refresh")
    streams: int = Field(description="Admin streams open, every instance")
    notifications_last_hour: int | None = Field(description="Null until the next refresh")


class OpsSeries(BaseModel):
    """The deployment's last 15 minutes, one point per sample interval."""

    interval: float = Field(description="Seconds per point")
    t: list[float] = Field(description="Each point's time, Unix seconds")
    streams: list[int]
    created_per_second: list[float]
    deliveries_per_second: list[float]
    latency_p50_ms: list[float | None] = Field(description="Null where nothing was delivered")
    latency_p99_ms: list[float | None]
    slow_consumers_dropped: list[int]
    limit_refusals: list[int]


class OpsOverview(BaseModel):
    instance: str = Field(description="The instance that answered")
    generated_at: datetime
    totals: OpsTotals
    instances: list[OpsInstance]
    health: OpsHealth
    busiest_salons: list[BusySalon]
    series: OpsSeries
