"""A fresh database per server start, filled directly (not through the API): one salon, a
sender admin, 1,000 streaming admins and 10,000 customers sharing one precomputed argon2
hash; their JWTs are minted here with the server's SECRET_KEY and the claims of
app.core.security.create_token, and the server verifies each one when a stream opens."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import asyncpg
from sqlalchemy import insert, select

from app.core.security import create_token, hash_password
from app.db.migrate import upgrade_database
from app.db.models import Salon, User
from app.db.session import create_engine

PG_ADMIN = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
ADMINS = 1_000
CUSTOMERS = 10_000
TOKEN_LIFETIME = timedelta(hours=3)


@dataclass
class Accounts:
    salon_id: int
    sender_id: int
    admin_ids: list[int]
    customer_ids: list[int]
    sender_token: str = ""
    admin_tokens: list[str] = field(default_factory=list)
    customer_tokens: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, object]:
        return {
            "salon_id": self.salon_id,
            "sender_token": self.sender_token,
            "admins": list(zip(self.admin_ids, self.admin_tokens, strict=True)),
            "customers": list(zip(self.customer_ids, self.customer_tokens, strict=True)),
        }


def naive_accounts(admins: int = ADMINS, customers: int = CUSTOMERS) -> Accounts:
    """The naive server has no accounts: the same id layout, no tokens."""
    admin_ids = list(range(2, 2 + admins))
    customer_ids = list(range(2 + admins, 2 + admins + customers))
    return Accounts(1, 1, admin_ids, customer_ids, "", [""] * admins, [""] * customers)


class Database:
    """A SQLite file or a PostgreSQL database of its own, migrated, dropped by `drop`."""

    def __init__(self, kind: str, workdir: Path, tag: str) -> None:
        self.kind = kind
        self.name = f"salon_bench_{os.getpid()}_{tag}"
        if kind == "sqlite":
            self.path = workdir / f"{self.name}.db"
            self.url = f"sqlite+aiosqlite:///{self.path}"
        elif kind == "postgres":
            self.url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{self.name}"
        else:
            raise ValueError(f"unknown database kind {kind!r}: sqlite or postgres")

    def create(self) -> None:
        self.drop()
        if self.kind == "postgres":
            asyncio.run(_pg(f'CREATE DATABASE "{self.name}"'))
        upgrade_database(self.url)

    def drop(self) -> None:
        if self.kind == "postgres":
            asyncio.run(_pg(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        else:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)


async def _pg(statement: str) -> None:
    connection = await asyncpg.connect(PG_ADMIN)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def seed(url: str, secret: str, admins: int = ADMINS, customers: int = CUSTOMERS) -> Accounts:
    accounts = asyncio.run(_seed(url, admins, customers))
    mint = _minter(secret)
    accounts.sender_token = mint(accounts.sender_id, "admin", accounts.salon_id)
    accounts.admin_tokens = [mint(i, "admin", accounts.salon_id) for i in accounts.admin_ids]
    accounts.customer_tokens = [mint(i, "customer", None) for i in accounts.customer_ids]
    return accounts


def _minter(secret: str):  # type: ignore[no-untyped-def]
    def mint(user_id: int, role: str, salon_id: int | None) -> str:
        return create_token(
            user_id=user_id,
            role=role,
            salon_id=salon_id,
            secret=secret,
            expires_in=TOKEN_LIFETIME,
        )

    return mint


async def _seed(url: str, admins: int, customers: int) -> Accounts:
    password_hash = hash_password("bench-password")
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            salon = await conn.execute(
                insert(Salon.__table__).values(name="Bench Salon").returning(Salon.__table__.c.id)
            )
            salon_id = int(salon.scalar_one())

            def user(email: str, role: str, salon: int | None) -> dict[str, object]:
                return {
                    "email": email,
                    "password_hash": password_hash,
                    "full_name": email.split("@")[0],
                    "role": role,
                    "salon_id": salon,
                }

            rows = [user("sender@bench.example.com", "admin", salon_id)]
            rows += [user(f"admin{i}@bench.example.com", "admin", salon_id) for i in range(ADMINS)]
            rows += [
                user(f"customer{i}@bench.example.com", "customer", None) for i in range(CUSTOMERS)
            ]
            await conn.execute(insert(User.__table__), rows)
            users = (
                await conn.execute(
                    select(User.__table__.c.id, User.__table__.c.email).where(
                        User.__table__.c.email.like("%@bench.example.com")
                    )
                )
            ).all()
    finally:
        await engine.dispose()
    by_email = {email: int(user_id) for user_id, email in users}
    return Accounts(
        salon_id=salon_id,
        sender_id=by_email["sender@bench.example.com"],
        admin_ids=[by_email[f"admin{i}@bench.example.com"] for i in range(admins)],
        customer_ids=[by_email[f"customer{i}@bench.example.com"] for i in range(customers)],
    )
