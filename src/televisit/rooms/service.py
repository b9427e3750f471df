"""Room rules (Twilio's): two identities, unused/empty timeouts, maximum duration, end once."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from televisit.appointments import service as appointments
from televisit.appointments.models import Appointment, EventKind
from televisit.audit import service as audit
from televisit.audit.models import Action, Outcome
from televisit.core.config import Settings
from televisit.core.errors import Conflict, NotFound
from televisit.realtime.channels import room_channel, user_channel
from televisit.realtime.events import queue_event
from televisit.rooms.ice import IceGrant, network_test_ice_servers
from televisit.rooms.models import Room, RoomParticipant, RoomStatus
from televisit.rooms.repository import RoomRepository
from televisit.rooms.schemas import ParticipantPublic
from televisit.signaling import frames as f
from televisit.users.models import User


class RoomNotFound(NotFound):
    code = "room_not_found"
    message = "No such room."


class RoomEnded(Conflict):
    code = "room_ended"
    message = "This call has ended."


class DoctorBusy(Conflict):
    code = "doctor_busy"
    message = ("The doctor is finishing another visit. You are in the waiting room and they know "
               "you are here.")


def other_party(appointment: Appointment, user_id: uuid.UUID) -> uuid.UUID:
    return appointment.patient_id if user_id == appointment.doctor_id else appointment.doctor_id



async def start_call(
    session: AsyncSession, *, settings: Settings, user: User, appointment_id: uuid.UUID, now: datetime
) -> tuple[Room, bool]:
    """Return the appointment's live room, creating it (and ringing the other side) if needed."""
    room, created = await _start_or_find(session, settings=settings, user=user,
                                         appointment_id=appointment_id, now=now)
    await audit.record(session, action=Action.call_start, actor=user, object_type="appointment",
                       object_id=room.appointment_id, now=now, data={"room_id": room.id, "new": created})
    return room, created


async def _start_or_find(
    session: AsyncSession, *, settings: Settings, user: User, appointment_id: uuid.UUID, now: datetime
) -> tuple[Room, bool]:
    appointment = await appointments.get_for_user(
        session, user=user, appointment_id=appointment_id, now=now, for_update=True,
        action=Action.call_start,
    )
    repo = RoomRepository(session)
    live = await repo.live_for_appointment(appointment.id)
    if live is not None:
        return live, False
    appointments.ensure_startable(appointment, settings=settings, now=now)
    if user.id == appointment.patient_id and await appointments.doctor_in_other_call(session, appointment):
        raise DoctorBusy()  # never ring a doctor who is in another patient's call
    # The doctor admits a patient waiting in the waiting room: she joins without a ring.
    admit = user.id == appointment.doctor_id and await appointments.is_waiting(
        session, appointment_id=appointment.id)
    try:
        async with session.begin_nested():
            room = await repo.add(Room(appointment_id=appointment.id, status=RoomStatus.in_progress,
                                       created_by_id=user.id, created_at=now))
    except IntegrityError:  # another request started it a moment ago
        live = await repo.live_for_appointment(appointment.id)
        if live is None:
            raise
        return live, False
    # Ring first: the callee's devices hear `call.incoming` before the visit's update.
    callee = other_party(appointment, user.id)
    queue_event(session, user_channel(callee), f.CallIncoming(
        room_id=room.id, appointment_id=appointment.id, auto_join=admit,
        sender=f.Caller(id=user.id, full_name=user.full_name, role=str(user.role))))
    await appointments.begin_call(session, settings, appointment, room_id=room.id, caller_id=user.id, now=now)
    return await _reload(repo, room.id), True


async def _reload(repo: RoomRepository, room_id: uuid.UUID, *, for_update: bool = False) -> Room:
    room = await repo.get(room_id, for_update=for_update)
    if room is None:
        raise RoomNotFound()
    return room


async def _room_for_user(session: AsyncSession, *, user: User, room_id: uuid.UUID, action: Action,
                         now: datetime, for_update: bool = False, with_people: bool = True,
                         ) -> tuple[Room, Appointment]:
    """The room and its visit if ``user`` is one of its two people; asking for another's is a
    recorded denial of ``action``, answered like a room that does not exist."""
    room = await RoomRepository(session).get(room_id, for_update=for_update)
    if room is None:
        raise RoomNotFound()
    appointment = await appointments.find_for_participant(
        session, appointment_id=room.appointment_id, user_id=user.id, with_people=with_people)
    if appointment is None:  # not one of the room's two identities: it does not exist for them
        await audit.record(session, action=action, actor=user, object_type="appointment",
                           object_id=room.appointment_id, now=now, outcome=Outcome.denied,
                           data={"room_id": room.id})
        raise RoomNotFound()
    return room, appointment


async def visit_of_room(session: AsyncSession, room_id: uuid.UUID) -> uuid.UUID | None:
    """The visit a room belongs to (None: no such room), for the scope check of a session opened
    from a join link (auth/deps.py, signaling)."""
    room = await RoomRepository(session).get(room_id)
    return room.appointment_id if room is not None else None


async def get_room(session: AsyncSession, *, user: User, room_id: uuid.UUID, now: datetime) -> Room:
    room, _ = await _room_for_user(session, user=user, room_id=room_id, action=Action.call_read, now=now)
    await audit.record(session, action=Action.call_read, actor=user, object_type="appointment",
                       object_id=room.appointment_id, now=now, data={"room_id": room.id})
    return room


async def end_room(
    session: AsyncSession, *, settings: Settings, user: User | None, room_id: uuid.UUID, now: datetime,
    status: RoomStatus = RoomStatus.completed, reason: f.RoomEndReason = "ended",
) -> Room:
    """End a live room for both sides. With ``user`` None it is the timer ending it."""
    repo = RoomRepository(session)
    if user is not None:
        room, appointment = await _room_for_user(session, user=user, room_id=room_id, for_update=True,
                                                 action=Action.call_end, now=now)
        if room.status != RoomStatus.in_progress:
            raise RoomEnded()
    else:
        room = await _reload(repo, room_id, for_update=True)
        appointment = await appointments.get(session, appointment_id=room.appointment_id)
    if not await repo.finish(room.id, status=status, reason=reason, now=now):
        raise RoomEnded()
    room = await _reload(repo, room.id)
    joined = {p.user_id for p in room.participants}
    held = {appointment.doctor_id, appointment.patient_id} <= joined
    await appointments.finish_call(session, settings, appointment, room_id=room.id, held=held,
                                   by=user.id if user is not None else None, reason=reason, now=now)
    ended = f.RoomEnded(room_id=room.id, reason=reason, status=str(room.status))
    queue_event(session, room_channel(room.id), ended)
    if room.created_by_id is not None and reason != "declined":
        callee = other_party(appointment, room.created_by_id)
        if callee not in joined:  # it was still ringing there
            queue_event(session, user_channel(callee), f.CallCancelled(
                room_id=room.id, appointment_id=appointment.id, reason=reason))
    for person in (appointment.doctor_id, appointment.patient_id):
        queue_event(session, user_channel(person), ended)
    await audit.record(session, action=Action.call_end, actor=user, object_type="appointment",
                       object_id=appointment.id, now=now, data={"room_id": room.id, "reason": reason})
    return room


async def decline(session: AsyncSession, *, settings: Settings, user: User, room_id: uuid.UUID,
                  now: datetime) -> Room:
    """The callee refuses the call: the caller hears `call.declined` and the room ends."""
    room, appointment = await _room_for_user(session, user=user, room_id=room_id,
                                             action=Action.call_decline, now=now)
    if room.status != RoomStatus.in_progress:
        raise RoomEnded()
    if room.created_by_id == user.id:
        raise Conflict("You cannot decline your own call; end it instead.", code="not_callee")
    mine = await RoomRepository(session).participant(room.id, user.id)
    if mine is not None and mine.left_at is None:
        # Answered on another device a moment ago: a late decline must not end the live call.
        raise Conflict("You already answered this call on another device.", code="call_already_answered")
    queue_event(session, user_channel(other_party(appointment, user.id)), f.CallDeclined(
        room_id=room.id, appointment_id=appointment.id, by=user.id))
    await audit.record(session, action=Action.call_decline, actor=user, object_type="appointment",
                       object_id=appointment.id, now=now, data={"room_id": room.id})
    await appointments.log_event(session, appointment_id=appointment.id, kind=EventKind.declined,
                                 actor_id=user.id, now=now, data={"room_id": str(room.id)})
    return await end_room(session, settings=settings, user=user, room_id=room.id, now=now, reason="declined")


async def join(
    session: AsyncSession, *, user: User, room_id: uuid.UUID, connection_id: str, instance_id: str,
    now: datetime,
) -> Room:
    # A join sits between a callee's accept and the first video frame: it reads the room once
    # (its participants come with it, read after the lock) and skips loading the people.
    room, _appointment = await _room_for_user(session, user=user, room_id=room_id, for_update=True,
                                              with_people=False, action=Action.call_join, now=now)
    if room.status != RoomStatus.in_progress:
        raise RoomEnded()
    participant = next((p for p in room.participants if p.user_id == user.id), None)
    replaced = None
    kind = EventKind.joined if participant is None else EventKind.reconnected
    if participant is None:
        participant = RoomParticipant(room_id=room.id, user_id=user.id, role=str(user.role),
                                      joined_at=now)
        room.participants.append(participant)
    else:
        if participant.left_at is None and participant.connection_id != connection_id:
            replaced = participant.connection_id
        participant.joined_at = now
        participant.left_at = None
    participant.connection_id = connection_id
    participant.instance_id = instance_id
    room.empty_since = None
    room.first_joined_at = room.first_joined_at or now
    await session.flush()
    if room.created_by_id != user.id:
        # The callee answered: stop the ringing on their other devices.
        queue_event(session, user_channel(user.id), f.ExceptConnection(
            connection_id=connection_id, frame=f.CallAnswered(room_id=room.id)))
    if replaced:
        queue_event(session, room_channel(room.id), f.IdentityReplaced(room_id=room.id,
                                                                     connection_id=replaced))
    joined = f.ParticipantJoined(room_id=room.id, participant=ParticipantPublic.model_validate(participant))
    queue_event(session, room_channel(room.id), f.ExceptConnection(connection_id=connection_id, frame=joined))
    room.participants.sort(key=lambda p: p.joined_at)  # the relationship's order, without a reload
    await audit.record(session, action=Action.call_join, actor=user, object_type="appointment",
                       object_id=room.appointment_id, now=now,
                       data={"room_id": room.id, "replaced_other_device": replaced is not None})
    await appointments.log_event(session, appointment_id=room.appointment_id, kind=kind, actor_id=user.id,
                                 now=now, data={"room_id": str(room.id)})
    return room


async def leave(
    session: AsyncSession, *, user_id: uuid.UUID, room_id: uuid.UUID, connection_id: str, now: datetime
) -> bool:
    """Mark the identity gone if this connection still holds it; start the empty timer."""
    repo = RoomRepository(session)
    room = await repo.get(room_id, for_update=True)
    participant = await repo.participant(room_id, user_id)
    if room is None or participant is None or participant.connection_id != connection_id:
        return False
    participant.left_at = now
    participant.connection_id = None
    await session.flush()
    if room.status == RoomStatus.in_progress and await repo.present_count(room.id) == 0:
        room.empty_since = now
        await session.flush()
    queue_event(session, room_channel(room.id), f.ParticipantLeft(
        room_id=room.id, participant=ParticipantPublic.model_validate(participant)))
    await audit.record(session, action=Action.call_leave, actor=audit.ActorRef(user_id, participant.role),
                       object_type="appointment", object_id=room.appointment_id, now=now,
                       data={"room_id": room.id})
    if room.status == RoomStatus.in_progress:
        await appointments.log_event(session, appointment_id=room.appointment_id, kind=EventKind.left,
                                     actor_id=user_id, now=now, data={"room_id": str(room.id)})
    return True



async def sweep(session: AsyncSession, *, settings: Settings, now: datetime) -> list[uuid.UUID]:
    """End every room whose deadline passed. Safe on many instances: each room ends once."""
    repo = RoomRepository(session)
    due = await repo.due(now=now, unused=settings.room_unused_timeout,
                         empty=settings.room_empty_timeout, max_duration=settings.room_max_duration)
    ended = []
    reason: f.RoomEndReason
    for room_id in due:
        room = await repo.get(room_id)
        if room is None or room.status != RoomStatus.in_progress:
            continue
        if room.first_joined_at is None:
            status, reason = RoomStatus.failed, "unused-timeout"
        elif room.created_at <= now - timedelta(seconds=settings.room_max_duration):
            status, reason = RoomStatus.completed, "max-duration"
        else:
            status, reason = RoomStatus.completed, "empty-timeout"
        try:
            await end_room(session, settings=settings, user=None, room_id=room_id, now=now, status=status,
                           reason=reason)
        except RoomEnded:
            continue
        ended.append(room_id)
    return ended


async def release_orphans(session: AsyncSession, *, now: datetime, stale_after: int) -> int:
    """Participants held by instances that stopped beating leave, so empty timers can run."""
    repo = RoomRepository(session)
    orphans = await repo.orphaned_participants(stale_before=now - timedelta(seconds=stale_after))
    for participant in orphans:
        await leave(session, user_id=participant.user_id, room_id=participant.room_id,
                    connection_id=participant.connection_id or "", now=now)
    return len(orphans)


async def live_count(session: AsyncSession) -> int:
    """Rooms in progress across the cluster (for the metrics)."""
    return await RoomRepository(session).count_live()


async def heartbeat(session: AsyncSession, *, instance_id: str, now: datetime) -> None:
    """This instance is alive: its participants stay in their rooms."""
    await RoomRepository(session).heartbeat(instance_id, now=now)


async def network_test_grant(session: AsyncSession, *, settings: Settings, user: User,
                             appointment_id: uuid.UUID, now: datetime) -> IceGrant:
    """ICE servers for the pre-call check of a visit ``user`` takes part in (else 404)."""
    await appointments.get_for_user(session, user=user, appointment_id=appointment_id, now=now,
                                    with_people=False)
    return network_test_ice_servers(settings, user_id=user.id, now=now)
