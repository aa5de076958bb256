"""security: revocations, triggers that revoke a deleted or changed user's credentials,
user ids never reused on SQLite

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04 19:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# The database's own clock, in seconds since the epoch, with milliseconds.
SQLITE_NOW = "(julianday('now') - 2440587.5) * 86400.0"
SQLITE_INSERT = (
    "INSERT INTO revocations (user_id, sid, revoked_at, expires_at, reason) "
    "VALUES ({who}.id, NULL, " + SQLITE_NOW + ", NULL, 'account');"
)
SQLITE_TRIGGERS = (
    "CREATE TRIGGER users_revoke_on_delete AFTER DELETE ON users "
    "BEGIN " + SQLITE_INSERT.format(who="OLD") + " END",
    "CREATE TRIGGER users_revoke_on_change AFTER UPDATE OF role, salon_id ON users "
    "WHEN OLD.role IS NOT NEW.role OR OLD.salon_id IS NOT NEW.salon_id "
    "BEGIN " + SQLITE_INSERT.format(who="NEW") + " END",
)
POSTGRES_TRIGGERS = (
    """
    CREATE FUNCTION salon_revoke_account() RETURNS trigger AS $$
    BEGIN
      INSERT INTO revocations (user_id, sid, revoked_at, expires_at, reason)
      VALUES (OLD.id, NULL, extract(epoch from clock_timestamp()), NULL, 'account');
      RETURN NULL;
    END $$ LANGUAGE plpgsql
    """,
    "CREATE TRIGGER users_revoke_on_delete AFTER DELETE ON users "
    "FOR EACH ROW EXECUTE FUNCTION salon_revoke_account()",
    "CREATE TRIGGER users_revoke_on_change AFTER UPDATE OF role, salon_id ON users "
    "FOR EACH ROW WHEN (OLD.role IS DISTINCT FROM NEW.role "
    "OR OLD.salon_id IS DISTINCT FROM NEW.salon_id) EXECUTE FUNCTION salon_revoke_account()",
)


def upgrade() -> None:
    op.create_table(
        "revocations",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("user_id", BIG_ID, nullable=False),
        sa.Column("sid", sa.String(length=64), nullable=True),
        sa.Column("revoked_at", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=True),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_revocations")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_revocations_expires_at"), "revocations", ["expires_at"])
    if op.get_bind().dialect.name == "sqlite":
        # AUTOINCREMENT only comes with the table: rebuilt, rows and indexes kept (foreign
        # keys are not enforced on the migration's connection, so nothing cascades).
        with op.batch_alter_table(
            "users", recreate="always", table_kwargs={"sqlite_autoincrement": True}
        ):
            pass
        triggers: tuple[str, ...] = SQLITE_TRIGGERS
    else:
        triggers = POSTGRES_TRIGGERS  # identity/sequence ids are never reused there
    for statement in triggers:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS users_revoke_on_change" + _on_users())
    op.execute("DROP TRIGGER IF EXISTS users_revoke_on_delete" + _on_users())
    if op.get_bind().dialect.name != "sqlite":
        op.execute("DROP FUNCTION IF EXISTS salon_revoke_account()")
    op.drop_index(op.f("ix_revocations_expires_at"), table_name="revocations")
    op.drop_table("revocations")


def _on_users() -> str:
    return "" if op.get_bind().dialect.name == "sqlite" else " ON users"
