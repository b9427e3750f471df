"""Account rules: who may be created, by whom, and who a doctor can find."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from televisit.audit import service as audit
from televisit.audit.models import Action
from televisit.auth import service as auth_service
from televisit.core.config import Settings
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
    user = _new_user(email=email, full_name=full_name, role=role,
                     password_hash=await passwords.hash(password), time_zone=time_zone, now=now)
    try:
        async with session.begin_nested():
            await repo.add(user)
    except IntegrityError:  # a concurrent registration won the race
        raise Conflict("An account with this email already exists.", code="email_taken") from None
    return user


REGISTRATION_MESSAGE = (
    "If this address can be registered, you can now sign in. If it already has an account, "
    "sign in with that account's password."
)


async def register_patient(
    session: AsyncSession,
    *,
    session_factory: async_sessionmaker[AsyncSession],
    settings: Settings,
    passwords: Passwords,
    email: str,
    password: str,
    full_name: str,
    client_ip: str,
    now: datetime,
    time_zone: str | None = None,
) -> None:
    """Self-registration that does not tell whether the address already has an account.

    A new address gets an active patient account at once. For a taken address nothing changes (its
    owner is to be told by email, once the server sends email); the password is hashed all the
    same, so the answer takes as long. Throttled per address and in all before any hashing.
    """
    email = email.strip().lower()
    passwords.check_policy(password, email=email, full_name=full_name)
    repo = UserRepository(session)
    async with auth_service.registration_slot(session_factory, settings=settings, client_ip=client_ip,
                                              now=now):
        existing = await repo.get_by_email(email)
        password_hash = await passwords.hash(password)
    if existing is not None:
        return
    user = _new_user(email=email, full_name=full_name, role=Role.patient, password_hash=password_hash,
                     time_zone=time_zone, now=now)
    try:
        async with session.begin_nested():
            await repo.add(user)
    except IntegrityError:  # a concurrent registration of the same address won: the same answer
        return


def _new_user(*, email: str, full_name: str, role: Role, password_hash: str, time_zone: str | None,
              now: datetime) -> User:
    # The zone a person's emails show times in: the browser's at sign-up, else UTC.
    return User(email=email, full_name=full_name.strip(), role=role, password_hash=password_hash,
                is_active=True, time_zone=time_zone or "UTC", created_at=now, updated_at=now)


async def update_me(session: AsyncSession, *, user: User, time_zone: str, now: datetime) -> User:
    """What a person may change about themselves (for now, where they live: their emails' times)."""
    if user.time_zone != time_zone:
        user.time_zone = time_zone
        user.updated_at = now
        await session.flush()
        await audit.record(session, action=Action.account_update, actor=user, object_type="user",
                           object_id=user.id, now=now, data={"fields": ["time_zone"]})
    return user


async def get_active(session: AsyncSession, *, user_id: uuid.UUID) -> User | None:
    """The user, if the account still exists and is active."""
    user = await UserRepository(session).get(user_id)
    return user if user is not None and user.is_active else None


async def get(session: AsyncSession, *, user_id: uuid.UUID) -> User | None:
    """Any account, active or not (for admins)."""
    return await UserRepository(session).get(user_id)


async def set_active(session: AsyncSession, *, user: User, active: bool, now: datetime) -> None:
    """Deactivate or reactivate an account (its sessions are the caller's to revoke)."""
    if user.is_active != active:
        user.is_active = active
        user.updated_at = now
        await session.flush()


async def search_accounts(
    session: AsyncSession, *, query: str | None, role: Role | None, active: bool | None,
    cursor: str | None, limit: int,
) -> tuple[list[User], str | None]:
    """Every account by name or email, role and state, ordered by name (for admins)."""
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
    rows = await UserRepository(session).search(
        query=(query or "").strip() or None, role=role, active=active, after=after, limit=limit + 1
    )
    next_cursor = encode_cursor(rows[limit - 1].full_name, rows[limit - 1].id) if len(rows) > limit else None
    return rows[:limit], next_cursor


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
