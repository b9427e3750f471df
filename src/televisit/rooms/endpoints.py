from __future__ import annotations

import os
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from televisit.auth.deps import VisitUser, room_visit_user
from televisit.core.deps import NowDep, SessionDep, SettingsDep
from televisit.core.schemas import errors
from televisit.rooms import service
from televisit.rooms.ice import room_ice_servers
from televisit.rooms.schemas import CallPublic, IceServer, NetworkTestPublic, RoomPublic
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


# The pre-call check times this download for a rough bandwidth estimate: big enough to outlast the
# round trip on a good line, small enough for a phone's data plan.
NETWORK_TEST_PAYLOAD_BYTES = 256 * 1024


@router.post("/appointments/{appointment_id}/network-test", operation_id="appointments-network-test",
             responses=errors(401, 404, 422))
async def network_test(appointment_id: uuid.UUID, user: VisitUser, session: SessionDep,
                       settings: SettingsDep, now: NowDep) -> NetworkTestPublic:
    """The ICE servers of a visit's calls, for the pre-call check to gather a TURN relay candidate
    before any room exists (credentials for two minutes)."""
    grant = await service.network_test_grant(session, settings=settings, user=user,
                                             appointment_id=appointment_id, now=now)
    return NetworkTestPublic(ice_servers=[IceServer(**s) for s in grant.servers],
                             ice_transport_policy=settings.ice_transport_policy)


@router.get(
    "/appointments/{appointment_id}/network-test/payload",
    operation_id="appointments-network-test-payload",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}},
                     "description": "256 KiB of random bytes (incompressible), never cached"},
               **errors(401, 404, 422)},
)
async def network_test_payload(appointment_id: uuid.UUID, user: VisitUser, session: SessionDep,
                               settings: SettingsDep, now: NowDep) -> Response:
    """A download the pre-call check times for a rough bandwidth estimate."""
    await service.network_test_grant(session, settings=settings, user=user,
                                     appointment_id=appointment_id, now=now)
    return Response(os.urandom(NETWORK_TEST_PAYLOAD_BYTES), media_type="application/octet-stream",
                    headers={"Cache-Control": "no-store"})


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
