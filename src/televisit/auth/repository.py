from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from televisit.auth.models import AuthSession, LoginFailure


class AuthSessionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, auth_session: AuthSession) -> AuthSession:
        self.session.add(auth_session)
        await self.session.flush()
        return auth_session

    async def get_by_digest(self, digest: str) -> AuthSession | None:
        stmt = select(AuthSession).where(AuthSession.token_digest == digest)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def revoke(self, session_id: uuid.UUID, *, at: datetime) -> None:
        stmt = (
            update(AuthSession)
            .where(AuthSession.id == session_id, AuthSession.revoked_at.is_(None))
            .values(revoked_at=at)
        )
        await self.session.execute(stmt)

    async def delete_expired(self, *, before: datetime) -> None:
        await self.session.execute(delete(AuthSession).where(AuthSession.expires_at < before))


class LoginFailureRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, *, email: str, client_ip: str, at: datetime) -> uuid.UUID:
        failure = LoginFailure(email=email, client_ip=client_ip, occurred_at=at)
        self.session.add(failure)
        await self.session.flush()
        return failure.id

    async def remove(self, failure_id: uuid.UUID) -> None:
        await self.session.execute(delete(LoginFailure).where(LoginFailure.id == failure_id))

    async def window(self, *, since: datetime, email: str | None = None, client_ip: str | None = None
                     ) -> tuple[int, datetime | None]:
        """How many failures match after ``since``, and when the oldest of them happened.

        Strictly after: a failure stops counting exactly one window later, as Retry-After promised.
        """
        stmt = select(func.count(), func.min(LoginFailure.occurred_at)).where(
            LoginFailure.occurred_at > since
        )
        if email is not None:
            stmt = stmt.where(LoginFailure.email == email)
        if client_ip is not None:
            stmt = stmt.where(LoginFailure.client_ip == client_ip)
        count, oldest = (await self.session.execute(stmt)).one()
        return int(count), oldest

    async def clear_after_success(self, *, attempt_id: uuid.UUID, email: str, client_ip: str) -> None:
        """Drop this sign-in's reserved attempt and the account's failures from that address.

        One statement that skips rows another transaction holds (PostgreSQL `SKIP LOCKED`; SQLite
        has one writer): two right sign-ins at once would otherwise each delete its own attempt,
        then wait for the other's, a deadlock. A skipped row is one the other sign-in is deleting.
        """
        mine = or_(LoginFailure.id == attempt_id,
                   and_(LoginFailure.email == email, LoginFailure.client_ip == client_ip))
        ids = select(LoginFailure.id).where(mine).with_for_update(skip_locked=True)
        await self.session.execute(
            delete(LoginFailure).where(LoginFailure.id.in_(ids)).execution_options(synchronize_session=False)
        )

    async def prune(self, *, before: datetime) -> None:
        await self.session.execute(delete(LoginFailure).where(LoginFailure.occurred_at < before))
