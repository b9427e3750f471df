from __future__ import annotations

import uuid
from functools import cache

from sqlalchemy import Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from televisit.chat.models import Message
from televisit.core.db import table_of


@cache
def _by_client_id_statement() -> Select[tuple[uuid.UUID]]:
    """The id of a message already stored under its sender's client id, if any (every chat message
    asks, and a new one finds none): built once, its values bound, on the table (no ORM row to
    make for the usual answer, none; see `core.db.table_of`)."""
    t = table_of(Message)
    return select(t.c.id).where(
        t.c.appointment_id == bindparam("appointment_id", type_=t.c.appointment_id.type),
        t.c.sender_id == bindparam("sender_id", type_=t.c.sender_id.type),
        t.c.client_msg_id == bindparam("client_msg_id", type_=t.c.client_msg_id.type),
    )


class MessageRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def by_client_id(
        self, *, appointment_id: uuid.UUID, sender_id: uuid.UUID, client_msg_id: str
    ) -> Message | None:
        found = (await self.session.execute(_by_client_id_statement(), {
            "appointment_id": appointment_id, "sender_id": sender_id, "client_msg_id": client_msg_id,
        })).scalar_one_or_none()
        return None if found is None else await self.session.get(Message, found)

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
