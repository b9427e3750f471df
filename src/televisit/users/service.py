"""Account rules: who may be created, by whom, and who a doctor can find."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from televisit.audit import service as audit
from televisit.audit.models import Action
from televisit.core.errors import Conflict, NotFound, Unprocessable
from televisit.core.pagination import page, text_key
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


async def add_patient_if_new(
    session: AsyncSession, *, email: str, full_name: str, password_hash: str, time_zone: str | None,
    now: datetime,
) -> bool:
    """A new, active patient account for an address nobody has; False (nothing written) when the
    address is taken, also by a concurrent registration."""
    repo = UserRepository(session)
    if await repo.get_by_email(email) is not None:
        return False
    user = _new_user(email=email, full_name=full_name, role=Role.patient, password_hash=password_hash,
                     time_zone=time_zone, now=now)
    try:
        async with session.begin_nested():
            await repo.add(user)
    except IntegrityError:
        return False
    return True


async def patient_for_booking(
    session: AsyncSession, *, email: str, full_name: str, now: datetime,
) -> tuple[User, bool]:
    """The patient a doctor books by name and email: the account that has the address, or a new
    invited one (no usable password; her visits' join links let her in). Returns (user, invited
    now). An address that belongs to staff, or to a deactivated account, cannot be booked (404, as
    for an unknown patient id, so the form tells nobody more than the patient search does)."""
    email = email.strip().lower()
    repo = UserRepository(session)
    user = await repo.get_by_email(email)
    if user is None:
        user = _new_user(email=email, full_name=full_name, role=Role.patient, password_hash=None,
                         time_zone=None, now=now)
        try:
            async with session.begin_nested():
                await repo.add(user)
        except IntegrityError:  # the address was registered meanwhile: book that account
            user = await repo.get_by_email(email)
            if user is None:
                raise
        else:
            return user, True
    if user.role != Role.patient or not user.is_active:
        raise NotFound("No such patient.", code="patient_not_found")
    return user, False


async def set_password(session: AsyncSession, *, user: User, password_hash: str, now: datetime) -> None:
    """A new password (a reset, or an invited patient's first): the account leaves `invited`."""
    user.password_hash = password_hash
    user.updated_at = now
    await session.flush()


def _new_user(*, email: str, full_name: str, role: Role, password_hash: str | None,
              time_zone: str | None, now: datetime) -> User:
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
    """Any account, active or not (sign-in and admins decide what an inactive one may do)."""
    return await UserRepository(session).get(user_id)


async def get_by_email(session: AsyncSession, *, email: str) -> User | None:
    return await UserRepository(session).get_by_email(email)


async def lock(session: AsyncSession, *, user_ids: list[uuid.UUID]) -> None:
    """Hold these people's rows until the transaction ends, so that checks that involve them (a
    booking's overlap check) are not raced by another transaction."""
    await UserRepository(session).lock(user_ids)


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
    after = text_key(cursor) if cursor else None
    rows = await UserRepository(session).search(
        query=(query or "").strip() or None, role=role, active=active, after=after, limit=limit + 1
    )
    return page(rows, limit, lambda u: (u.full_name, u.id))


async def search_patients(
    session: AsyncSession, *, query: str | None, cursor: str | None, limit: int
) -> tuple[list[User], str | None]:
    # PostgreSQL refuses NUL in text; no name or email holds one, so it is bad input, not a 500.
    if query and "\x00" in query:
        raise Unprocessable(
            "The query must not contain NUL characters.",
            details=[{"loc": ["query", "query"], "msg": "must not contain NUL characters"}],
        )
    after = text_key(cursor) if cursor else None
    rows = await UserRepository(session).search_patients(
        query=(query or "").strip() or None, after=after, limit=limit + 1
    )
    return page(rows, limit, lambda u: (u.full_name, u.id))

