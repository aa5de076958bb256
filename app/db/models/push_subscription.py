"""Web Push: browsers' subscriptions, the outbox of pushes to send, and what streams got."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, BigId, UTCDateTime, utcnow

# Bounds of a browser's PushSubscription: real endpoints are a few hundred characters;
# p256dh is a 65-byte P-256 point (87 base64url characters), auth 16 bytes (22).
MAX_ENDPOINT_LENGTH = 2048
P256DH_LENGTH = 88
AUTH_LENGTH = 24


class PushSubscription(Base):
    """One browser of one user; the endpoint is a capability (never logged in full)."""

    __tablename__ = "push_subscriptions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    endpoint: Mapped[str] = mapped_column(String(MAX_ENDPOINT_LENGTH), unique=True)
    p256dh: Mapped[str] = mapped_column(String(P256DH_LENGTH))
    auth: Mapped[str] = mapped_column(String(AUTH_LENGTH))
    # PushSubscription.expirationTime (ms since the epoch), as the browser gave it.
    expiration_time: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PushOutbox(Base):
    """A push to send to one subscription: due at the notification's creation plus
    PUSH_DELAY_SECONDS, then at each retry; a claimed row is due again after its lease."""

    __tablename__ = "push_outbox"
    __table_args__ = (Index("ix_push_outbox_due_at", "due_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    notification_id: Mapped[int] = mapped_column(
        ForeignKey("notifications.id", ondelete="CASCADE"), index=True
    )
    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("push_subscriptions.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(BigId)
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PushReached(Base):
    """A stream of this user (on any instance) received this notification: no push."""

    __tablename__ = "push_reached"

    notification_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
