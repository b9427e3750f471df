"""Sessions and failed sign-ins of one account, as the admin area needs them.

Stand-ins: these write the auth domain's tables, which only `auth.service` should do. The auth
work in progress exposes `revoke_all_sessions` and `clear_throttling`; once it is merged the
admin service calls those and the writes here go.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from televisit.auth.models import AuthSession, LoginFailure


class AccountAccessRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def revoke_sessions(self, user_id: uuid.UUID, *, at: datetime) -> list[uuid.UUID]:
        """Revoke every session not yet revoked (expired ones too: their sockets may be open)."""
        stmt = (
            update(AuthSession)
            .where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))
            .values(revoked_at=at)
            .returning(AuthSession.id)
            .execution_options(synchronize_session=False)
        )
        return list((await self.session.execute(stmt)).scalars())

    async def delete_failures(self, email: str) -> int:
        result = await self.session.execute(delete(LoginFailure).where(LoginFailure.email == email))
        return int(getattr(result, "rowcount", 0) or 0)

    async def count_open_sessions(self, user_id: uuid.UUID, *, now: datetime, seen_since: datetime) -> int:
        stmt = select(func.count()).select_from(AuthSession).where(
            AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None),
            AuthSession.expires_at > now, AuthSession.last_seen_at > seen_since,
        )
        return int((await self.session.execute(stmt)).scalar_one())

    async def count_failures(self, email: str, *, since: datetime) -> int:
        stmt = select(func.count()).select_from(LoginFailure).where(
            LoginFailure.email == email, LoginFailure.occurred_at > since
        )
        return int((await self.session.execute(stmt)).scalar_one())
