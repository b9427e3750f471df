"""Booking and cancelling rules. Every read is scoped to the caller: others' visits are 404."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from televisit.appointments.models import Appointment, AppointmentStatus
from televisit.appointments.repository import AppointmentRepository
from televisit.appointments.schemas import AppointmentPublic
from televisit.audit import service as audit
from televisit.audit.models import Action, Outcome
from televisit.auth import links
from televisit.core.config import Settings
from televisit.core.errors import BadRequest, Conflict, NotFound, Unprocessable
from televisit.core.pagination import page, time_key
from televisit.mail import service as mail
from televisit.realtime.channels import user_channel
from televisit.realtime.events import queue_event
from televisit.signaling.frames import AppointmentUpdated
from televisit.users import service as users_service
from televisit.users.models import Role, User


class AppointmentNotFound(NotFound):
    code = "appointment_not_found"
    message = "No such appointment."


def visit_url(settings: Settings, appointment_id: uuid.UUID) -> str:
    """The visit's page in the web app: what emails and calendar entries link to."""
    return f"{settings.effective_public_url}/visits/{appointment_id}"


def _validate_slot(settings: Settings, *, starts_at: datetime, duration: int, now: datetime) -> None:
    problems = []
    if starts_at <= now:
        problems.append({"loc": ["body", "starts_at"], "msg": "must be in the future"})
    elif starts_at > now + timedelta(days=settings.appointment_max_days_ahead):
        problems.append({"loc": ["body", "starts_at"],
                         "msg": f"must be within {settings.appointment_max_days_ahead} days"})
    if not settings.appointment_min_minutes <= duration <= settings.appointment_max_minutes:
        problems.append({"loc": ["body", "duration_minutes"],
                         "msg": f"must be between {settings.appointment_min_minutes} and "
                                f"{settings.appointment_max_minutes} minutes"})
    if problems:
        raise Unprocessable("The appointment time is not valid.", code="invalid_slot", details=problems)


@dataclass(frozen=True)
class NewPatient:
    """A patient named by the doctor who books: the account with this email, or an invited one."""

    full_name: str
    email: str


async def _patient(session: AsyncSession, *, doctor: User, patient_id: uuid.UUID | None,
                   new_patient: NewPatient | None, now: datetime) -> User:
    if new_patient is not None:
        # The doctor's row first (bookings lock both people anyway): on SQLite this write opens the
        # transaction, so a new account's insert (in a savepoint) is undone with a refused booking.
        await users_service.lock(session, user_ids=[doctor.id])
        user, invited = await users_service.patient_for_booking(
            session, email=new_patient.email, full_name=new_patient.full_name, now=now)
        if invited:
            await audit.record(session, action=Action.account_invite, actor=doctor, object_type="user",
                               object_id=user.id, now=now)
        return user
    if patient_id is None:
        raise Unprocessable("Give patient_id or patient.", details=[
            {"loc": ["body", "patient_id"], "msg": "give either patient_id or patient"}])
    found = await users_service.get(session, user_id=patient_id)
    if found is None or found.role != Role.patient or not found.is_active:
        raise NotFound("No such patient.", code="patient_not_found")
    return found


async def book(
    session: AsyncSession,
    *,
    settings: Settings,
    doctor: User,
    patient_id: uuid.UUID | None,
    starts_at: datetime,
    duration_minutes: int,
    reason: str | None,
    now: datetime,
    new_patient: NewPatient | None = None,
) -> Appointment:
    """Book a visit with a patient: by id, or by name and email (an account with that email is
    booked; otherwise an invited one is made, in the same transaction). The patient's invitation
    carries the visit's join link."""
    _validate_slot(settings, starts_at=starts_at, duration=duration_minutes, now=now)
    patient = await _patient(session, doctor=doctor, patient_id=patient_id, new_patient=new_patient,
                             now=now)
    repo = AppointmentRepository(session)
    ends_at = starts_at + timedelta(minutes=duration_minutes)
    people = [doctor.id, patient.id]
    await users_service.lock(session, user_ids=people)
    await repo.mark_missed(user_ids=people, now=now)
    if await repo.has_overlap(user_ids=people, starts_at=starts_at, ends_at=ends_at):
        raise Conflict("The doctor or the patient already has a visit at that time.",
                       code="appointment_overlap")
    appointment = await repo.add(
        Appointment(
            doctor_id=doctor.id, patient_id=patient.id, starts_at=starts_at,
            duration_minutes=duration_minutes, ends_at=ends_at, reason=reason or None,
            status=AppointmentStatus.scheduled, created_at=now, updated_at=now,
        )
    )
    await audit.record(session, action=Action.appointment_book, actor=doctor, object_type="appointment",
                       object_id=appointment.id, now=now, data={"patient_id": patient.id})
    await links.issue(session, settings=settings, appointment_id=appointment.id,
                      patient_id=patient.id, ends_at=ends_at, now=now)
    await mail.visit_booked(session, appointment=appointment, settings=settings, now=now)
    return appointment


async def move(
    session: AsyncSession,
    *,
    settings: Settings,
    doctor: User,
    appointment_id: uuid.UUID,
    starts_at: datetime | None,
    duration_minutes: int | None,
    now: datetime,
) -> Appointment:
    """The visit's doctor moves it (start, length or both), under the same rules as a booking."""
    appointment = await get_for_user(session, user=doctor, appointment_id=appointment_id, now=now,
                                     for_update=True)
    if appointment.doctor_id != doctor.id:
        raise AppointmentNotFound()
    if appointment.status != AppointmentStatus.scheduled:
        raise Conflict(f"A {appointment.status} appointment cannot be moved.", code="appointment_not_movable")
    previous = (appointment.starts_at, appointment.duration_minutes)
    new_start = starts_at or appointment.starts_at
    new_duration = duration_minutes or appointment.duration_minutes
    if (new_start, new_duration) == previous:
        return appointment
    _validate_slot(settings, starts_at=new_start, duration=new_duration, now=now)
    repo = AppointmentRepository(session)
    people = [appointment.doctor_id, appointment.patient_id]
    ends_at = new_start + timedelta(minutes=new_duration)
    await users_service.lock(session, user_ids=people)
    if await repo.has_overlap(user_ids=people, starts_at=new_start, ends_at=ends_at,
                              exclude_id=appointment.id):
        raise Conflict("The doctor or the patient already has a visit at that time.",
                       code="appointment_overlap")
    appointment.starts_at, appointment.ends_at = new_start, ends_at
    appointment.duration_minutes = new_duration
    appointment.sequence += 1
    appointment.updated_at = now
    await session.flush()
    await audit.record(session, action=Action.appointment_change, actor=doctor, object_type="appointment",
                       object_id=appointment.id, now=now,
                       data={"starts_at": previous[0].isoformat(), "duration_minutes": previous[1]})
    announce(session, appointment)
    # The old link (in earlier emails, calendars, perhaps forwarded) stops; the change carries a new one.
    await links.revoke(session, appointment_id=appointment.id,
                       patient_id=appointment.patient_id, reason="moved", now=now)
    await links.issue(session, settings=settings, appointment_id=appointment.id,
                      patient_id=appointment.patient_id, ends_at=ends_at, now=now)
    await mail.visit_moved(session, appointment=appointment, previous_starts_at=previous[0],
                           previous_duration_minutes=previous[1], settings=settings, now=now)
    return appointment


async def get_for_user(
    session: AsyncSession, *, user: User, appointment_id: uuid.UUID, now: datetime,
    for_update: bool = False, with_people: bool = True, action: Action = Action.appointment_read,
) -> Appointment:
    """The visit if ``user`` is its doctor or patient, else 404 (``for_update`` locks its row).

    Asking for someone else's visit is recorded as a denial of ``action``.
    """
    repo = AppointmentRepository(session)
    await repo.mark_missed(user_ids=[user.id], now=now)
    appointment = await repo.get_for_user(appointment_id, user.id, for_update=for_update,
                                          with_people=with_people)
    if appointment is None:
        if await repo.exists(appointment_id):
            await audit.record(session, action=action, actor=user, object_type="appointment",
                               object_id=appointment_id, now=now, outcome=Outcome.denied)
        raise AppointmentNotFound()
    return appointment


async def read(session: AsyncSession, *, user: User, appointment_id: uuid.UUID, now: datetime) -> Appointment:
    """One of the caller's visits (GET), recorded as read."""
    appointment = await get_for_user(session, user=user, appointment_id=appointment_id, now=now)
    await audit.record(session, action=Action.appointment_read, actor=user, object_type="appointment",
                       object_id=appointment.id, now=now)
    return appointment


async def find_for_participant(
    session: AsyncSession, *, appointment_id: uuid.UUID, user_id: uuid.UUID, with_people: bool = True
) -> Appointment | None:
    """The visit if ``user_id`` is one of its two people, else None (``with_people=False`` skips
    loading the two users when only their ids are needed)."""
    return await AppointmentRepository(session).get_for_user(appointment_id, user_id,
                                                             with_people=with_people)


async def get(session: AsyncSession, *, appointment_id: uuid.UUID) -> Appointment:
    """The visit, for the system (a room timer ending its call)."""
    appointment = await AppointmentRepository(session).get(appointment_id)
    if appointment is None:
        raise AppointmentNotFound()
    return appointment


async def begin_call(session: AsyncSession, appointment: Appointment, *, room_id: uuid.UUID,
                     now: datetime) -> None:
    """A call started in ``room_id``: the visit is in progress (both people are told)."""
    appointment.status = AppointmentStatus.in_progress
    appointment.room_id = room_id
    appointment.updated_at = now
    await session.flush()
    announce(session, appointment)


async def finish_call(session: AsyncSession, appointment: Appointment, *, room_id: uuid.UUID,
                      held: bool, now: datetime) -> None:
    """The call in ``room_id`` ended: the visit took place if both people were in it; a call
    nobody answered (declined, hung up while ringing, unused) leaves it to be held (or missed)."""
    if appointment.status == AppointmentStatus.in_progress and appointment.room_id == room_id:
        appointment.status = AppointmentStatus.completed if held else AppointmentStatus.scheduled
        appointment.updated_at = now
        await session.flush()
    announce(session, appointment)


async def next_message_seq(session: AsyncSession, *, appointment_id: uuid.UUID) -> int:
    """Take the conversation's next `seq`; the row stays locked until commit, so seqs are gap-free."""
    return await AppointmentRepository(session).next_message_seq(appointment_id)


async def list_for_user(
    session: AsyncSession,
    *,
    user: User,
    status: AppointmentStatus | None,
    starts_from: datetime | None,
    starts_to: datetime | None,
    cursor: str | None,
    limit: int,
    now: datetime,
    only: uuid.UUID | None = None,
) -> tuple[list[Appointment], str | None]:
    """The caller's visits; ``only``: a session opened from a join link sees its one visit."""
    if starts_from and starts_to and starts_from >= starts_to:
        raise BadRequest("`from` must be before `to`.", code="invalid_range")
    after = time_key(cursor) if cursor else None
    repo = AppointmentRepository(session)
    await repo.mark_missed(user_ids=[user.id], now=now)
    rows = await repo.list_for_user(
        user.id, status=status, starts_from=starts_from, starts_to=starts_to, after=after,
        limit=limit + 1, only=only,
    )
    shown, next_cursor = page(rows, limit, lambda a: (a.starts_at, a.id))
    filters = {"status": status, "from": starts_from, "to": starts_to}
    await audit.record(session, action=Action.appointment_list, actor=user, object_type="appointment",
                       object_id=None, now=now, data={"filters": {k: v for k, v in filters.items() if v},
                                                      "page": bool(cursor), "count": len(shown)})
    return shown, next_cursor


async def cancel(
    session: AsyncSession, *, user: User, appointment_id: uuid.UUID, reason: str | None, now: datetime
) -> Appointment:
    appointment = await get_for_user(
        session, user=user, appointment_id=appointment_id, now=now, for_update=True,
        action=Action.appointment_cancel,
    )
    if appointment.status == AppointmentStatus.cancelled:
        raise Conflict("The appointment is already cancelled.", code="appointment_already_cancelled")
    if appointment.status == AppointmentStatus.in_progress:
        raise Conflict("The visit is in progress; end the call instead.", code="appointment_in_progress")
    if appointment.status != AppointmentStatus.scheduled:
        raise Conflict(f"A {appointment.status} appointment cannot be cancelled.",
                       code="appointment_not_cancellable")
    appointment.status = AppointmentStatus.cancelled
    appointment.cancelled_at = now
    appointment.cancelled_by_id = user.id
    appointment.cancel_reason = reason or None
    appointment.sequence += 1
    appointment.updated_at = now
    await session.flush()
    await audit.record(session, action=Action.appointment_cancel, actor=user, object_type="appointment",
                       object_id=appointment.id, now=now)
    announce(session, appointment)
    await links.revoke(session, appointment_id=appointment.id,
                       patient_id=appointment.patient_id, reason="cancelled", now=now)
    await mail.visit_cancelled(session, appointment=appointment, cancelled_by=user.id, now=now)
    return appointment


def announce(session: AsyncSession, appointment: Appointment) -> None:
    """Tell both people's devices, after the commit, that the appointment changed."""
    event = AppointmentUpdated(appointment=AppointmentPublic.model_validate(appointment))
    for person in (appointment.doctor_id, appointment.patient_id):
        queue_event(session, user_channel(person), event)


def ensure_startable(appointment: Appointment, *, settings: Settings, now: datetime) -> None:
    """A call may start from shortly before the visit until its end, unless cancelled or over.

    A completed visit can be called again inside its slot: an accidental hang-up is not the end.
    """
    startable = (AppointmentStatus.scheduled, AppointmentStatus.in_progress, AppointmentStatus.completed)
    if appointment.status not in startable:
        raise Conflict(f"A {appointment.status} appointment cannot be started.",
                       code="appointment_not_startable")
    if now < appointment.starts_at - timedelta(minutes=settings.call_early_minutes):
        raise Conflict("It is too early to start this visit.", code="appointment_too_early")
    if now >= appointment.ends_at:
        raise Conflict("This visit is over.", code="appointment_not_startable")
