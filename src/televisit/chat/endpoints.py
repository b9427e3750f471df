from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from televisit.auth.deps import VisitUser
from televisit.chat import service
from televisit.chat.schemas import MessageCreate, MessageList, MessagePublic, ReadMarker
from televisit.core.deps import NowDep, SessionDep, SettingsDep
from televisit.core.schemas import errors

router = APIRouter(prefix="/appointments/{appointment_id}/messages", tags=["chat"])


@router.get("", operation_id="messages-list", responses=errors(401, 404, 422))
async def list_messages(
    appointment_id: uuid.UUID,
    user: VisitUser,
    session: SessionDep,
    now: NowDep,
    after_seq: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> MessageList:
    """Chat history of an appointment, ascending `seq`, after `after_seq`."""
    rows, next_cursor = await service.history(
        session, user=user, appointment_id=appointment_id, after_seq=after_seq, limit=limit, now=now
    )
    return MessageList(items=[MessagePublic.model_validate(m) for m in rows], next_cursor=next_cursor)


@router.post(
    "",
    operation_id="messages-create",
    status_code=status.HTTP_201_CREATED,
    responses={200: {"model": MessagePublic, "description": "Already stored under this client_msg_id"},
               **errors(401, 404, 409, 422)},
)
async def send_message(
    appointment_id: uuid.UUID,
    body: MessageCreate,
    user: VisitUser,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    response: Response,
) -> MessagePublic:
    """Send a message; the same `client_msg_id` again returns the stored one with 200. After
    `messaging_until` the conversation is read-only: 409 `conversation_closed`."""
    message, created = await service.send(
        session, settings=settings, user=user, appointment_id=appointment_id,
        client_msg_id=body.client_msg_id, body=body.body, now=now,
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return MessagePublic.model_validate(message)


@router.post("/read", operation_id="messages-read", status_code=status.HTTP_204_NO_CONTENT,
             responses=errors(401, 404, 422, refusals={422: {"invalid_seq": "no message has this seq yet"}}))
async def mark_read(appointment_id: uuid.UUID, body: ReadMarker, user: VisitUser, session: SessionDep,
                    now: NowDep) -> None:
    """You read the conversation up to `seq` (your marker never goes back): your other devices and
    the other party get `chat.read`."""
    await service.mark_read(session, user=user, appointment_id=appointment_id, seq=body.seq, now=now)
