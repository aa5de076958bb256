from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import cast

from sqlalchemy import Table, exists, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.db.models import Salon, Service, User

Account = tuple[str, int | None]  # a user's (role, salon_id): what routing needs of it
SALONS, USERS = cast(Table, Salon.__table__), cast(Table, User.__table__)


async def existing_salons(connection: AsyncConnection, salon_ids: Iterable[int]) -> set[int]:
    """Which of these salons exist (Core: no ORM state for one column)."""
    query = select(SALONS.c.id).where(SALONS.c.id.in_(salon_ids))
    return set((await connection.execute(query)).scalars())


async def accounts_of(connection: AsyncConnection, user_ids: Iterable[int]) -> dict[int, Account]:
    """These users' (role, salon_id), for those that exist."""
    query = select(USERS.c.id, USERS.c.role, USERS.c.salon_id).where(USERS.c.id.in_(user_ids))
    return {
        user_id: (role, salon_id) for user_id, role, salon_id in await connection.execute(query)
    }


class AccountRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def user_by_email(self, email: str) -> User | None:
        return await self.session.scalar(select(User).where(User.email == email))

    async def user(self, user_id: int) -> User | None:
        return await self.session.get(User, user_id)

    async def add_user(self, user: User) -> User:
        self.session.add(user)
        await self.session.flush()
        return user

    async def salon(self, salon_id: int) -> Salon | None:
        return await self.session.get(Salon, salon_id)

    async def any_salon(self) -> bool:
        return bool(await self.session.scalar(select(exists().select_from(Salon))))

    async def salons(self) -> Sequence[Salon]:
        return (await self.session.scalars(select(Salon).order_by(Salon.id))).all()

    async def add_salon(self, name: str) -> Salon:
        salon = Salon(name=name)
        self.session.add(salon)
        await self.session.flush()
        return salon

    async def service(self, service_id: int) -> Service | None:
        return await self.session.get(Service, service_id)

    async def services(self, salon_id: int) -> Sequence[Service]:
        query = select(Service).where(Service.salon_id == salon_id).order_by(Service.id)
        return (await self.session.scalars(query)).all()

    async def add_service(self, service: Service) -> Service:
        self.session.add(service)
        await self.session.flush()
        return service
