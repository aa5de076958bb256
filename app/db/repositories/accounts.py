from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Salon, Service, User


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

    async def salons(self) -> Sequence[Salon]:
        return (await self.session.scalars(select(Salon).order_by(Salon.id))).all()

    async def add_salon(self, name: str) -> Salon:
        salon = Salon(name=name)
        self.session.add(salon)
        await self.session.flush()
        return salon

    async def services(self, salon_id: int) -> Sequence[Service]:
        query = select(Service).where(Service.salon_id == salon_id).order_by(Service.id)
        return (await self.session.scalars(query)).all()

    async def add_service(self, service: Service) -> Service:
        self.session.add(service)
        await self.session.flush()
        return service
