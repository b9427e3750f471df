from __future__ import annotations

import uuid
from datetime import datetime
from functools import cache
from typing import Any, NamedTuple

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Integer,
    Row,
    Select,
    Subquery,
    Update,
    and_,
    bindparam,
    case,
    delete,
    exists,
    func,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute, aliased, joinedload

from televisit.appointments.models import (
    Appointment,
    AppointmentEvent,
    AppointmentStatus,
    CheckIn,
    PatientPresence,
)
from televisit.chat.models import Message
from televisit.core.db import lock_rows, rowcount, table_of
from televisit.core.pagination import after_key
from televisit.rooms.models import Instance, Room, RoomParticipant, RoomStatus
from televisit.users.models import User

# `messages`, `rooms`, `room_participants` and `instances` are read here (never written), for the
# appointment's derived fields: one set-based query each per page rather than a service call per row.
ACTIVE = (AppointmentStatus.scheduled, AppointmentStatus.in_progress)


@cache
def visit_views() -> Select[*tuple[Any, ...]]:
    """Everything a visit's public form shows, as plain columns of one row per visit: the visit,
    its two people's names, its check-in and its live or last call (outer joins), the time of its
    last message and each person's unread count (read through the messages' (visit, seq) key,
    only when there can be any), and whether its doctor is in another visit's live call now
    (only for visits not over). One statement for a page or for one visit, no ORM objects: a
    page of 50 was half its time building and tracking 250 of them (docs/benchmarks.md, REST).
    Built once (statements are immutable; building this one cost more than running it)."""
    visit, doctor, patient = Appointment, aliased(User), aliased(User)

    def unread(sender: InstrumentedAttribute[uuid.UUID], marker: InstrumentedAttribute[int]) -> Any:
        count = (select(func.count()).select_from(Message)
                 .where(Message.appointment_id == visit.id, Message.sender_id == sender, Message.seq > marker)
                 .scalar_subquery())
        return case((visit.last_message_seq > marker, count), else_=0)

    last_at = (select(Message.created_at)
               .where(Message.appointment_id == visit.id, Message.seq == visit.last_message_seq)
               .scalar_subquery())
    live, other = aliased(Room), aliased(Appointment)
    busy = exists().where(
        live.status == RoomStatus.in_progress, other.id == live.appointment_id,
        other.doctor_id == visit.doctor_id, other.id != visit.id,
        RoomParticipant.room_id == live.id, RoomParticipant.user_id == other.doctor_id,
        RoomParticipant.left_at.is_(None),
    )
    return (
        select(
            visit.id, visit.doctor_id, visit.patient_id, visit.starts_at, visit.ends_at,
            visit.duration_minutes, visit.reason, visit.status, visit.created_at, visit.cancelled_at,
            visit.cancel_reason, visit.room_id,
            doctor.full_name.label("doctor_name"), patient.full_name.label("patient_name"),
            CheckIn.at.label("check_in_at"), CheckIn.present.label("check_in_present"),
            CheckIn.left_at.label("check_in_left_at"), CheckIn.checks.label("check_in_checks"),
            Room.created_at.label("call_started_at"), Room.first_joined_at.label("call_first_joined_at"),
            Room.ended_at.label("call_ended_at"),
            case((visit.last_message_seq > 0, last_at)).label("last_message_at"),
            unread(visit.patient_id, visit.doctor_read_seq).label("unread_for_doctor"),
            unread(visit.doctor_id, visit.patient_read_seq).label("unread_for_patient"),
            case((visit.status.in_(ACTIVE), busy), else_=False).label("doctor_busy"),
        )
        .join(doctor, doctor.id == visit.doctor_id)
        .join(patient, patient.id == visit.patient_id)
        .outerjoin(CheckIn, CheckIn.appointment_id == visit.id)
        .outerjoin(Room, Room.id == visit.room_id)
    )


class _PageShape(NamedTuple):
    """Which filters a page of visits has: one statement is built for each shape, once."""

    only: bool
    with_person: bool
    statuses: int  # 0, 1, or 2 for several
    starts_from: bool
    starts_to: bool
    after: bool


@cache
def _page_statement(shape: _PageShape) -> Select[*tuple[Any, ...]]:
    """A page of a person's visits, the values as bound parameters (`list_for_user` names them).

    Built once per shape and reused: SQLAlchemy keys its compiled-SQL cache on a statement's
    structure, and working that key out on a fresh statement of this size (the page's
    subqueries around `visit_views`), plus building it, cost more per request than running it.
    """
    conditions: list[ColumnElement[bool]] = []
    if shape.only:
        conditions.append(Appointment.id == bindparam("only"))
    if shape.with_person:
        person = bindparam("with_person", type_=Appointment.doctor_id.type)
        conditions.append(or_(Appointment.doctor_id == person, Appointment.patient_id == person))
    if shape.statuses:
        # The status as the page shows it: a visit that ended unheld is `missed` whether or not
        # a write has stored it yet (`mark_missed`; reads do not write it).
        due = and_(Appointment.status == AppointmentStatus.scheduled,
                   Appointment.ends_at <= bindparam("now", type_=Appointment.ends_at.type))
        shown = case((due, AppointmentStatus.missed.value), else_=Appointment.status)
        kind = Appointment.status.type
        conditions.append(shown == bindparam("status", type_=kind) if shape.statuses == 1
                          else shown.in_(bindparam("statuses", type_=kind, expanding=True)))
    if shape.starts_from:
        conditions.append(Appointment.starts_at >= bindparam("starts_from"))
    if shape.starts_to:
        conditions.append(Appointment.starts_at < bindparam("starts_to"))
    if shape.after:
        after_at: BindParameter[datetime] = bindparam("after_at", type_=Appointment.starts_at.type)
        after_id: BindParameter[uuid.UUID] = bindparam("after_id", type_=Appointment.id.type)
        conditions.append(after_key(Appointment.starts_at, Appointment.id, (after_at, after_id)))
    order = (Appointment.starts_at, Appointment.id)
    limit = bindparam("limit", type_=Integer)

    # The first `limit` of the person's visits as doctor and as patient, each read in order
    # from its (person, starts_at) index, then the page of those (at most 2 * limit rows):
    # the work is bounded by the page, not by the person's history (an OR of the two would
    # sort every matching row first).
    def first(person: InstrumentedAttribute[uuid.UUID]) -> Subquery:
        return (select(Appointment.id).where(person == bindparam("user_id"), *conditions).order_by(*order)
                .limit(limit).subquery())

    as_doctor, as_patient = first(Appointment.doctor_id), first(Appointment.patient_id)
    ids = union_all(select(as_doctor.c.id), select(as_patient.c.id))
    return visit_views().where(Appointment.id.in_(ids)).order_by(*order).limit(limit)


@cache
def _visit_statement() -> Select[*tuple[Any, ...]]:
    """One visit of a person, as its row of `visit_views` (built once, values bound)."""
    person = bindparam("user_id", type_=Appointment.doctor_id.type)
    return visit_views().where(Appointment.id == bindparam("appointment_id", type_=Appointment.id.type),
                               or_(Appointment.doctor_id == person, Appointment.patient_id == person))


@cache
def _next_seq_statement() -> Update:
    """The conversation's next `seq`, taken (built once, the visit's id bound; on the table, see
    `core.db.table_of`): every chat message runs it."""
    table = table_of(Appointment)
    return (update(table).where(table.c.id == bindparam("appointment_id", type_=table.c.id.type))
            .values(last_message_seq=table.c.last_message_seq + 1).returning(table.c.last_message_seq))


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

    async def view_for_user(self, appointment_id: uuid.UUID, user_id: uuid.UUID) -> Row[Any] | None:
        """The visit as its row of `visit_views` if ``user_id`` is its doctor or patient, else None
        (a status as stored: `public_fields` with ``now`` shows an ended unheld visit missed)."""
        connection = await self.session.connection()
        result = await connection.execute(_visit_statement(),
                                          {"appointment_id": appointment_id, "user_id": user_id})
        return result.first()

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
        if for_update and self.session.get_bind().dialect.name == "sqlite":
            await lock_rows(self.session, Appointment.updated_at, [appointment_id])
        elif for_update:
            # PostgreSQL: locked and read by one statement (`lock_rows`'s FOR NO KEY UPDATE, on
            # the visit's row only, not its people's), read as it is once the lock is ours.
            stmt = stmt.with_for_update(key_share=True, of=Appointment).execution_options(
                populate_existing=True)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def list_for_user(
        self,
        user_id: uuid.UUID,
        *,
        status: list[AppointmentStatus] | None,
        starts_from: datetime | None,
        starts_to: datetime | None,
        after: tuple[datetime, uuid.UUID] | None,
        limit: int,
        now: datetime,
        only: uuid.UUID | None = None,
        with_person: uuid.UUID | None = None,
    ) -> list[Row[Any]]:
        """A page of the person's visits as rows of `visit_views` (what the public form needs).

        A `status` filter takes the visits that ended unheld by ``now`` as `missed` (stored or
        not: `mark_missed` runs before the writes and the services' own loads of a visit, not
        for what a person reads); `public_fields` shows them so."""
        statuses = list(dict.fromkeys(status or ()))
        shape = _PageShape(only=only is not None, with_person=with_person is not None,
                           statuses=min(len(statuses), 2), starts_from=starts_from is not None,
                           starts_to=starts_to is not None, after=after is not None)
        given = {"only": only, "with_person": with_person, "starts_from": starts_from, "starts_to": starts_to}
        params: dict[str, Any] = {"user_id": user_id, "limit": limit,
                                  **{name: value for name, value in given.items() if value is not None}}
        if len(statuses) == 1:
            params["status"], params["now"] = statuses[0], now
        elif statuses:
            params["statuses"], params["now"] = statuses, now
        if after is not None:
            params["after_at"], params["after_id"] = after
        # On the session's connection: plain rows, without the ORM's result set-up for each page.
        connection = await self.session.connection()
        return list((await connection.execute(_page_statement(shape), params)).all())

    async def next_message_seq(self, appointment_id: uuid.UUID) -> int:
        result = await self.session.execute(_next_seq_statement(), {"appointment_id": appointment_id})
        return int(result.scalar_one())

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
        """Visits of these people that ended unheld become `missed` (applied lazily, before a write
        and when a service loads a visit to act on it; what a person reads, a visit or a page of
        them, shows them so without writing).

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

    async def views(self, appointment_ids: list[uuid.UUID]) -> dict[uuid.UUID, Row[Any]]:
        """These visits as rows of `visit_views`, by id (one query, whatever their number)."""
        if not appointment_ids:
            return {}
        rows = await self.session.execute(visit_views().where(Appointment.id.in_(appointment_ids)))
        return {row.id: row for row in rows}

    async def doctors_in_calls(self, doctor_ids: list[uuid.UUID]) -> dict[uuid.UUID, set[uuid.UUID]]:
        """For each of these doctors, the visits whose live room they are in now."""
        stmt = (
            select(Appointment.doctor_id, Appointment.id)
            .select_from(Room)
            .join(Appointment, Appointment.id == Room.appointment_id)
            .join(RoomParticipant, and_(RoomParticipant.room_id == Room.id,
                                        RoomParticipant.user_id == Appointment.doctor_id,
                                        RoomParticipant.left_at.is_(None)))
            .where(Room.status == RoomStatus.in_progress, Appointment.doctor_id.in_(set(doctor_ids)))
        )
        found: dict[uuid.UUID, set[uuid.UUID]] = {}
        for doctor_id, appointment_id in (await self.session.execute(stmt)).all():
            found.setdefault(doctor_id, set()).add(appointment_id)
        return found

    async def first_overlap(self, *, user_ids: list[uuid.UUID], starts_at: datetime, ends_at: datetime,
                            exclude_id: uuid.UUID | None = None) -> Appointment | None:
        """The earliest other active visit of these people in the slot, with its people."""
        people = or_(Appointment.doctor_id.in_(user_ids), Appointment.patient_id.in_(user_ids))
        stmt = self._base().where(people, Appointment.status.in_(ACTIVE), Appointment.starts_at < ends_at,
                                  Appointment.ends_at > starts_at)
        if exclude_id is not None:
            stmt = stmt.where(Appointment.id != exclude_id)
        stmt = stmt.order_by(Appointment.starts_at, Appointment.id).limit(1)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def busy_intervals(self, doctor_id: uuid.UUID, *, start: datetime,
                             until: datetime) -> list[tuple[datetime, datetime]]:
        """The doctor's active visits overlapping [start, until), by start."""
        stmt = (select(Appointment.starts_at, Appointment.ends_at)
                .where(Appointment.doctor_id == doctor_id, Appointment.status.in_(ACTIVE),
                       Appointment.ends_at > start, Appointment.starts_at < until)
                .order_by(Appointment.starts_at))
        return [(a, b) for a, b in (await self.session.execute(stmt)).all()]

    # -- check-in and presence -----------------------------------------------------------------
    async def waiting_somewhere(self, patient_id: uuid.UUID, *, now: datetime) -> bool:
        """The patient is checked in, present, in a visit that has not ended."""
        stmt = select(exists().where(
            CheckIn.patient_id == patient_id, CheckIn.present.is_(True),
            CheckIn.appointment_id == Appointment.id,
            Appointment.status.in_((AppointmentStatus.scheduled, AppointmentStatus.in_progress)),
            Appointment.ends_at > now,
        ))
        return bool((await self.session.execute(stmt)).scalar())

    async def check_in(self, appointment_id: uuid.UUID) -> CheckIn | None:
        stmt = select(CheckIn).where(CheckIn.appointment_id == appointment_id).execution_options(
            populate_existing=True)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def add_check_in(self, check_in: CheckIn) -> CheckIn:
        self.session.add(check_in)
        await self.session.flush()
        return check_in

    async def open_check_ins(self, patient_id: uuid.UUID, *, now: datetime) -> list[CheckIn]:
        """Her check-ins on visits still open (not left explicitly, not over)."""
        stmt = (select(CheckIn).join(Appointment, Appointment.id == CheckIn.appointment_id)
                .where(CheckIn.patient_id == patient_id, CheckIn.left_explicitly.is_(False),
                       Appointment.status.in_(ACTIVE), Appointment.ends_at > now)
                .execution_options(populate_existing=True))
        return list((await self.session.execute(stmt)).scalars())

    async def away_check_ins(self, *, before: datetime) -> list[CheckIn]:
        stmt = (select(CheckIn).where(CheckIn.present.is_(True), CheckIn.away_since.is_not(None),
                                      CheckIn.away_since <= before)
                .order_by(CheckIn.appointment_id).execution_options(populate_existing=True))
        return list((await self.session.execute(stmt)).scalars())

    async def mark_gone(self, appointment_id: uuid.UUID, *, away_since: datetime) -> bool:
        """She is no longer in the waiting room (gone since ``away_since``); False when another
        instance recorded it first, or she came back."""
        result = await self.session.execute(
            update(CheckIn)
            .where(CheckIn.appointment_id == appointment_id, CheckIn.present.is_(True),
                   CheckIn.away_since == away_since)
            .values(present=False, left_at=away_since, away_since=None)
            .execution_options(synchronize_session=False))
        return rowcount(result) == 1

    async def add_presence(self, user_id: uuid.UUID, instance_id: str, *, now: datetime) -> None:
        if await self.session.get(PatientPresence, (user_id, instance_id)) is None:
            self.session.add(PatientPresence(user_id=user_id, instance_id=instance_id, since=now))
            await self.session.flush()

    async def remove_presence(self, user_id: uuid.UUID, instance_id: str) -> None:
        await self.session.execute(delete(PatientPresence).where(
            PatientPresence.user_id == user_id, PatientPresence.instance_id == instance_id))

    async def is_connected(self, user_id: uuid.UUID, *, stale_before: datetime) -> bool:
        """Whether the user has an open socket on some instance that is alive."""
        stale = exists().where(Instance.id == PatientPresence.instance_id,
                               Instance.heartbeat_at < stale_before)
        stmt = select(exists().where(PatientPresence.user_id == user_id, ~stale))
        return bool(await self.session.scalar(stmt))

    async def drop_stale_presence(self, *, stale_before: datetime) -> list[uuid.UUID]:
        """Forget the sockets of instances that stopped beating; returns whose they were."""
        stale = exists().where(Instance.id == PatientPresence.instance_id,
                               Instance.heartbeat_at < stale_before)
        users = list((await self.session.execute(
            select(PatientPresence.user_id).where(stale).distinct())).scalars())
        if users:
            await self.session.execute(delete(PatientPresence).where(stale))
        return users

    # -- the visit's log ---------------------------------------------------------------------------
    async def add_event(self, event: AppointmentEvent) -> None:
        self.session.add(event)
        await self.session.flush()

    async def events(self, appointment_id: uuid.UUID, *, after: tuple[datetime, uuid.UUID] | None,
                     limit: int) -> list[AppointmentEvent]:
        stmt = (select(AppointmentEvent).options(joinedload(AppointmentEvent.actor))
                .where(AppointmentEvent.appointment_id == appointment_id))
        if after is not None:
            stmt = stmt.where(after_key(AppointmentEvent.at, AppointmentEvent.id, after))
        stmt = stmt.order_by(AppointmentEvent.at, AppointmentEvent.id).limit(limit)
        return list((await self.session.execute(stmt)).scalars())

    async def mark_read(self, appointment: Appointment, *, reader_id: uuid.UUID, seq: int) -> bool:
        """Move the reader's marker forward to ``seq`` (never back); True if it moved."""
        column = (Appointment.doctor_read_seq if reader_id == appointment.doctor_id
                  else Appointment.patient_read_seq)
        result = await self.session.execute(
            update(Appointment).where(Appointment.id == appointment.id, column < seq)
            .values({column: seq}).execution_options(synchronize_session=False))
        moved = rowcount(result) == 1
        if moved:
            if reader_id == appointment.doctor_id:
                appointment.doctor_read_seq = seq
            else:
                appointment.patient_read_seq = seq
        return moved
