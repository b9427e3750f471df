from __future__ import annotations

import uuid

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from televisit.core.db import lock_rows
from televisit.core.pagination import after_key
from televisit.users.models import Role, User


class UserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, user_id: uuid.UUID) -> User | None:
        return await self.session.get(User, user_id)

    async def get_by_email(self, email: str) -> User | None:
        stmt = select(User).where(User.email == email.lower())
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def lock(self, user_ids: list[uuid.UUID]) -> None:
        await lock_rows(self.session, User.updated_at, user_ids)

    async def add(self, user: User) -> User:
        self.session.add(user)
        await self.session.flush()
        return user

    async def search_patients(
        self, *, query: str | None, after: tuple[str, uuid.UUID] | None, limit: int
    ) -> list[User]:
        stmt = select(User).where(User.role == Role.patient, User.is_active.is_(True))
        if query:
            like = "%" + query.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            stmt = stmt.where(
                or_(func.lower(User.full_name).like(like, escape="\\"), User.email.like(like, escape="\\"))
            )
        if after is not None:
            stmt = stmt.where(after_key(User.full_name, User.id, after))
        stmt = stmt.order_by(User.full_name, User.id).limit(limit)
        return list((await self.session.execute(stmt)).scalars())

    async def search(
        self, *, query: str | None, role: Role | None, active: bool | None,
        after: tuple[str, uuid.UUID] | None, limit: int,
    ) -> list[User]:
        """Every account (for admins), by part of the name or email, role and state, by name."""
        stmt = select(User)
        if query:
            like = _like(query)
            stmt = stmt.where(
                or_(func.lower(User.full_name).like(like, escape="\\"), User.email.like(like, escape="\\"))
            )
        if role is not None:
            stmt = stmt.where(User.role == role)
        if active is not None:
            stmt = stmt.where(User.is_active.is_(active))
        if after is not None:
            stmt = stmt.where(after_key(User.full_name, User.id, after))
        stmt = stmt.order_by(User.full_name, User.id).limit(limit)
        return list((await self.session.execute(stmt)).scalars())


def _like(query: str) -> str:
    """A LIKE pattern for text anywhere in a value, with the query's own wildcards escaped."""
    return "%" + query.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
