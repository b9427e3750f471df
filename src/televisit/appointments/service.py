"""Booking and cancelling rules. Every read is scoped to the caller: others' visits are 404."""

from __future__ import annotations

import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from televisit.appointments.models import (
    Appointment,
    AppointmentEvent,
    AppointmentStatus,
    CheckIn,
    EventKind,
)
from televisit.appointments.repository import ACTIVE, AppointmentRepository
from televisit.appointments.schemas import (
    AppointmentList,
    AppointmentPublic,
)
from televisit.audit import service as audit
from televisit.audit.models import Action, Outcome
from televisit.auth import links
from televisit.core.config import Settings
from televisit.core.errors import BadRequest, Conflict, Forbidden, NotFound, Unprocessable
from televisit.core.pagination import page, time_key
from televisit.mail import service as mail
from televisit.realtime.channels import user_channel
from televisit.realtime.events import queue_event
from televisit.signaling.frames import AppointmentCreated, AppointmentUpdated
from televisit.users import service as users_service
from televisit.users.models import Role, User
from televisit.users.schemas import PersonRef


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


async def _refuse_overlap(
    repo: AppointmentRepository, *, doctor_id: uuid.UUID, people: list[uuid.UUID], starts_at: datetime,
    ends_at: datetime, exclude_id: uuid.UUID | None = None,
) -> None:
    """409 `appointment_overlap`, naming the doctor's own colliding visit in `details.conflict`
    (a collision with the patient's visit with another doctor is not shown: null)."""
    other = await repo.first_overlap(user_ids=people, starts_at=starts_at, ends_at=ends_at,
                                     exclude_id=exclude_id)
    if other is None:
        return
    conflict = None
    if other.doctor_id == doctor_id:
        conflict = {"id": str(other.id), "starts_at": other.starts_at.isoformat(),
                    "duration_minutes": other.duration_minutes,
                    "patient": PersonRef.model_validate(other.patient).model_dump(mode="json")}
    raise Conflict("The doctor or the patient already has a visit at that time.",
                   code="appointment_overlap", details={"conflict": conflict})


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
    await _refuse_overlap(repo, doctor_id=doctor.id, people=people, starts_at=starts_at, ends_at=ends_at)
    appointment = await repo.add(
        Appointment(
            doctor_id=doctor.id, patient_id=patient.id, starts_at=starts_at,
            duration_minutes=duration_minutes, ends_at=ends_at, reason=reason or None,
            status=AppointmentStatus.scheduled, created_at=now, updated_at=now,
        )
    )
    await audit.record(session, action=Action.appointment_book, actor=doctor, object_type="appointment",
                       object_id=appointment.id, now=now, data={"patient_id": patient.id})
    await log_event(session, appointment_id=appointment.id, kind=EventKind.booked, actor_id=doctor.id,
                    now=now, data={"starts_at": starts_at.isoformat(), "duration_minutes": duration_minutes})
    await announce(session, settings, appointment, created=True)
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
    await _refuse_overlap(repo, doctor_id=doctor.id, people=people, starts_at=new_start, ends_at=ends_at,
                          exclude_id=appointment.id)
    appointment.starts_at, appointment.ends_at = new_start, ends_at
    appointment.duration_minutes = new_duration
    appointment.sequence += 1
    appointment.updated_at = now
    await session.flush()
    await audit.record(session, action=Action.appointment_change, actor=doctor, object_type="appointment",
                       object_id=appointment.id, now=now,
                       data={"starts_at": previous[0].isoformat(), "duration_minutes": previous[1]})
    await log_event(session, appointment_id=appointment.id, kind=EventKind.changed, actor_id=doctor.id,
                    now=now, data={
                        "from": {"starts_at": previous[0].isoformat(), "duration_minutes": previous[1]},
                        "to": {"starts_at": new_start.isoformat(), "duration_minutes": new_duration}})
    await announce(session, settings, appointment)
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
    mark_missed: bool = True,
) -> Appointment:
    """The visit if ``user`` is its doctor or patient, else 404 (``for_update`` locks its row).

    Asking for someone else's visit is recorded as a denial of ``action``. ``mark_missed=False``:
    the caller's rule does not depend on `missed` being stored (chat: only the visit's end and a
    cancellation matter), which saves a statement on every chat message.
    """
    repo = AppointmentRepository(session)
    if mark_missed:
        await repo.mark_missed(user_ids=[user.id], now=now)
    appointment = await repo.get_for_user(appointment_id, user.id, for_update=for_update,
                                          with_people=with_people)
    if appointment is None:
        raise await _not_found(repo, user=user, appointment_id=appointment_id, action=action, now=now)
    return appointment


async def _not_found(repo: AppointmentRepository, *, user: User, appointment_id: uuid.UUID, action: Action,
                     now: datetime) -> AppointmentNotFound:
    """The 404 for a visit that is not ``user``'s; someone else's is recorded as a denial."""
    if await repo.exists(appointment_id):
        await audit.record(repo.session, action=action, actor=user, object_type="appointment",
                           object_id=appointment_id, now=now, outcome=Outcome.denied)
    return AppointmentNotFound()


async def read(session: AsyncSession, settings: Settings, *, user: User, appointment_id: uuid.UUID,
               now: datetime) -> AppointmentPublic:
    """One of the caller's visits as she reads it (GET), recorded as read: one statement and the
    record. Like a page of visits it writes no `missed` mark, and shows an ended unheld visit so."""
    repo = AppointmentRepository(session)
    view = await repo.view_for_user(appointment_id, user.id)
    if view is None:
        raise await _not_found(repo, user=user, appointment_id=appointment_id, action=Action.appointment_read,
                               now=now)
    await audit.record(session, action=Action.appointment_read, actor=user, object_type="appointment",
                       object_id=appointment_id, now=now)
    return to_public(settings, view, viewer_id=user.id, now=now)


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


async def begin_call(session: AsyncSession, settings: Settings, appointment: Appointment, *,
                     room_id: uuid.UUID, caller_id: uuid.UUID, now: datetime) -> None:
    """A call started in ``room_id``: the visit is in progress (both people are told)."""
    appointment.status = AppointmentStatus.in_progress
    appointment.room_id = room_id
    appointment.updated_at = now
    await session.flush()
    await log_event(session, appointment_id=appointment.id, kind=EventKind.call_started, actor_id=caller_id,
                    now=now, data={"room_id": str(room_id)})
    await announce(session, settings, appointment)


async def finish_call(session: AsyncSession, settings: Settings, appointment: Appointment, *,
                      room_id: uuid.UUID, held: bool, by: uuid.UUID | None, reason: str,
                      now: datetime) -> None:
    """The call in ``room_id`` ended: the visit took place if both people were in it; a call
    nobody answered (declined, hung up while ringing, unused) leaves it to be held (or missed)."""
    if appointment.status == AppointmentStatus.in_progress and appointment.room_id == room_id:
        appointment.status = AppointmentStatus.completed if held else AppointmentStatus.scheduled
        appointment.updated_at = now
        await session.flush()
    await log_event(session, appointment_id=appointment.id, kind=EventKind.call_ended, actor_id=by,
                    now=now, data={"room_id": str(room_id), "reason": reason, "held": held})
    await announce(session, settings, appointment)


async def next_message_seq(session: AsyncSession, *, appointment_id: uuid.UUID) -> int:
    """Take the conversation's next `seq`; the row stays locked until commit, so seqs are gap-free."""
    return await AppointmentRepository(session).next_message_seq(appointment_id)


async def list_for_user(
    session: AsyncSession,
    *,
    user: User,
    status: list[AppointmentStatus] | None,
    starts_from: datetime | None,
    starts_to: datetime | None,
    cursor: str | None,
    limit: int,
    now: datetime,
    only: uuid.UUID | None = None,
    with_person: uuid.UUID | None = None,
) -> tuple[list[Row[Any]], str | None]:
    """The caller's visits (rows of `visit_views`); ``only``: a session opened from a join link
    sees its one visit."""
    if starts_from and starts_to and starts_from >= starts_to:
        raise BadRequest("`from` must be before `to`.", code="invalid_range")
    after = time_key(cursor) if cursor else None
    repo = AppointmentRepository(session)
    # No `mark_missed` here: the page shows a visit that ended unheld as missed (`public_fields`)
    # without the write, which every page view paid a query for (docs/benchmarks.md, REST).
    rows = await repo.list_for_user(
        user.id, status=status, starts_from=starts_from, starts_to=starts_to, after=after,
        limit=limit + 1, now=now, only=only, with_person=with_person,
    )
    shown, next_cursor = page(rows, limit, lambda a: (a.starts_at, a.id))
    filters = {"status": ",".join(status) if status else None, "from": starts_from, "to": starts_to,
               "with": with_person}
    await audit.record(session, action=Action.appointment_list, actor=user, object_type="appointment",
                       object_id=None, now=now, data={"filters": {k: v for k, v in filters.items() if v},
                                                      "page": bool(cursor), "count": len(shown)})
    return shown, next_cursor


async def cancel(
    session: AsyncSession, *, settings: Settings, user: User, appointment_id: uuid.UUID,
    reason: str | None, now: datetime,
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
    await log_event(session, appointment_id=appointment.id, kind=EventKind.cancelled, actor_id=user.id,
                    now=now, data={"by": "doctor" if user.id == appointment.doctor_id else "patient"})
    await announce(session, settings, appointment)
    await links.revoke(session, appointment_id=appointment.id,
                       patient_id=appointment.patient_id, reason="cancelled", now=now)
    await mail.visit_cancelled(session, appointment=appointment, cancelled_by=user.id, now=now)
    return appointment


async def announce(session: AsyncSession, settings: Settings, appointment: Appointment, *,
                   created: bool = False) -> None:
    """Tell both people's devices, after the commit, that the appointment changed (or, with
    ``created``, that it was booked); each gets the visit as they read it."""
    view = (await AppointmentRepository(session).views([appointment.id]))[appointment.id]
    for person in (appointment.doctor_id, appointment.patient_id):
        public = to_public(settings, view, viewer_id=person)
        event = AppointmentCreated(appointment=public) if created else AppointmentUpdated(appointment=public)
        queue_event(session, user_channel(person), event)


class _Window(Protocol):
    """What the messaging window is read from: a visit, or its row of `visit_views`."""

    @property
    def ends_at(self) -> datetime: ...
    @property
    def status(self) -> str: ...
    @property
    def cancelled_at(self) -> datetime | None: ...


def messaging_until(settings: Settings, appointment: _Window) -> datetime:
    """Until when the conversation is open: the visit's end (or its cancellation) plus
    TELEVISIT_MESSAGING_WINDOW."""
    return _messaging_until(settings, appointment.status, appointment.ends_at, appointment.cancelled_at)


def _messaging_until(settings: Settings, status: str, ends_at: datetime, cancelled_at: datetime | None
                     ) -> datetime:
    base = cancelled_at if status == AppointmentStatus.cancelled and cancelled_at is not None else ends_at
    return base + timedelta(seconds=settings.messaging_window)


def ensure_messaging_open(settings: Settings, appointment: Appointment, *, now: datetime) -> None:
    if now >= messaging_until(settings, appointment):
        raise Conflict("This conversation is closed; it can still be read.", code="conversation_closed")


def public_fields(settings: Settings, view: Row[Any], *, viewer_id: uuid.UUID,
                  now: datetime | None = None) -> dict[str, Any]:
    """The fields of `AppointmentPublic` for ``viewer_id`` (one of the visit's two people), from its
    row of `repository.visit_views`; validated once for a whole page (`page_of`), not model by
    model. With ``now``, a visit that ended unheld by then is `missed`, stored so or not yet (a
    page of visits does not write it: `list_for_user`).

    Read through the row's mapping: a Row's attributes cost four times as much, and a page
    reads 25 of them from each of its 50 rows."""
    v = view._mapping
    status, ends_at, cancelled_at = v["status"], v["ends_at"], v["cancelled_at"]
    if now is not None and status == AppointmentStatus.scheduled and ends_at <= now:
        status = AppointmentStatus.missed
    call = None
    room_id, call_started_at = v["room_id"], v["call_started_at"]
    if room_id is not None and call_started_at is not None:
        call_ended_at, first_joined_at = v["call_ended_at"], v["call_first_joined_at"]
        duration = None
        if call_ended_at is not None and first_joined_at is not None:
            duration = max(0, int((call_ended_at - first_joined_at).total_seconds()))
        call = {"room_id": room_id, "started_at": call_started_at, "ended_at": call_ended_at,
                "duration_seconds": duration}
    is_doctor = viewer_id == v["doctor_id"]
    check_in = None
    if (check_in_at := v["check_in_at"]) is not None:
        check_in = {"at": check_in_at, "present": v["check_in_present"], "left_at": v["check_in_left_at"],
                    "checks": v["check_in_checks"]}
    return {
        "id": v["id"], "doctor": {"id": v["doctor_id"], "full_name": v["doctor_name"]},
        "patient": {"id": v["patient_id"], "full_name": v["patient_name"]}, "starts_at": v["starts_at"],
        "duration_minutes": v["duration_minutes"], "reason": v["reason"], "status": status,
        "created_at": v["created_at"], "cancelled_at": cancelled_at, "cancel_reason": v["cancel_reason"],
        "room_id": room_id, "check_in": check_in,
        "unread_count": v["unread_for_doctor"] if is_doctor else v["unread_for_patient"],
        "last_message_at": v["last_message_at"],
        "messaging_until": _messaging_until(settings, status, ends_at, cancelled_at),
        "call": call, "doctor_busy": bool(v["doctor_busy"]) and not is_doctor and status in ACTIVE,
    }


def to_public(settings: Settings, view: Row[Any], *, viewer_id: uuid.UUID,
              now: datetime | None = None) -> AppointmentPublic:
    """The visit as ``viewer_id`` (one of its two people) reads it (at ``now``: `public_fields`)."""
    return AppointmentPublic.model_validate(public_fields(settings, view, viewer_id=viewer_id, now=now))


def page_of(settings: Settings, views: list[Row[Any]], next_cursor: str | None, *,
            viewer_id: uuid.UUID, now: datetime) -> AppointmentList:
    """A page of visits as ``viewer_id`` reads them at ``now``, validated in one call."""
    return AppointmentList.model_validate({
        "items": [public_fields(settings, view, viewer_id=viewer_id, now=now) for view in views],
        "next_cursor": next_cursor,
    })


async def public(session: AsyncSession, settings: Settings, appointment: Appointment, *,
                 viewer_id: uuid.UUID) -> AppointmentPublic:
    """The visit as ``viewer_id`` reads it now (one query: its row of `visit_views`)."""
    views = await AppointmentRepository(session).views([appointment.id])
    return to_public(settings, views[appointment.id], viewer_id=viewer_id)


# -- the visit's log --------------------------------------------------------------------------
_last_stamp = 0


def _ordered_id() -> uuid.UUID:
    """An id that sorts after every one this process made before (nanoseconds, then random bits):
    events logged at the same moment (one transaction, one clock reading) keep their order."""
    global _last_stamp
    _last_stamp = max(time.time_ns(), _last_stamp + 1)
    return uuid.UUID(int=(_last_stamp << 64) | secrets.randbits(64))


async def log_event(session: AsyncSession, *, appointment_id: uuid.UUID, kind: EventKind,
                    actor_id: uuid.UUID | None, now: datetime,
                    data: dict[str, object] | None = None) -> AppointmentEvent:
    """Add one moment to the visit's log (rows are never changed)."""
    event = AppointmentEvent(id=_ordered_id(), appointment_id=appointment_id, at=now, kind=kind,
                             actor_id=actor_id, data=data or {})
    await AppointmentRepository(session).add_event(event)
    return event


class NoCall(Conflict):
    code = "no_call"
    message = "No call took place in this visit."


async def report_call_quality(session: AsyncSession, *, user: User, appointment_id: uuid.UUID,
                              report: dict[str, object], now: datetime) -> AppointmentEvent:
    """One side's summary of the visit's call, stored in its log as a `quality` event (for
    support); the visit's two people only, and only once a call was started (else 409)."""
    appointment = await get_for_user(session, user=user, appointment_id=appointment_id, now=now,
                                     with_people=False, action=Action.call_quality_report)
    if appointment.room_id is None:
        raise NoCall()
    event = await log_event(session, appointment_id=appointment.id, kind=EventKind.quality,
                            actor_id=user.id, now=now,
                            data={"room_id": str(appointment.room_id), **report})
    await audit.record(session, action=Action.call_quality_report, actor=user, object_type="appointment",
                       object_id=appointment.id, now=now, data={"room_id": str(appointment.room_id)})
    return event


async def events(session: AsyncSession, *, user: User, appointment_id: uuid.UUID, cursor: str | None,
                 limit: int, now: datetime) -> tuple[list[AppointmentEvent], str | None]:
    """The visit's log, oldest first (its two people only)."""
    after = time_key(cursor) if cursor else None
    appointment = await get_for_user(session, user=user, appointment_id=appointment_id, now=now,
                                     with_people=False, action=Action.appointment_events_read)
    rows = await AppointmentRepository(session).events(appointment.id, after=after, limit=limit + 1)
    shown, next_cursor = page(rows, limit, lambda e: (e.at, e.id))
    await audit.record(session, action=Action.appointment_events_read, actor=user, object_type="appointment",
                       object_id=appointment.id, now=now, data={"page": bool(cursor), "count": len(shown)})
    return shown, next_cursor


# -- the waiting room ---------------------------------------------------------------------------
class PatientOnly(Forbidden):
    code = "patient_only"
    message = "Only the visit's patient can do this."


def _stale_before(settings: Settings, now: datetime) -> datetime:
    """Presence rows of an instance whose heartbeat is older than this are not trusted."""
    return now - timedelta(seconds=settings.instance_heartbeat * 4 + 1)


async def check_in(session: AsyncSession, *, settings: Settings, user: User, appointment_id: uuid.UUID,
                   checks: dict[str, object], now: datetime) -> Appointment:
    """The patient arrives in the waiting room (again: her checks are updated, she is present)."""
    appointment = await get_for_user(session, user=user, appointment_id=appointment_id, now=now,
                                     for_update=True, action=Action.appointment_check_in)
    if user.id != appointment.patient_id:
        raise PatientOnly()
    if appointment.status not in ACTIVE:
        raise Conflict(f"A {appointment.status} visit has no waiting room.", code="appointment_not_active")
    opens = appointment.starts_at - timedelta(minutes=settings.call_early_minutes)
    if not opens <= now < appointment.ends_at:
        raise Conflict("The waiting room is open from shortly before the visit until its end.",
                       code="outside_join_window",
                       details={"opens_at": opens.isoformat(), "closes_at": appointment.ends_at.isoformat()})
    repo = AppointmentRepository(session)
    connected = await repo.is_connected(user.id, stale_before=_stale_before(settings, now))
    existing = await repo.check_in(appointment.id)
    if existing is None:
        await repo.add_check_in(CheckIn(appointment_id=appointment.id, patient_id=user.id, at=now,
                                        present=True, checks=checks, left_explicitly=False,
                                        away_since=None if connected else now))
    else:
        if not existing.present:
            existing.at = now
        existing.present, existing.left_at, existing.left_explicitly = True, None, False
        existing.checks = checks
        existing.away_since = None if connected else now
        await session.flush()
    await audit.record(session, action=Action.appointment_check_in, actor=user, object_type="appointment",
                       object_id=appointment.id, now=now, data={"again": existing is not None})
    await log_event(session, appointment_id=appointment.id, kind=EventKind.checked_in, actor_id=user.id,
                    now=now, data={"checks": checks, "again": existing is not None})
    await announce(session, settings, appointment)
    return appointment


async def leave_waiting_room(session: AsyncSession, *, settings: Settings, user: User,
                             appointment_id: uuid.UUID, now: datetime) -> None:
    """The patient leaves the waiting room herself (a reconnect does not bring her back)."""
    appointment = await get_for_user(session, user=user, appointment_id=appointment_id, now=now,
                                     for_update=True, action=Action.appointment_check_out)
    if user.id != appointment.patient_id:
        raise PatientOnly()
    repo = AppointmentRepository(session)
    existing = await repo.check_in(appointment.id)
    if existing is None:
        raise Conflict("You have not checked in to this visit.", code="not_checked_in")
    await audit.record(session, action=Action.appointment_check_out, actor=user, object_type="appointment",
                       object_id=appointment.id, now=now)
    if existing.left_explicitly:
        return
    existing.present, existing.left_at, existing.left_explicitly, existing.away_since = False, now, True, None
    await session.flush()
    await log_event(session, appointment_id=appointment.id, kind=EventKind.left_waiting_room,
                    actor_id=user.id, now=now, data={"reason": "left"})
    await announce(session, settings, appointment)


async def patient_connected(session: AsyncSession, *, settings: Settings, user_id: uuid.UUID,
                            instance_id: str, now: datetime) -> None:
    """A patient has a socket on this instance: she is connected, and back in the waiting rooms
    she checked in to (and did not leave)."""
    repo = AppointmentRepository(session)
    await repo.add_presence(user_id, instance_id, now=now)
    for check_in_ in await repo.open_check_ins(user_id, now=now):
        if check_in_.present and check_in_.away_since is None:
            continue
        back = not check_in_.present
        check_in_.present, check_in_.away_since = True, None
        if back:
            check_in_.left_at = None
            check_in_.at = now
        await session.flush()
        if back:
            await audit.record(session, action=Action.appointment_check_in,
                               actor=audit.ActorRef(user_id, "patient"), object_type="appointment",
                               object_id=check_in_.appointment_id, now=now, data={"reason": "reconnected"})
            await log_event(session, appointment_id=check_in_.appointment_id, kind=EventKind.checked_in,
                            actor_id=user_id, now=now, data={"reason": "reconnected"})
            visit = await repo.get(check_in_.appointment_id)
            if visit is not None:
                await announce(session, settings, visit)


async def patient_disconnected(session: AsyncSession, *, settings: Settings, user_id: uuid.UUID,
                               instance_id: str, now: datetime) -> None:
    """Her last socket on this instance closed: if she has none anywhere, the grace starts."""
    repo = AppointmentRepository(session)
    await repo.remove_presence(user_id, instance_id)
    if await repo.is_connected(user_id, stale_before=_stale_before(settings, now)):
        return
    await _start_grace(repo, user_id, now=now)


async def _start_grace(repo: AppointmentRepository, user_id: uuid.UUID, *, now: datetime) -> None:
    for check_in_ in await repo.open_check_ins(user_id, now=now):
        if check_in_.present and check_in_.away_since is None:
            check_in_.away_since = now
    await repo.session.flush()


async def sweep_presence(session: AsyncSession, *, settings: Settings, now: datetime) -> int:
    """Patients gone longer than the grace leave their waiting rooms (both people are told).
    Safe on many instances: each change is a conditional update that one of them wins."""
    repo = AppointmentRepository(session)
    stale_before = _stale_before(settings, now)
    for user_id in await repo.drop_stale_presence(stale_before=stale_before):
        if not await repo.is_connected(user_id, stale_before=stale_before):
            await _start_grace(repo, user_id, now=now)
    gone = 0
    for check_in_ in await repo.away_check_ins(before=now - timedelta(seconds=settings.presence_grace)):
        away_since = check_in_.away_since
        if away_since is None:
            continue
        if await repo.is_connected(check_in_.patient_id, stale_before=stale_before):
            check_in_.away_since = None
            await session.flush()
            continue
        if not await repo.mark_gone(check_in_.appointment_id, away_since=away_since):
            continue  # another instance did it
        gone += 1
        # The system's doing (her connection was gone past the grace): no actor in the trail.
        await audit.record(session, action=Action.appointment_check_out, actor=None,
                           object_type="appointment", object_id=check_in_.appointment_id, now=now,
                           data={"reason": "disconnected", "patient_id": check_in_.patient_id})
        await log_event(session, appointment_id=check_in_.appointment_id, kind=EventKind.left_waiting_room,
                        actor_id=check_in_.patient_id, now=now,
                        data={"reason": "disconnected", "since": away_since.isoformat()})
        visit = await repo.get(check_in_.appointment_id)
        if visit is not None:
            await announce(session, settings, visit)
    return gone


async def in_a_waiting_room(session: AsyncSession, *, patient_id: uuid.UUID, now: datetime) -> bool:
    """She is waiting for a visit now (checked in, present, the visit not over): her open page is
    attended, so its pings keep her signed in, as a call's frames do."""
    return await AppointmentRepository(session).waiting_somewhere(patient_id, now=now)


async def is_waiting(session: AsyncSession, *, appointment_id: uuid.UUID) -> bool:
    """The patient is in the visit's waiting room now (checked in and present)."""
    found = await AppointmentRepository(session).check_in(appointment_id)
    return found is not None and found.present


async def doctor_in_other_call(session: AsyncSession, appointment: Appointment) -> bool:
    """The visit's doctor is in the live room of another visit now."""
    busy = await AppointmentRepository(session).doctors_in_calls([appointment.doctor_id])
    return any(visit != appointment.id for visit in busy.get(appointment.doctor_id, ()))


# -- reading marks ---------------------------------------------------------------------------
async def mark_read(session: AsyncSession, appointment: Appointment, *, reader_id: uuid.UUID,
                    seq: int) -> bool:
    """Move the reader's marker forward (never back); True if it moved."""
    return await AppointmentRepository(session).mark_read(appointment, reader_id=reader_id, seq=seq)


# -- the doctor's day ----------------------------------------------------------------------------
GRID = timedelta(minutes=5)


# A suggested start leaves the doctor at least this long to send the form: at 16:14:58 the next
# mark of the grid, 16:15, had passed by the time the booking arrived ("must be in the future").
SUGGESTION_LEAD = timedelta(minutes=1)


def _round_up(moment: datetime) -> datetime:
    """Up to the 5-minute grid (a moment on it stays)."""
    floor = moment.replace(minute=moment.minute - moment.minute % 5, second=0, microsecond=0)
    return floor if floor == moment else floor + GRID


async def next_free(session: AsyncSession, *, settings: Settings, doctor: User, duration_minutes: int,
                    after: datetime | None, now: datetime) -> datetime:
    """The first start on the 5-minute grid, at least `SUGGESTION_LEAD` from now and not before
    ``after``, where the doctor has no scheduled or in-progress visit for ``duration_minutes``."""
    if not settings.appointment_min_minutes <= duration_minutes <= settings.appointment_max_minutes:
        raise Unprocessable("The length is not valid.", code="invalid_slot", details=[
            {"loc": ["query", "duration_minutes"],
             "msg": f"must be between {settings.appointment_min_minutes} and "
                    f"{settings.appointment_max_minutes} minutes"}])
    soonest = now + SUGGESTION_LEAD
    start = _round_up(max(soonest, after) if after is not None else soonest)
    horizon = now + timedelta(days=settings.appointment_max_days_ahead)
    length = timedelta(minutes=duration_minutes)
    repo = AppointmentRepository(session)
    await repo.mark_missed(user_ids=[doctor.id], now=now)
    for busy_from, busy_to in await repo.busy_intervals(doctor.id, start=start, until=horizon + length):
        if start + length <= busy_from:
            break
        if busy_to > start:
            start = _round_up(busy_to)
    if start > horizon:
        raise Conflict("No free time within the booking horizon.", code="no_free_slot")
    await audit.record(session, action=Action.appointment_next_free, actor=doctor, object_type="appointment",
                       object_id=None, now=now, data={"duration_minutes": duration_minutes})
    return start


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
