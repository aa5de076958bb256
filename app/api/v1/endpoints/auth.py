from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import OAuth2PasswordRequestForm

from app.api import credentials
from app.api.deps import AccountServiceDep, CurrentPrincipal, RevocationsDep, SettingsDep
from app.api.v1.endpoints.session import clear_session_cookie
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


@router.post("/register", response_model=UserPublic, status_code=201)
async def register(request: Request, data: AccountCreate, accounts: AccountServiceDep) -> object:
    return await accounts.register_customer(data, credentials.client_address(request))


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
