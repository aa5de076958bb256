from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query

from app.api.deps import AppointmentServiceDep, CurrentPrincipal, IdPath
from app.schemas.appointment import AppointmentCreate, AppointmentPublic, Status

router = APIRouter(prefix="/appointments", tags=["appointments"])


@router.post("", response_model=AppointmentPublic, status_code=201)
async def book(
    data: AppointmentCreate, principal: CurrentPrincipal, service: AppointmentServiceDep
) -> object:
    """A customer books; the salon's admins are notified (`new_appointment`)."""
    return await service.book(principal, data)


@router.get("", response_model=list[AppointmentPublic])
async def list_appointments(
    principal: CurrentPrincipal,
    service: AppointmentServiceDep,
    status: Status | None = None,
    date: Annotated[date | None, Query(lt=date.max)] = None,
) -> object:
    """An admin's salon's appointments, or a customer's own, soonest first."""
    return await service.list_for(principal, status, date)


@router.post("/{appointment_id}/confirm", response_model=AppointmentPublic)
async def confirm(
    appointment_id: IdPath, principal: CurrentPrincipal, service: AppointmentServiceDep
) -> object:
    """An admin of the salon confirms; the customer is notified (`appointment_confirmed`)."""
    return await service.confirm(principal, appointment_id)


@router.post("/{appointment_id}/cancel", response_model=AppointmentPublic)
async def cancel(
    appointment_id: IdPath, principal: CurrentPrincipal, service: AppointmentServiceDep
) -> object:
    """The customer or an admin cancels; the other side is notified (`appointment_cancelled`)."""
    return await service.cancel(principal, appointment_id)
