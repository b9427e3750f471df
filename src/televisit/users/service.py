"""Account rules: who may be created, by whom, and who a doctor can find."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from televisit.core.errors import BadRequest, Conflict, Unprocessable
from televisit.core.pagination import decode_cursor, encode_cursor
from televisit.core.security import Passwords
from televisit.users.models import Role, User
from televisit.users.repository import UserRepository


async def create_user(
    session: AsyncSession,
    *,
    passwords: Passwords,
    email: str,
    password: str,
    full_name: str,
    role: Role,
    now: datetime,
    time_zone: str | None = None,
) -> User:
    email = email.strip().lower()
    passwords.check_policy(password, email=email, full_name=full_name)
    repo = UserRepository(session)
    if await repo.get_by_email(email) is not None:
        raise Conflict("An account with this email already exists.", code="email_taken")
    user = User(
        email=email,
        full_name=full_name.strip(),
        role=role,
        password_hash=await passwords.hash(password),
        is_active=True,
        time_zone=time_zone or "UTC",
        created_at=now,
        updated_at=now,
    )
    try:
        async with session.begin_nested():
            await repo.add(user)
    except IntegrityError:  # a concurrent registration won the race
        raise Conflict("An account with this email already exists.", code="email_taken") from None
    return user


async def update_me(session: AsyncSession, *, user: User, time_zone: str, now: datetime) -> User:
    """What a person may change about themselves (for now, where they live: their emails' times)."""
    if user.time_zone != time_zone:
        user.time_zone = time_zone
        user.updated_at = now
        await session.flush()
    return user


async def get_active(session: AsyncSession, *, user_id: uuid.UUID) -> User | None:
    """The user, if the account still exists and is active."""
    user = await UserRepository(session).get(user_id)
    return user if user is not None and user.is_active else None


async def search_patients(
    session: AsyncSession, *, query: str | None, cursor: str | None, limit: int
) -> tuple[list[User], str | None]:
    # PostgreSQL refuses NUL in text; no name or email holds one, so it is bad input, not a 500.
    if query and "\x00" in query:
        raise Unprocessable(
            "The query must not contain NUL characters.",
            details=[{"loc": ["query", "query"], "msg": "must not contain NUL characters"}],
        )
    after = None
    if cursor:
        name, raw_id = decode_cursor(cursor, 2)
        if "\x00" in name:
            raise BadRequest("The cursor is not valid.", code="invalid_cursor")
        after = (name, _parse_uuid(raw_id))
    rows = await UserRepository(session).search_patients(
        query=(query or "").strip() or None, after=after, limit=limit + 1
    )
    next_cursor = encode_cursor(rows[limit - 1].full_name, rows[limit - 1].id) if len(rows) > limit else None
    return rows[:limit], next_cursor


def _parse_uuid(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise BadRequest("The cursor is not valid.", code="invalid_cursor") from None
