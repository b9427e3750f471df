from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from televisit.auth.deps import VisitUser, room_visit_user
from televisit.core.deps import NowDep, SessionDep, SettingsDep
from televisit.core.schemas import errors
from televisit.rooms import service
from televisit.rooms.ice import room_ice_servers
from televisit.rooms.schemas import CallPublic, IceServer, RoomPublic
from televisit.users.models import User

router = APIRouter(tags=["rooms"])
# A session opened from a join link reaches the rooms of its own visit only.
RoomUser = Annotated[User, Depends(room_visit_user(service.visit_of_room))]


@router.post(
    "/appointments/{appointment_id}/call",
    operation_id="appointments-call",
    status_code=status.HTTP_201_CREATED,
    responses={200: {"model": CallPublic, "description": "The call was already live"},
               **errors(401, 404, 409, 422)},
)
async def start_call(
    appointment_id: uuid.UUID,
    user: VisitUser,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    response: Response,
) -> CallPublic:
    """Start the visit's call (or get the live one); the other side gets `call.incoming`, with
    `auto_join` when the doctor calls a patient waiting in the waiting room (she joins at once).
    The patient calling while her doctor is in another live call: 409 `doctor_busy`, no ring."""
    room, created = await service.start_call(
        session, settings=settings, user=user, appointment_id=appointment_id, now=now
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return CallPublic(
        room=RoomPublic.model_validate(room),
        ice_servers=[IceServer(**s) for s in room_ice_servers(
            settings, user_id=user.id, room_created_at=room.created_at, now=now).servers],
        ice_transport_policy=settings.ice_transport_policy,
    )


@router.get("/rooms/{room_id}", operation_id="rooms-get", responses=errors(401, 404, 422))
async def get_room(room_id: uuid.UUID, user: RoomUser, session: SessionDep, now: NowDep) -> RoomPublic:
    room = await service.get_room(session, user=user, room_id=room_id, now=now)
    return RoomPublic.model_validate(room)


@router.post("/rooms/{room_id}/end", operation_id="rooms-end", responses=errors(401, 404, 409, 422))
async def end_room(room_id: uuid.UUID, user: RoomUser, session: SessionDep, settings: SettingsDep,
                   now: NowDep) -> RoomPublic:
    """End the call for both participants (before an answer, this cancels the ringing)."""
    room = await service.end_room(session, settings=settings, user=user, room_id=room_id, now=now)
    return RoomPublic.model_validate(room)
