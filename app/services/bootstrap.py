"""Accounts made at start-up or from the command line: the first superadmin, the demo."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.account_rules import email_key
from app.core.config import Settings
from app.db.models import Service, User
from app.schemas.account import AccountCreate
from app.services.accounts import AccountService, issue_access_token

logger = logging.getLogger(__name__)

DEMO_SALON = "Demo Salon"
DEMO_ADMIN = ("admin@demo.salon", "demo-admin-password", "Dana Admin")
DEMO_CUSTOMER = ("customer@demo.salon", "demo-customer-password", "Casey Customer")


async def ensure_first_superadmin(
    session_factory: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    email, password = settings.first_superadmin_email, settings.first_superadmin_password
    if not email or not password:
        return
    async with session_factory() as session:
        accounts = AccountService(session)
        if await accounts.repo.user_by_email(email_key(email)) is None:
            data = AccountCreate(email=email, password=password, full_name="Superadmin")
            user = await accounts.create_user(data, "superadmin")
            logger.info("created the first superadmin (user %d)", user.id)  # no email in logs


@dataclass(frozen=True)
class DemoLogin:
    role: str
    email: str
    password: str
    token: str


@dataclass(frozen=True)
class Demo:
    created: bool
    salon_id: int
    logins: list[DemoLogin]


async def ensure_demo(session: AsyncSession, settings: Settings) -> Demo | None:
    """Fill an empty database with a demo salon; on a later run, find it again. None otherwise."""
    accounts = AccountService(session)
    admin = await accounts.repo.user_by_email(DEMO_ADMIN[0])
    customer = await accounts.repo.user_by_email(DEMO_CUSTOMER[0])
    created = False
    if admin is None or customer is None:
        if await accounts.repo.any_salon():
            return None  # not empty and not ours: leave it alone
        salon = await accounts.repo.add_salon(DEMO_SALON)
        await accounts.repo.add_service(
            Service(salon_id=salon.id, name="Haircut", duration_minutes=45, price=35.0)
        )
        await session.commit()
        admin = await _create(accounts, DEMO_ADMIN, "admin", salon.id)
        customer = await _create(accounts, DEMO_CUSTOMER, "customer", None)
        created = True
    assert admin.salon_id is not None
    logins = [
        DemoLogin(user.role, email, password, issue_access_token(user, settings))
        for user, (email, password, _) in ((admin, DEMO_ADMIN), (customer, DEMO_CUSTOMER))
    ]
    return Demo(created=created, salon_id=admin.salon_id, logins=logins)


async def _create(
    accounts: AccountService, who: tuple[str, str, str], role: str, salon_id: int | None
) -> User:
    email, password, name = who
    return await accounts.create_user(
        AccountCreate(email=email, password=password, full_name=name), role, salon_id
    )
