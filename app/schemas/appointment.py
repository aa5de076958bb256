from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, field_validator

from app.schemas.common import Id

Status = Literal["pending", "confirmed", "cancelled"]


class AppointmentCreate(BaseModel):
    salon_id: Id
    service_id: Id
    start_time: datetime

    @field_validator("start_time")
    @classmethod
    def _aware_utc(cls, value: datetime) -> datetime:
        # A time without a zone is read as UTC rather than refused.
        try:
            return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        except OverflowError as exc:  # 9999-12-31T23:00-05:00 is past datetime.max in UTC
            raise ValueError("start_time is out of range") from exc


class AppointmentPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    salon_id: int
    service_id: int
    customer_id: int
    start_time: datetime
    status: Status
