from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, cast

from sqlalchemy import Table, bindparam, exists, literal, null, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Salon, Service, User

Account = tuple[str, int | None]  # a user's (role, salon_id): what routing needs of it
SALONS, USERS = cast(Table, Salon.__table__), cast(Table, User.__table__)


# What the routing checks need, in one statement (one round trip; SQLite: one thread hop
# through Reads): which of some salons exist, and some users' (role, salon_id).
ROUTING_FACTS = union_all(
    select(literal("salon"), SALONS.c.id, null(), null()).where(
        SALONS.c.id.in_(bindparam("salons", expanding=True))
    ),
    select(literal("user"), USERS.c.id, USERS.c.role, USERS.c.salon_id).where(
        USERS.c.id.in_(bindparam("users", expanding=True))
    ),
)


def routing_values(salon_ids: Iterable[int], user_ids: Iterable[int]) -> dict[str, list[int]]:
    return {"salons": sorted(salon_ids), "users": sorted(user_ids)}


def routing_facts_of(rows: Sequence[Sequence[Any]]) -> tuple[set[int], dict[int, Account]]:
    """ROUTING_FACTS' rows as the salons that exist and the users' accounts."""
    salons: set[int] = set()
    users: dict[int, Account] = {}
    for kind, id_, role, salon_id in rows:
        if kind == "salon":
            salons.add(id_)
        else:
            users[id_] = (role, salon_id)
    return salons, users


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
