from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, BigId, UTCDateTime, utcnow


class Notification(Base):
    """The seed's notification; `is_read` is one flag, shared by a salon's admins."""

    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_recipient", "recipient_type", "recipient_id", "id"),
        Index("ix_notifications_salon", "salon_id", "recipient_type", "id"),
        # Never reuse an id, even after the newest rows are purged: clients resume by id.
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    notification_type: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(200))
    message: Mapped[str] = mapped_column(Text)
    recipient_type: Mapped[str] = mapped_column(String(20))
    recipient_id: Mapped[int | None] = mapped_column(BigId)
    salon_id: Mapped[int | None] = mapped_column(ForeignKey("salons.id", ondelete="CASCADE"))
    entity_type: Mapped[str | None] = mapped_column(String(100))
    entity_id: Mapped[int | None] = mapped_column(BigId)
    is_read: Mapped[bool] = mapped_column(Boolean, default=False)
    priority: Mapped[str] = mapped_column(String(10), default="normal")
    extra_data: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    # First acknowledgement of receipt by a recipient (the seed's "delivery acknowledgment").
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Watermark(Base):
    """A named id that only grows, e.g. the highest notification id purged by retention."""

    __tablename__ = "watermarks"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[int] = mapped_column(BigId, default=0)
