from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.routing import APIRoute
from fastapi.security import OAuth2PasswordRequestForm

from app.api import credentials
from app.api.deps import AccountServiceDep, CurrentPrincipal, RevocationsDep, SettingsDep
from app.api.v1.endpoints.session import clear_session_cookie
from app.runtime import runtime_of
from app.schemas.account import AccountCreate, TokenPublic, UserPublic
from app.services.accounts import issue_access_token

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post("/login", response_model=TokenPublic)
async def login(
    request: Request,
    response: Response,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    accounts: AccountServiceDep,
    settings: SettingsDep,
) -> TokenPublic:
    address = credentials.client_address(request)
    user = await accounts.authenticate(form.username, form.password, address)
    response.headers["Cache-Control"] = "no-store"  # a credential: no cache may keep it
    return TokenPublic(access_token=issue_access_token(user, settings))


class CountedFirst(APIRoute):
    """A route whose every request counts toward LIMIT_REGISTRATIONS_PER_ADDRESS before its
    body is read or validated: invalid bodies count too, so a flood of them is refused
    (429) instead of each being read, parsed and answered."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def counted(request: Request) -> Response:
            limiter = runtime_of(request.app).limiter
            await limiter.registration(credentials.client_address(request))
            return await handler(request)

        return counted


async def register(data: AccountCreate, accounts: AccountServiceDep) -> object:
    return await accounts.register_customer(data)


router.add_api_route(
    "/register",
    register,
    methods=["POST"],
    response_model=UserPublic,
    status_code=201,
    route_class_override=CountedFirst,
)


@router.post("/logout-all", status_code=204)
async def logout_all(
    request: Request,
    principal: CurrentPrincipal,
    revocations: RevocationsDep,
    settings: SettingsDep,
) -> Response:
    """Revoke every credential of the caller issued until now, on every instance (access
    tokens, session cookies, stream tokens; their streams end). The caller signs in again."""
    await revocations.revoke_all(principal.user_id)
    return clear_session_cookie(request, settings)


@router.get("/me", response_model=UserPublic)
async def me(principal: CurrentPrincipal, accounts: AccountServiceDep) -> object:
    return await accounts.me(principal)
