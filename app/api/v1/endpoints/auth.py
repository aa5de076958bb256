from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.security import OAuth2PasswordRequestForm

from app.api.deps import AccountServiceDep, CurrentPrincipal, SettingsDep
from app.schemas.account import AccountCreate, TokenPublic, UserPublic
from app.services.accounts import issue_access_token

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post("/login", response_model=TokenPublic)
async def login(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    accounts: AccountServiceDep,
    settings: SettingsDep,
) -> TokenPublic:
    user = await accounts.authenticate(form.username, form.password)
    return TokenPublic(access_token=issue_access_token(user, settings))


@router.post("/register", response_model=UserPublic, status_code=201)
async def register(data: AccountCreate, accounts: AccountServiceDep) -> object:
    return await accounts.register_customer(data)


@router.get("/me", response_model=UserPublic)
async def me(principal: CurrentPrincipal, accounts: AccountServiceDep) -> object:
    return await accounts.me(principal)
