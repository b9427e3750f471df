from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from televisit.appointments.models import Appointment, AppointmentStatus
from televisit.users.models import User

ACTIVE = (AppointmentStatus.scheduled, AppointmentStatus.in_progress)


class AppointmentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def _on_sqlite(self) -> bool:
        return self.session.get_bind().dialect.name == "sqlite"

    def _base(self):
        return select(Appointment).options(
            selectinload(Appointment.doctor), selectinload(Appointment.patient)
        )

    async def add(self, appointment: Appointment) -> Appointment:
        self.session.add(appointment)
        await self.session.flush()
        return await self.get(appointment.id)  # type: ignore[return-value]

    async def get(self, appointment_id: uuid.UUID) -> Appointment | None:
        stmt = self._base().where(Appointment.id == appointment_id).execution_options(populate_existing=True)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def get_for_user(
        self, appointment_id: uuid.UUID, user_id: uuid.UUID, *, for_update: bool = False
    ) -> Appointment | None:
        stmt = self._base().where(
            Appointment.id == appointment_id,
            or_(Appointment.doctor_id == user_id, Appointment.patient_id == user_id),
        )
        if for_update and self._on_sqlite():
            # SQLite ignores FOR UPDATE; a no-op write takes its write lock before the read.
            touch = (
                update(Appointment)
                .where(Appointment.id == appointment_id)
                .values(updated_at=Appointment.updated_at)
                .execution_options(synchronize_session=False)
            )
            await self.session.execute(touch)
        elif for_update:
            stmt = stmt.with_for_update(of=Appointment)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def list_for_user(
        self,
        user_id: uuid.UUID,
        *,
        status: AppointmentStatus | None,
        starts_from: datetime | None,
        starts_to: datetime | None,
        after: tuple[datetime, uuid.UUID] | None,
        limit: int,
    ) -> list[Appointment]:
        stmt = self._base().where(
            or_(Appointment.doctor_id == user_id, Appointment.patient_id == user_id)
        )
        if status is not None:
            stmt = stmt.where(Appointment.status == status)
        if starts_from is not None:
            stmt = stmt.where(Appointment.starts_at >= starts_from)
        if starts_to is not None:
            stmt = stmt.where(Appointment.starts_at < starts_to)
        if after is not None:
            at, last_id = after
            stmt = stmt.where(
                or_(Appointment.starts_at > at, (Appointment.starts_at == at) & (Appointment.id > last_id))
            )
        stmt = stmt.order_by(Appointment.starts_at, Appointment.id).limit(limit)
        return list((await self.session.execute(stmt)).scalars())

    async def has_overlap(self, *, user_ids: list[uuid.UUID], starts_at: datetime, ends_at: datetime) -> bool:
        people = or_(Appointment.doctor_id.in_(user_ids), Appointment.patient_id.in_(user_ids))
        stmt = select(
            exists().where(
                people,
                Appointment.status.in_(ACTIVE),
                Appointment.starts_at < ends_at,
                Appointment.ends_at > starts_at,
            )
        )
        return bool((await self.session.execute(stmt)).scalar())

    async def lock_users(self, user_ids: list[uuid.UUID]) -> None:
        """Serialize bookings that involve the same people, so the overlap check after it is sound.

        PostgreSQL locks the users' rows. SQLite has no row locks, and its driver opens a write
        transaction only at the first write, so a check-then-insert would race; a no-op write
        to the same rows takes SQLite's single write lock before the check instead.
        """
        if self._on_sqlite():
            touch = update(User).where(User.id.in_(user_ids)).values(updated_at=User.updated_at)
            await self.session.execute(touch.execution_options(synchronize_session=False))
            return
        stmt = select(User.id).where(User.id.in_(user_ids)).order_by(User.id).with_for_update()
        await self.session.execute(stmt)

    async def mark_missed(self, *, now: datetime) -> None:
        stmt = (
            update(Appointment)
            .where(Appointment.status == AppointmentStatus.scheduled, Appointment.ends_at <= now)
            .values(status=AppointmentStatus.missed, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        await self.session.execute(stmt)
