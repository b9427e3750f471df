from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from televisit.appointments import fhir, service
from televisit.appointments.models import AppointmentStatus, EventKind
from televisit.appointments.schemas import (
    INVALID_SLOT,
    AppointmentCancel,
    AppointmentCreate,
    AppointmentList,
    AppointmentPublic,
    AppointmentUpdate,
    CallQualityCreate,
    CheckInCreate,
    DurationMinutes,
    EventList,
    EventPublic,
    NextFreeSlot,
)
from televisit.auth.deps import CurrentUser, DoctorUser, ScopedAuthDep, VisitUser
from televisit.core.deps import NowDep, SessionDep, SettingsDep
from televisit.core.pagination import INVALID_CURSOR, Cursor, Limit
from televisit.core.schemas import INVALID_RANGE, IsoDateTime, errors
from televisit.core.text import NO_NUL_PATTERN
from televisit.users import service as users_service
from televisit.users.schemas import PatientList, PatientPublic, PersonRef

_STATUS = "(scheduled|in_progress|completed|cancelled|missed)"
STATUS_LIST = f"^{_STATUS}(,{_STATUS})*$"

router = APIRouter(prefix="/appointments", tags=["appointments"])
patients_router = APIRouter(tags=["users"])


@patients_router.get("/patients", operation_id="patients-search",
                     responses=errors(400, 401, 403, 422, refusals={400: INVALID_CURSOR}))
async def search_patients(
    _doctor: DoctorUser,
    session: SessionDep,
    query: Annotated[str | None, Query(max_length=100, pattern=NO_NUL_PATTERN,
                                      description="Part of a name or email.")] = None,
    cursor: Cursor = None,
    limit: Limit = 20,
) -> PatientList:
    """Patients a doctor can book, by name or email, ordered by name."""
    rows, next_cursor = await users_service.search_patients(session, query=query, cursor=cursor,
                                                            limit=limit)
    return PatientList(items=[PatientPublic.model_validate(u) for u in rows], next_cursor=next_cursor)


@router.post(
    "",
    operation_id="appointments-create",
    status_code=status.HTTP_201_CREATED,
    responses=errors(401, 403, 404, 409, 422, refusals={422: INVALID_SLOT}),
)
async def create_appointment(
    body: AppointmentCreate, doctor: DoctorUser, session: SessionDep, settings: SettingsDep, now: NowDep
) -> AppointmentPublic:
    """Book a visit with a patient (doctors only): `patient_id`, or `patient` (name and email) for
    someone who may have no account yet. An account with that email is booked; otherwise an invited
    patient account is made, who comes in with the link in her invitation (no password)."""
    new_patient = body.patient
    appointment = await service.book(
        session, settings=settings, doctor=doctor, patient_id=body.patient_id,
        new_patient=service.NewPatient(full_name=new_patient.full_name, email=str(new_patient.email))
        if new_patient is not None else None,
        starts_at=body.starts_at, duration_minutes=body.duration_minutes, reason=body.reason, now=now,
    )
    return await service.public(session, settings, appointment, viewer_id=doctor.id)


@router.get("", operation_id="appointments-list",
            responses=errors(400, 401, 422, refusals={400: INVALID_CURSOR | INVALID_RANGE}))
async def list_appointments(
    auth: ScopedAuthDep,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    status_: Annotated[str | None, Query(
        alias="status", pattern=STATUS_LIST, max_length=200,
        description="One status, or several separated by commas (`completed,missed,cancelled`).",
    )] = None,
    with_: Annotated[uuid.UUID | None, Query(
        alias="with", description="Only visits with this person (the other party).")] = None,
    starts_from: Annotated[IsoDateTime | None, Query(alias="from")] = None,
    starts_to: Annotated[IsoDateTime | None, Query(alias="to")] = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> AppointmentList:
    """Your own visits, ordered by start time; `from` inclusive, `to` exclusive. A session opened
    from a visit's emailed link lists that visit only."""
    statuses = [AppointmentStatus(s) for s in dict.fromkeys(status_.split(","))] if status_ else None
    rows, next_cursor = await service.list_for_user(
        session, user=auth.user, status=statuses, starts_from=starts_from, starts_to=starts_to,
        cursor=cursor, limit=limit, now=now, only=auth.session.appointment_id, with_person=with_,
    )
    return service.page_of(settings, rows, next_cursor, viewer_id=auth.user.id, now=now)


@router.get("/slots/next-free", operation_id="appointments-next-free",
            responses=errors(401, 403, 409, 422, refusals={422: INVALID_SLOT}))
async def next_free_slot(
    doctor: DoctorUser, session: SessionDep, settings: SettingsDep, now: NowDep,
    duration_minutes: Annotated[DurationMinutes, Query()],
    after: Annotated[IsoDateTime | None, Query(
        description="Not before this (default: a minute from now).")] = None,
) -> NextFreeSlot:
    """The first start on a 5-minute grid, at least a minute from now (time to send the form) and
    not before `after`, at which the doctor has no visit for `duration_minutes`: what the booking
    form suggests."""
    starts_at = await service.next_free(session, settings=settings, doctor=doctor,
                                        duration_minutes=duration_minutes, after=after, now=now)
    return NextFreeSlot(starts_at=starts_at)


@router.get("/{appointment_id}", operation_id="appointments-get", responses=errors(401, 404, 422))
async def get_appointment(
    appointment_id: uuid.UUID, user: VisitUser, session: SessionDep, settings: SettingsDep, now: NowDep
) -> AppointmentPublic:
    return await service.read(session, settings, user=user, appointment_id=appointment_id, now=now)


@router.post("/{appointment_id}/check-in", operation_id="appointments-check-in",
             responses=errors(401, 403, 404, 409, 422))
async def check_in(
    appointment_id: uuid.UUID, body: CheckInCreate, user: VisitUser, session: SessionDep,
    settings: SettingsDep, now: NowDep,
) -> AppointmentPublic:
    """The patient arrives in the visit's waiting room with her pre-call check's results (the
    visit's patient only: its doctor gets 403 `patient_only`), from TELEVISIT_CALL_EARLY_MINUTES
    before the start until the end (else 409 `outside_join_window`; a cancelled or finished visit:
    409 `appointment_not_active`). Again: her results are updated. Both people get
    `appointment.updated`; she stays `present` while she has a connection open."""
    appointment = await service.check_in(session, settings=settings, user=user, appointment_id=appointment_id,
                                         checks=body.checks.model_dump(mode="json"), now=now)
    return await service.public(session, settings, appointment, viewer_id=user.id)


@router.delete("/{appointment_id}/check-in", operation_id="appointments-check-out",
               status_code=status.HTTP_204_NO_CONTENT, responses=errors(401, 403, 404, 409, 422))
async def leave_waiting_room(
    appointment_id: uuid.UUID, user: VisitUser, session: SessionDep, settings: SettingsDep, now: NowDep,
) -> None:
    """The patient leaves the waiting room (409 `not_checked_in` if she never checked in)."""
    await service.leave_waiting_room(session, settings=settings, user=user, appointment_id=appointment_id,
                                     now=now)


@router.get("/{appointment_id}/events", operation_id="appointments-events",
            responses=errors(400, 401, 404, 422, refusals={400: INVALID_CURSOR}))
async def list_events(
    appointment_id: uuid.UUID, user: VisitUser, session: SessionDep, now: NowDep,
    cursor: Cursor = None, limit: Limit = 50,
) -> EventList:
    """The visit's log, oldest first: booked, changed, cancelled, checked in, left the waiting room,
    call started, joined, left, reconnected, declined, call ended (with its reason), and each side's
    call quality report."""
    rows, next_cursor = await service.events(session, user=user, appointment_id=appointment_id,
                                             cursor=cursor, limit=limit, now=now)
    return EventList(items=[EventPublic(
        id=e.id, at=e.at, kind=EventKind(e.kind), data=e.data,
        actor=PersonRef.model_validate(e.actor) if e.actor is not None else None) for e in rows],
        next_cursor=next_cursor)


@router.post("/{appointment_id}/quality", operation_id="appointments-call-quality",
             status_code=status.HTTP_201_CREATED, responses=errors(401, 404, 409, 422))
async def report_call_quality(
    appointment_id: uuid.UUID, body: CallQualityCreate, user: VisitUser, session: SessionDep, now: NowDep,
) -> EventPublic:
    """Your side's summary of the visit's call, sent as you hang up (its doctor or patient): stored
    in the visit's log as a `quality` event, for support. 409 `no_call` if no call was started."""
    event = await service.report_call_quality(session, user=user, appointment_id=appointment_id,
                                              report=body.model_dump(mode="json"), now=now)
    return EventPublic(id=event.id, at=event.at, kind=EventKind(event.kind), data=event.data,
                       actor=PersonRef.model_validate(user))


@router.patch("/{appointment_id}", operation_id="appointments-update",
              responses=errors(401, 403, 404, 409, 422, refusals={422: INVALID_SLOT}))
async def update_appointment(
    appointment_id: uuid.UUID, body: AppointmentUpdate, doctor: DoctorUser, session: SessionDep,
    settings: SettingsDep, now: NowDep,
) -> AppointmentPublic:
    """Move a scheduled visit (its doctor): same rules as booking; the patient is told by email."""
    appointment = await service.move(
        session, settings=settings, doctor=doctor, appointment_id=appointment_id,
        starts_at=body.starts_at, duration_minutes=body.duration_minutes, now=now,
    )
    return await service.public(session, settings, appointment, viewer_id=doctor.id)


@router.get(
    "/{appointment_id}/fhir",
    operation_id="appointments-fhir",
    response_class=Response,
    responses={200: {"description": "A FHIR R5 Appointment resource.",
                     "content": {fhir.MEDIA_TYPE: {"schema": {"type": "object"}}}},
               **errors(401, 404, 422)},
)
async def get_appointment_fhir(
    appointment_id: uuid.UUID, user: VisitUser, session: SessionDep, settings: SettingsDep, now: NowDep
) -> Response:
    """The visit as a FHIR R5 `Appointment` with `virtualService` (its doctor or patient)."""
    body = await fhir.read(session, user=user, appointment_id=appointment_id, settings=settings, now=now)
    return Response(content=body, media_type=fhir.MEDIA_TYPE)


@router.post(
    "/{appointment_id}/cancel",
    operation_id="appointments-cancel",
    responses=errors(401, 404, 409, 422),
)
async def cancel_appointment(
    appointment_id: uuid.UUID,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    body: AppointmentCancel | None = None,
) -> AppointmentPublic:
    """Cancel a scheduled visit (its doctor or its patient)."""
    appointment = await service.cancel(
        session, settings=settings, user=user, appointment_id=appointment_id,
        reason=body.reason if body else None, now=now,
    )
    return await service.public(session, settings, appointment, viewer_id=user.id)
