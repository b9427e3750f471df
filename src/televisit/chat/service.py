"""Chat rules: stored before acknowledged, gap-free seq, idempotent by client_msg_id."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from televisit.appointments import service as appointments
from televisit.appointments.models import Appointment
from televisit.audit import service as audit
from televisit.audit.models import Action
from televisit.chat.models import Message
from televisit.chat.repository import MessageRepository
from televisit.chat.schemas import MessagePublic
from televisit.core.config import Settings
from televisit.core.errors import Unprocessable
from televisit.mail import service as mail
from televisit.realtime.channels import user_channel
from televisit.realtime.events import queue_event
from televisit.signaling.frames import ChatMessage, ChatRead
from televisit.users.models import User


def _check_body(body: str, max_length: int) -> str:
    if not body.strip():
        raise Unprocessable("The message is empty.", code="empty_message")
    if len(body) > max_length:
        raise Unprocessable(f"The message is longer than {max_length} characters.",
                            code="message_too_long", details={"max_length": max_length})
    return body


async def send(
    session: AsyncSession,
    *,
    settings: Settings,
    user: User,
    appointment_id: uuid.UUID,
    client_msg_id: str,
    body: str,
    now: datetime,
) -> tuple[Message, bool]:
    """Store a message (or find the one already stored under client_msg_id); True if new.
    After the conversation's window (`messaging_until`) it is 409 `conversation_closed`."""
    body = _check_body(body, settings.chat_max_length)
    # Locking the appointment row serializes senders, so the duplicate check below is exact.
    # Only the two people's ids are needed (the events, the notice email), not their rows.
    appointment = await appointments.get_for_user(
        session, user=user, appointment_id=appointment_id, now=now, for_update=True,
        with_people=False, mark_missed=False, action=Action.chat_send,
    )
    repo = MessageRepository(session)
    existing = await repo.by_client_id(
        appointment_id=appointment.id, sender_id=user.id, client_msg_id=client_msg_id
    )
    if existing is not None:
        await audit.record(session, action=Action.chat_send, actor=user, object_type="appointment",
                           object_id=appointment.id, now=now, data={"message_id": existing.id, "new": False})
        return existing, False
    appointments.ensure_messaging_open(settings, appointment, now=now)
    seq = await appointments.next_message_seq(session, appointment_id=appointment.id)
    message = await repo.add(
        Message(appointment_id=appointment.id, seq=seq, sender_id=user.id,
                client_msg_id=client_msg_id, body=body, created_at=now)
    )
    await audit.record(session, action=Action.chat_send, actor=user, object_type="appointment",
                       object_id=appointment.id, now=now, data={"message_id": message.id, "new": True})
    _announce(session, appointment, message)
    await mail.message_posted(session, appointment=appointment, sender_id=user.id, now=now)
    return message, True


def _announce(session: AsyncSession, appointment: Appointment, message: Message) -> None:
    event = ChatMessage(message=MessagePublic.model_validate(message))
    for person in (appointment.doctor_id, appointment.patient_id):
        queue_event(session, user_channel(person), event)


async def history(
    session: AsyncSession, *, user: User, appointment_id: uuid.UUID, after_seq: int, limit: int,
    now: datetime,
) -> tuple[list[Message], str | None]:
    appointment = await appointments.get_for_user(
        session, user=user, appointment_id=appointment_id, now=now, with_people=False, mark_missed=False,
        action=Action.chat_read,
    )
    rows = await MessageRepository(session).after(appointment.id, after_seq=after_seq, limit=limit + 1)
    next_cursor = str(rows[limit - 1].seq) if len(rows) > limit else None
    await audit.record(session, action=Action.chat_read, actor=user, object_type="appointment",
                       object_id=appointment.id, now=now,
                       data={"after_seq": after_seq, "count": len(rows[:limit])})
    return rows[:limit], next_cursor


async def mark_read(session: AsyncSession, *, user: User, appointment_id: uuid.UUID, seq: int,
                    now: datetime) -> None:
    """Move the caller's read marker to ``seq`` (never back): `chat.read` goes to the caller's
    other devices and to the other party."""
    appointment = await appointments.get_for_user(session, user=user, appointment_id=appointment_id,
                                                  now=now, with_people=False, mark_missed=False,
                                                  action=Action.chat_mark_read)
    if seq > appointment.last_message_seq:
        raise Unprocessable("There is no message with this seq yet.", code="invalid_seq", details=[
            {"loc": ["body", "seq"], "msg": f"must be at most {appointment.last_message_seq}"}])
    moved = await appointments.mark_read(session, appointment, reader_id=user.id, seq=seq)
    await audit.record(session, action=Action.chat_mark_read, actor=user, object_type="appointment",
                       object_id=appointment.id, now=now, data={"seq": seq, "moved": moved})
    if moved:
        event = ChatRead(appointment_id=appointment.id, reader_id=user.id, seq=seq)
        for person in (appointment.doctor_id, appointment.patient_id):
            queue_event(session, user_channel(person), event)
