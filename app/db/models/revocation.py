from __future__ import annotations

from sqlalchemy import Float, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, BigId


class Revocation(Base):
    """Credentials that no longer count: a session's (`sid`), or every one of a user issued
    before `revoked_at` (sid NULL): logout everywhere, or an account deleted or changed (a
    trigger on `users` writes those, whoever changed it). Ids only grow: each instance
    reads the rows past the last one it saw."""

    __tablename__ = "revocations"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigId)
    sid: Mapped[str | None] = mapped_column(String(64))
    revoked_at: Mapped[float] = mapped_column(Float)  # seconds since the epoch
    # When every credential it concerns has expired anyway (NULL: kept).
    expires_at: Mapped[float | None] = mapped_column(Float, index=True)
    reason: Mapped[str] = mapped_column(String(20))
