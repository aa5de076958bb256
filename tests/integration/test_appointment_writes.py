"""An appointment's change and the notification it produces go through the writer's one
path, in the appointment's transaction: both committed, or neither; published after the
commit, in id order with every other write."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.connection import decode_envelope
from app.core.security import Principal
from app.db.models import Appointment, Notification, Service
from app.schemas.appointment import AppointmentCreate
from app.services.appointments import AppointmentService
from app.services.notification_service import NotificationCreator
from app.services.writer import NotificationWriter
from tests.utils.rows import add_account, add_salon, notification


@pytest.fixture
async def booking(sessions: async_sessionmaker[AsyncSession]) -> dict[str, Principal | int]:
    salon = await add_salon(sessions)
    admin = await add_account(sessions, "admin", salon)
    customer = await add_account(sessions, "customer", None)
    async with sessions() as session:
        service = Service(salon_id=salon, name="Haircut", duration_minutes=30, price=20)
        session.add(service)
        await session.commit()
    return {
        "salon": salon,
        "service": service.id,
        "admin": Principal(admin, "admin", salon, 0.0),
        "customer": Principal(customer, "customer", None, 0.0),
    }


async def refuse(sessions, backend: str, table: str, operation: str) -> None:
    """From now on the database refuses every `operation` on `table` (a trigger)."""
    async with sessions() as session:
        if backend == "postgres":
            await session.execute(
                text(
                    "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
                    "$$ BEGIN RAISE EXCEPTION 'refused'; END $$"
                )
            )
            await session.execute(
                text(
                    f"CREATE TRIGGER refuse BEFORE {operation} ON {table} "
                    "FOR EACH ROW EXECUTE FUNCTION refuse()"
                )
            )
        else:
            await session.execute(
                text(
                    f"CREATE TRIGGER refuse BEFORE {operation} ON {table} "
                    "BEGIN SELECT RAISE(ABORT, 'refused'); END"
                )
            )
        await session.commit()


async def appointment_and_notifications(sessions, appointment_id: int):
    async with sessions() as session:
        status = await session.scalar(
            select(Appointment.status).where(Appointment.id == appointment_id)
        )
        titles = (
            await session.scalars(
                select(Notification.title).where(Notification.entity_id == appointment_id)
            )
        ).all()
    return status, list(titles)


async def book(sessions, writer: NotificationWriter, booking) -> int:
    async with sessions() as session:
        service = AppointmentService(session, NotificationCreator(writer))
        data = AppointmentCreate(
            salon_id=booking["salon"],
            service_id=booking["service"],
            start_time=datetime.now(UTC) + timedelta(days=2),
        )
        return (await service.book(booking["customer"], data)).id


async def confirm(sessions, writer: NotificationWriter, booking, appointment_id: int) -> None:
    async with sessions() as session:
        service = AppointmentService(session, NotificationCreator(writer))
        await service.confirm(booking["admin"], appointment_id)


async def test_a_change_and_its_notification_commit_together(sessions, writer, heard, booking):
    appointment = await book(sessions, writer, booking)
    await confirm(sessions, writer, booking, appointment)
    assert await appointment_and_notifications(sessions, appointment) == (
        "confirmed",
        ["New appointment", "Appointment confirmed"],
    )
    published = [decode_envelope(message)[0] for message in heard]
    assert [route.recipient_type for route in published] == ["salon", "customer"]


@pytest.mark.parametrize(
    ("table", "operation"),
    [("notifications", "INSERT"), ("appointments", "UPDATE")],
    ids=["notification-refused", "change-refused"],
)
async def test_a_refused_write_leaves_neither_the_change_nor_its_notification(
    backend, sessions, writer, heard, booking, table, operation
):
    appointment = await book(sessions, writer, booking)
    await refuse(sessions, backend, table, operation)
    with pytest.raises(Exception, match="refused"):
        await confirm(sessions, writer, booking, appointment)
    assert await appointment_and_notifications(sessions, appointment) == (
        "pending",
        ["New appointment"],
    )
    assert len(heard) == 1  # the booking's only
    async with sessions() as session:
        on_table = f" ON {table}" if backend == "postgres" else ""
        await session.execute(text(f"DROP TRIGGER refuse{on_table}"))
        await session.commit()
    # The writer is not left locked or waiting for a publication that never comes.
    async with asyncio.timeout(10):
        [stored] = await writer.create([notification("salon", salon_id=booking["salon"])])
    assert decode_envelope(heard[-1])[0].id == stored.id


async def test_appointments_and_grouped_creates_are_published_in_id_order(
    sessions, writer, heard, booking
):
    """Bookings joined to their own transactions and grouped creates interleave: ids are
    committed in one order and published in it."""
    salon = booking["salon"]
    item = notification("salon", salon_id=salon)
    await asyncio.gather(
        *(book(sessions, writer, booking) for _ in range(10)),
        *(writer.create([item] * size) for size in (1, 30, 2, 7, 1)),
    )
    ids = [decode_envelope(message)[0].id for message in heard]
    assert len(ids) == 10 + 41
    assert ids == sorted(ids)
