from __future__ import annotations

import uuid

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from televisit.appointments.models import Appointment
from televisit.chat.models import Message


class MessageRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def by_client_id(
        self, *, appointment_id: uuid.UUID, sender_id: uuid.UUID, client_msg_id: str
    ) -> Message | None:
        stmt = select(Message).where(
            Message.appointment_id == appointment_id,
            Message.sender_id == sender_id,
            Message.client_msg_id == client_msg_id,
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def next_seq(self, appointment_id: uuid.UUID) -> int:
        """Take the next seq; the row stays locked until commit, so seqs are gap-free."""
        stmt = (
            update(Appointment)
            .where(Appointment.id == appointment_id)
            .values(last_message_seq=Appointment.last_message_seq + 1)
            .returning(Appointment.last_message_seq)
            .execution_options(synchronize_session=False)
        )
        return int((await self.session.execute(stmt)).scalar_one())

    async def add(self, message: Message) -> Message:
        self.session.add(message)
        await self.session.flush()
        return message

    async def after(self, appointment_id: uuid.UUID, *, after_seq: int, limit: int) -> list[Message]:
        stmt = (
            select(Message)
            .where(Message.appointment_id == appointment_id, Message.seq > after_seq)
            .order_by(Message.seq)
            .limit(limit)
        )
        return list((await self.session.execute(stmt)).scalars())
