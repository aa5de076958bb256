from __future__ import annotations

from fastapi import APIRouter

from app.api.deps import AccountServiceDep, CurrentPrincipal, IdPath
from app.schemas.account import (
    AccountCreate,
    SalonCreate,
    SalonPublic,
    ServiceCreate,
    ServicePublic,
    UserPublic,
)

router = APIRouter(prefix="/salons", tags=["salons"])


@router.post("", response_model=SalonPublic, status_code=201)
async def create_salon(
    data: SalonCreate, principal: CurrentPrincipal, accounts: AccountServiceDep
) -> object:
    return await accounts.create_salon(principal, data.name)


@router.get("", response_model=list[SalonPublic])
async def list_salons(_: CurrentPrincipal, accounts: AccountServiceDep) -> object:
    return await accounts.salons()


@router.post("/{salon_id}/admins", response_model=UserPublic, status_code=201)
async def create_admin(
    salon_id: IdPath, data: AccountCreate, principal: CurrentPrincipal, accounts: AccountServiceDep
) -> object:
    return await accounts.create_admin(principal, salon_id, data)


@router.post("/{salon_id}/services", response_model=ServicePublic, status_code=201)
async def create_service(
    salon_id: IdPath, data: ServiceCreate, principal: CurrentPrincipal, accounts: AccountServiceDep
) -> object:
    return await accounts.create_service(principal, salon_id, data)


@router.get("/{salon_id}/services", response_model=list[ServicePublic])
async def list_services(
    salon_id: IdPath, _: CurrentPrincipal, accounts: AccountServiceDep
) -> object:
    return await accounts.services(salon_id)
