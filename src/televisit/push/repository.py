"""Subscription queries."""
from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from televisit.core.db import rowcount
from televisit.push.models import PushSubscription


class PushRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def by_digest(self, digest: str) -> PushSubscription | None:
        stmt = select(PushSubscription).where(PushSubscription.endpoint_digest == digest)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def of_user(self, user_id: uuid.UUID) -> Sequence[PushSubscription]:
        stmt = (select(PushSubscription).where(PushSubscription.user_id == user_id)
                .order_by(PushSubscription.created_at, PushSubscription.id))
        return (await self.session.execute(stmt)).scalars().all()

    async def add(self, row: PushSubscription) -> PushSubscription:
        self.session.add(row)
        await self.session.flush()
        return row

    async def delete_ids(self, ids: Sequence[uuid.UUID]) -> int:
        if not ids:
            return 0
        stmt = delete(PushSubscription).where(PushSubscription.id.in_(ids))
        return rowcount(await self.session.execute(stmt.execution_options(synchronize_session=False)))

    async def delete_of_user(self, user_id: uuid.UUID, *, digest: str | None = None,
                             session_id: uuid.UUID | None = None,
                             except_session_id: uuid.UUID | None = None) -> int:
        stmt = delete(PushSubscription).where(PushSubscription.user_id == user_id)
        if digest is not None:
            stmt = stmt.where(PushSubscription.endpoint_digest == digest)
        if session_id is not None:
            stmt = stmt.where(PushSubscription.session_id == session_id)
        if except_session_id is not None:
            stmt = stmt.where((PushSubscription.session_id != except_session_id)
                              | PushSubscription.session_id.is_(None))
        return rowcount(await self.session.execute(stmt.execution_options(synchronize_session=False)))

    async def delete_gone(self, sub_id: uuid.UUID, digest: str) -> int:
        """The push service forgot it: delete it unless re-subscribed meanwhile (a new row)."""
        stmt = delete(PushSubscription).where(PushSubscription.id == sub_id,
                                              PushSubscription.endpoint_digest == digest)
        return rowcount(await self.session.execute(stmt.execution_options(synchronize_session=False)))
