"""Appointments: booking, confirming, cancelling, and the notifications each one produces."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.security import Principal
from app.db.models import Appointment, Service
from app.db.repositories.appointments import AppointmentRepository
from app.schemas.appointment import AppointmentCreate
from app.schemas.notification import NotificationCreate
from app.services.errors import Conflict, InvalidRequest, NotFound, PermissionDenied
from app.services.notification_service import NotificationService
from app.services.writer import NotificationWriter


class AppointmentService:
    def __init__(self, session: AsyncSession, writer: NotificationWriter) -> None:
        self.session = session
        self.repo = AppointmentRepository(session)
        self.notifications = NotificationService(session, writer)

    async def book(self, principal: Principal, data: AppointmentCreate) -> Appointment:
        async with self.notifications.writing():
            return await self._book(principal, data)

    async def confirm(self, principal: Principal, appointment_id: int) -> Appointment:
        async with self.notifications.writing():
            return await self._confirm(principal, appointment_id)

    async def cancel(self, principal: Principal, appointment_id: int) -> Appointment:
        async with self.notifications.writing():
            return await self._cancel(principal, appointment_id)

    async def _book(self, principal: Principal, data: AppointmentCreate) -> Appointment:
        if principal.role != "customer":
            raise PermissionDenied("only customers book appointments")
        if data.start_time <= datetime.now(UTC):
            raise InvalidRequest("start_time is in the past")
        if await self.repo.salon(data.salon_id) is None:
            raise InvalidRequest(f"salon {data.salon_id} does not exist")
        service = await self.session.get(Service, data.service_id)
        if service is None or service.salon_id != data.salon_id:
            raise InvalidRequest(
                f"service {data.service_id} is not offered by salon {data.salon_id}"
            )
        appointment = await self.repo.add(
            Appointment(customer_id=principal.user_id, status="pending", **data.model_dump())
        )
        customer = await self.repo.user(principal.user_id)
        who = customer.full_name if customer else "A customer"
        await self._notify(
            appointment,
            "new_appointment",
            "New appointment",
            f"{who} booked {service.name} for {_when(appointment.start_time)}",
            to_salon=True,
            service=service,
        )
        return appointment

    async def list_for(
        self, principal: Principal, status: str | None, day: date | None
    ) -> Sequence[Appointment]:
        if principal.role not in ("admin", "customer"):
            raise PermissionDenied("only admins and customers have appointments")
        return await self.repo.list_for(principal, status, day)

    async def _confirm(self, principal: Principal, appointment_id: int) -> Appointment:
        if principal.role != "admin":
            raise PermissionDenied("only the salon's admins confirm appointments")
        appointment = await self._get(principal, appointment_id)
        if appointment.status == "confirmed":
            return appointment
        if appointment.status == "cancelled":
            raise Conflict(f"appointment {appointment_id} is cancelled")
        appointment.status = "confirmed"
        service = await self.session.get(Service, appointment.service_id)
        await self._notify(
            appointment,
            "appointment_confirmed",
            "Appointment confirmed",
            f"Your appointment has been confirmed for {_when(appointment.start_time)}",
            to_salon=False,
            service=service,
        )
        return appointment

    async def _cancel(self, principal: Principal, appointment_id: int) -> Appointment:
        if principal.role not in ("admin", "customer"):
            raise PermissionDenied("only the customer or the salon's admins cancel appointments")
        appointment = await self._get(principal, appointment_id)
        if appointment.status == "cancelled":
            return appointment
        appointment.status = "cancelled"
        service = await self.session.get(Service, appointment.service_id)
        by_customer = principal.role == "customer"
        message = (
            "The customer cancelled the appointment of "
            if by_customer
            else "Your appointment was cancelled by the salon: "
        ) + _when(appointment.start_time)
        await self._notify(
            appointment,
            "appointment_cancelled",
            "Appointment cancelled",
            message,
            to_salon=by_customer,  # the other side is told
            service=service,
        )
        return appointment

    async def _get(self, principal: Principal, appointment_id: int) -> Appointment:
        appointment = await self.repo.get_for(principal, appointment_id)
        if appointment is None:
            raise NotFound(f"appointment {appointment_id} not found")
        return appointment

    async def _notify(
        self,
        appointment: Appointment,
        notification_type: str,
        title: str,
        message: str,
        *,
        to_salon: bool,
        service: Service | None,
    ) -> None:
        """Store the notification in the appointment's transaction, then commit and publish."""
        data = NotificationCreate(
            notification_type=notification_type,
            title=title,
            message=message,
            recipient_type="salon" if to_salon else "customer",
            recipient_id=None if to_salon else appointment.customer_id,
            salon_id=appointment.salon_id,
            entity_type="appointment",
            entity_id=appointment.id,
            extra_data={
                "appointment_date": appointment.start_time.isoformat(),
                "service_name": service.name if service else None,
            },
        )
        notification = await self.notifications.stage(data)
        await self.notifications.commit_and_publish([notification])


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
