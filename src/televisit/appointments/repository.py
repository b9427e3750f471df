from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Select, Subquery, exists, func, or_, select, union_all, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute, joinedload

from televisit.appointments.models import Appointment, AppointmentStatus
from televisit.core.db import lock_rows
from televisit.core.pagination import after_key

ACTIVE = (AppointmentStatus.scheduled, AppointmentStatus.in_progress)


class AppointmentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def _base(self) -> Select[Appointment]:
        # The two people in the same query (inner joins on their primary keys), not two more.
        return select(Appointment).options(
            joinedload(Appointment.doctor, innerjoin=True), joinedload(Appointment.patient, innerjoin=True)
        )

    async def add(self, appointment: Appointment) -> Appointment:
        self.session.add(appointment)
        await self.session.flush()
        added = await self.get(appointment.id)  # reloaded with its people
        if added is None:
            raise RuntimeError("an appointment flushed in this transaction is missing")
        return added

    async def get(self, appointment_id: uuid.UUID) -> Appointment | None:
        stmt = self._base().where(Appointment.id == appointment_id).execution_options(populate_existing=True)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def exists(self, appointment_id: uuid.UUID) -> bool:
        stmt = select(exists().where(Appointment.id == appointment_id))
        return bool((await self.session.execute(stmt)).scalar())

    async def get_for_user(
        self, appointment_id: uuid.UUID, user_id: uuid.UUID, *, for_update: bool = False,
        with_people: bool = True,
    ) -> Appointment | None:
        """The appointment if ``user_id`` is its doctor or patient; ``with_people=False`` skips
        loading the two users (two queries) when the caller needs only the ids."""
        stmt = (self._base() if with_people else select(Appointment)).where(
            Appointment.id == appointment_id,
            or_(Appointment.doctor_id == user_id, Appointment.patient_id == user_id),
        )
        if for_update:
            await lock_rows(self.session, Appointment.updated_at, [appointment_id])
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
        only: uuid.UUID | None = None,
    ) -> list[Appointment]:
        conditions = []
        if only is not None:
            conditions.append(Appointment.id == only)
        if status is not None:
            conditions.append(Appointment.status == status)
        if starts_from is not None:
            conditions.append(Appointment.starts_at >= starts_from)
        if starts_to is not None:
            conditions.append(Appointment.starts_at < starts_to)
        if after is not None:
            conditions.append(after_key(Appointment.starts_at, Appointment.id, after))
        order = (Appointment.starts_at, Appointment.id)

        # The first `limit` of the person's visits as doctor and as patient, each read in order
        # from its (person, starts_at) index, then the page of those (at most 2 * limit rows):
        # the work is bounded by the page, not by the person's history (an OR of the two would
        # sort every matching row first).
        def first(person: InstrumentedAttribute[uuid.UUID]) -> Subquery:
            return (select(Appointment.id).where(person == user_id, *conditions).order_by(*order)
                    .limit(limit).subquery())

        as_doctor, as_patient = first(Appointment.doctor_id), first(Appointment.patient_id)
        ids = union_all(select(as_doctor.c.id), select(as_patient.c.id))
        stmt = self._base().where(Appointment.id.in_(ids)).order_by(*order).limit(limit)
        return list((await self.session.execute(stmt)).scalars())

    async def next_message_seq(self, appointment_id: uuid.UUID) -> int:
        stmt = (
            update(Appointment)
            .where(Appointment.id == appointment_id)
            .values(last_message_seq=Appointment.last_message_seq + 1)
            .returning(Appointment.last_message_seq)
            .execution_options(synchronize_session=False)
        )
        return int((await self.session.execute(stmt)).scalar_one())

    async def has_overlap(self, *, user_ids: list[uuid.UUID], starts_at: datetime, ends_at: datetime,
                          exclude_id: uuid.UUID | None = None) -> bool:
        """Whether these people have another active visit in the slot (but ``exclude_id``, being moved)."""
        people = or_(Appointment.doctor_id.in_(user_ids), Appointment.patient_id.in_(user_ids))
        conditions = [people, Appointment.status.in_(ACTIVE), Appointment.starts_at < ends_at,
                      Appointment.ends_at > starts_at]
        if exclude_id is not None:
            conditions.append(Appointment.id != exclude_id)
        stmt = select(exists().where(*conditions))
        return bool((await self.session.execute(stmt)).scalar())

    async def mark_missed(self, *, user_ids: list[uuid.UUID], now: datetime) -> None:
        """Visits of these people that ended unheld become `missed` (applied lazily, on read).

        Scoped to the caller's own visits, and a read first: on SQLite any UPDATE takes the
        database's write lock, which every page view would otherwise queue for.
        """
        mine = or_(Appointment.doctor_id.in_(user_ids), Appointment.patient_id.in_(user_ids))
        due = (Appointment.status == AppointmentStatus.scheduled, Appointment.ends_at <= now, mine)
        # A count, not `LIMIT 1`: with a limit PostgreSQL bets on finding a due row early in a
        # sequential scan, and when there is none it reads the whole table (340 ms at 1M visits);
        # a count takes the people's and the status indexes together (under a millisecond).
        if not await self.session.scalar(select(func.count()).where(*due)):
            return
        stmt = (
            update(Appointment)
            .where(*due)
            .values(status=AppointmentStatus.missed, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        await self.session.execute(stmt)
