from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Row, and_, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from televisit.auth.models import AuthSession, LoginFailure
from televisit.users.models import User


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

    async def revoke_of_user(self, user_id: uuid.UUID, session_id: uuid.UUID, *, at: datetime) -> bool:
        stmt = (
            update(AuthSession)
            .where(AuthSession.id == session_id, AuthSession.user_id == user_id,
                   AuthSession.revoked_at.is_(None))
            .values(revoked_at=at)
        )
        return bool(cast(CursorResult[Any], await self.session.execute(stmt)).rowcount)

    async def revoke_all_of_user(self, user_id: uuid.UUID, *, at: datetime,
                                 keep: uuid.UUID | None = None) -> int:
        stmt = (
            update(AuthSession)
            .where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None),
                   AuthSession.expires_at > at)
            .values(revoked_at=at)
        )
        if keep is not None:
            stmt = stmt.where(AuthSession.id != keep)
        return cast(CursorResult[Any], await self.session.execute(stmt)).rowcount

    async def mark_seen(self, session_id: uuid.UUID, *, seen_at: datetime, idle: timedelta) -> bool:
        """Move `last_seen_at` forward to ``seen_at`` only if the session was alive then: a late
        write never revives an expired or revoked session."""
        stmt = (
            update(AuthSession)
            .where(AuthSession.id == session_id, AuthSession.revoked_at.is_(None),
                   AuthSession.last_seen_at < seen_at, AuthSession.last_seen_at > seen_at - idle,
                   AuthSession.expires_at > seen_at)
            .values(last_seen_at=seen_at)
            .execution_options(synchronize_session=False)
        )
        return bool(cast(CursorResult[Any], await self.session.execute(stmt)).rowcount)

    async def states(self, session_ids: Collection[uuid.UUID]
                     ) -> Sequence[Row[tuple[uuid.UUID, datetime, datetime, datetime | None, bool]]]:
        """(id, last_seen_at, expires_at, revoked_at, the user's is_active) of these sessions."""
        stmt = (
            select(AuthSession.id, AuthSession.last_seen_at, AuthSession.expires_at,
                   AuthSession.revoked_at, User.is_active)
            .join(User, User.id == AuthSession.user_id)
            .where(AuthSession.id.in_(list(session_ids)))
        )
        return (await self.session.execute(stmt)).all()


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
