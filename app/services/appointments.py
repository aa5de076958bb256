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
from app.services.notification_service import NotificationCreator

Outbox = list[NotificationCreate]  # what the writer stores with the appointment's change


class AppointmentService:
    """Each change and the notification it produces commit together (the writer joins this
    session's transaction), or neither does."""

    def __init__(self, session: AsyncSession, creator: NotificationCreator) -> None:
        self.session = session
        self.repo = AppointmentRepository(session)
        self.creator = creator

    async def book(self, principal: Principal, data: AppointmentCreate) -> Appointment:
        async with self.creator.writer.joining(self.session) as outbox:
            return await self._book(principal, data, outbox)

    async def confirm(self, principal: Principal, appointment_id: int) -> Appointment:
        async with self.creator.writer.joining(self.session) as outbox:
            return await self._confirm(principal, appointment_id, outbox)

    async def cancel(self, principal: Principal, appointment_id: int) -> Appointment:
        async with self.creator.writer.joining(self.session) as outbox:
            return await self._cancel(principal, appointment_id, outbox)

    async def _book(
        self, principal: Principal, data: AppointmentCreate, outbox: Outbox
    ) -> Appointment:
        if principal.role != "customer":
            raise PermissionDenied("only customers book appointments")
        if data.start_time <= datetime.now(UTC):
            raise InvalidRequest("start_time is in the past")
        if await self.repo.salon(data.salon_id) is None:
            raise InvalidRequest(f"salon {data.salon_id} does not exist")
        service = await self.repo.service(data.service_id)
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
            outbox,
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

    async def _confirm(
        self, principal: Principal, appointment_id: int, outbox: Outbox
    ) -> Appointment:
        if principal.role != "admin":
            raise PermissionDenied("only the salon's admins confirm appointments")
        appointment = await self._get(principal, appointment_id)
        if appointment.status == "confirmed":
            return appointment
        if appointment.status == "cancelled":
            raise Conflict(f"appointment {appointment_id} is cancelled")
        appointment.status = "confirmed"
        service = await self.repo.service(appointment.service_id)
        await self._notify(
            outbox,
            appointment,
            "appointment_confirmed",
            "Appointment confirmed",
            f"Your appointment has been confirmed for {_when(appointment.start_time)}",
            to_salon=False,
            service=service,
        )
        return appointment

    async def _cancel(
        self, principal: Principal, appointment_id: int, outbox: Outbox
    ) -> Appointment:
        if principal.role not in ("admin", "customer"):
            raise PermissionDenied("only the customer or the salon's admins cancel appointments")
        appointment = await self._get(principal, appointment_id)
        if appointment.status == "cancelled":
            return appointment
        appointment.status = "cancelled"
        service = await self.repo.service(appointment.service_id)
        by_customer = principal.role == "customer"
        message = (
            "The customer cancelled the appointment of "
            if by_customer
            else "Your appointment was cancelled by the salon: "
        ) + _when(appointment.start_time)
        await self._notify(
            outbox,
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
        outbox: Outbox,
        appointment: Appointment,
        notification_type: str,
        title: str,
        message: str,
        *,
        to_salon: bool,
        service: Service | None,
    ) -> None:
        """Checked now, stored with the appointment when the writer commits its transaction."""
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
        await self.creator.check([data], session=self.session)
        outbox.append(data)


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
