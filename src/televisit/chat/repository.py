from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

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
