from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import select

from app.core.security import Principal
from app.db.models import Appointment
from app.db.repositories.accounts import AccountRepository


class AppointmentRepository(AccountRepository):
    async def add(self, appointment: Appointment) -> Appointment:
        self.session.add(appointment)
        await self.session.flush()
        return appointment

    async def get_for(self, principal: Principal, appointment_id: int) -> Appointment | None:
        """The appointment if it is the caller's: its customer's, or its salon's admins'."""
        appointment = await self.session.get(Appointment, appointment_id)
        if appointment is None:
            return None
        if principal.role == "customer" and appointment.customer_id == principal.user_id:
            return appointment
        if principal.role == "admin" and appointment.salon_id == principal.salon_id:
            return appointment
        return None

    async def list_for(
        self, principal: Principal, status: str | None, day: date | None
    ) -> Sequence[Appointment]:
        query = select(Appointment)
        if principal.role == "admin":
            query = query.where(Appointment.salon_id == principal.salon_id)
        else:
            query = query.where(Appointment.customer_id == principal.user_id)
        if status is not None:
            query = query.where(Appointment.status == status)
        if day is not None:
            start = datetime.combine(day, time.min, tzinfo=UTC)
            query = query.where(
                Appointment.start_time >= start, Appointment.start_time < start + timedelta(days=1)
            )
        query = query.order_by(Appointment.start_time, Appointment.id).limit(500)
        return (await self.session.scalars(query)).all()
