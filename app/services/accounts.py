"""Accounts, salons and their services."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from datetime import timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.account_rules import email_key
from app.core.config import Settings
from app.core.password_pool import hash_password_off_loop, verify_password_off_loop
from app.core.security import ACCESS, Principal, create_token
from app.db.models import Salon, Service, User
from app.db.repositories.accounts import AccountRepository
from app.schemas.account import AccountCreate, ServiceCreate
from app.schemas.common import is_storable
from app.services import policy
from app.services.errors import Conflict, NotAuthenticated, NotFound
from app.services.limiter import Limiter


def issue_token(
    settings: Settings,
    *,
    user_id: int,
    role: str,
    salon_id: int | None,
    lifetime: timedelta,
    token_type: str = ACCESS,
    sid: str | None = None,
) -> str:
    """A token of `token_type` for this account, signed with the server's key; `sid`: the
    sign-in session it belongs to."""
    return create_token(
        user_id=user_id,
        role=role,
        salon_id=salon_id,
        secret=settings.secret_key,
        expires_in=lifetime,
        token_type=token_type,
        sid=sid,
    )


def issue_access_token(user: User, settings: Settings) -> str:
    lifetime = timedelta(minutes=settings.access_token_expire_minutes)
    return issue_token(
        settings, user_id=user.id, role=user.role, salon_id=user.salon_id, lifetime=lifetime
    )


class AccountService:
    def __init__(self, session: AsyncSession, limiter: Limiter | None = None) -> None:
        """`limiter`: the sign-in throttles and the hash queue (none from the command line)."""
        self.session = session
        self.repo = AccountRepository(session)
        self.limiter = limiter

    async def authenticate(self, email: str, password: str, address: str | None = None) -> User:
        """The account of this email and password; LimitExceeded after too many failures of
        the account or of the client `address` (or too many checks of it under way),
        Overloaded when too many password checks wait, NotAuthenticated for a wrong pair."""
        email = email_key(email)
        attempt = self.limiter.login_attempt(email, address) if self.limiter else nullcontext()
        async with attempt:  # counted before the check; a right password takes it back
            # An email no account can have (a NUL, say) is a wrong login, not a database error.
            user = await self.repo.user_by_email(email) if is_storable(email) else None
            ok = await verify_password_off_loop(password, user.password_hash if user else None)
            if user is None or not ok:
                raise NotAuthenticated("incorrect email or password")
        return user

    async def me(self, principal: Principal) -> User:
        user = await self.repo.user(principal.user_id)
        if user is None:
            raise NotAuthenticated("this account no longer exists")
        return user

    async def create_user(
        self, data: AccountCreate, role: str, salon_id: int | None = None
    ) -> User:
        email = email_key(data.email)
        if await self.repo.user_by_email(email) is not None:
            raise Conflict("an account with this email already exists")
        with self.limiter.password_check() if self.limiter else nullcontext():
            password_hash = await hash_password_off_loop(data.password)
        user = User(
            email=email,
            password_hash=password_hash,
            full_name=data.full_name,
            role=role,
            salon_id=salon_id,
        )
        try:
            await self.repo.add_user(user)
            await self.session.commit()
        except IntegrityError as exc:  # a concurrent registration won the race
            await self.session.rollback()
            raise Conflict("an account with this email already exists") from exc
        return user

    async def register_customer(self, data: AccountCreate) -> User:
        # Counted per address by the route, before the body is even read (CountedFirst).
        return await self.create_user(data, "customer")

    async def create_admin(self, principal: Principal, salon_id: int, data: AccountCreate) -> User:
        policy.may_add_admin(principal, salon_id)
        await self.salon(salon_id)
        return await self.create_user(data, "admin", salon_id)

    async def salon(self, salon_id: int) -> Salon:
        salon = await self.repo.salon(salon_id)
        if salon is None:
            raise NotFound(f"salon {salon_id} not found")
        return salon

    async def create_salon(self, principal: Principal, name: str) -> Salon:
        policy.require_superadmin(principal)
        salon = await self.repo.add_salon(name)
        await self.session.commit()
        return salon

    async def salons(self) -> Sequence[Salon]:
        return await self.repo.salons()

    async def create_service(
        self, principal: Principal, salon_id: int, data: ServiceCreate
    ) -> Service:
        policy.may_manage_salon(principal, salon_id)
        await self.salon(salon_id)
        service = await self.repo.add_service(Service(salon_id=salon_id, **data.model_dump()))
        await self.session.commit()
        return service

    async def services(self, salon_id: int) -> Sequence[Service]:
        await self.salon(salon_id)
        return await self.repo.services(salon_id)
