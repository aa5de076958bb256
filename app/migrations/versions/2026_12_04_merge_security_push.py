"""join the two revisions made in parallel on 0001: security (0002) and Web Push (0003)

Neither touches the other's tables; a database at 0001, 0002 or 0003 upgrades to this one
head whichever it had.

Revision ID: 0004
Revises: 0002, 0003
Create Date: 2026-12-04 20:45:00
"""

from __future__ import annotations

revision = "0004"
down_revision = ("0002", "0003")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
