"""What an admin may do to accounts. Every action, allowed or refused, leaves an audit record."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from televisit.admin.schemas import AdminUserDetail
from televisit.audit import service as audit
from televisit.audit.models import Action, Outcome
from televisit.auth import service as auth_service
from televisit.core.config import Settings
from televisit.core.errors import Conflict, NotFound
from televisit.core.security import Passwords
from televisit.users import service as users_service
from televisit.users.models import Role, User


class UserNotFound(NotFound):
    code = "user_not_found"
    message = "No such user."


class CannotDeactivateSelf(Conflict):
    code = "cannot_deactivate_self"
    message = "You cannot deactivate your own account; ask another admin."


async def list_users(
    session: AsyncSession, *, admin: User, query: str | None, role: Role | None, active: bool | None,
    cursor: str | None, limit: int, now: datetime,
) -> tuple[list[User], str | None]:
    rows, next_cursor = await users_service.search_accounts(
        session, query=query, role=role, active=active, cursor=cursor, limit=limit
    )
    filters = {k: v for k, v in {"query": query, "role": role, "active": active}.items() if v is not None}
    await audit.record(session, action=Action.admin_users_list, actor=admin, object_type="user",
                       object_id=None, now=now,
                       data={"filters": filters, "page": bool(cursor), "count": len(rows)})
    return rows, next_cursor


async def get_user(
    session: AsyncSession, *, admin: User, settings: Settings, user_id: uuid.UUID, now: datetime
) -> AdminUserDetail:
    user = await _account(session, user_id)
    await audit.record(session, action=Action.admin_users_read, actor=admin, object_type="user",
                       object_id=user.id, now=now)
    return await _detail(session, settings=settings, user=user, now=now)


async def create_user(
    session: AsyncSession, *, admin: User, passwords: Passwords, email: str, password: str,
    full_name: str, role: Role, now: datetime, time_zone: str | None = None,
) -> User:
    user = await users_service.create_user(session, passwords=passwords, email=email,
                                           password=password, full_name=full_name, role=role, now=now,
                                           time_zone=time_zone)
    await audit.record(session, action=Action.admin_users_create, actor=admin, object_type="user",
                       object_id=user.id, now=now, data={"role": role})
    return user


async def deactivate(
    session: AsyncSession, *, admin: User, settings: Settings, user_id: uuid.UUID, now: datetime
) -> AdminUserDetail:
    """The account can no longer sign in; every session ends at once and its sockets close."""
    if user_id == admin.id:
        await audit.record(session, action=Action.admin_users_deactivate, actor=admin,
                           object_type="user", object_id=user_id, now=now, outcome=Outcome.denied,
                           data={"reason": CannotDeactivateSelf.code})
        raise CannotDeactivateSelf()
    user = await _account(session, user_id)
    await users_service.set_active(session, user=user, active=False, now=now)
    revoked = await auth_service.end_sessions_of_user(session, user_id=user.id, now=now,
                                                      reason="deactivated")
    await audit.record(session, action=Action.admin_users_deactivate, actor=admin, object_type="user",
                       object_id=user.id, now=now, data={"sessions_revoked": revoked})
    return await _detail(session, settings=settings, user=user, now=now)


async def reactivate(
    session: AsyncSession, *, admin: User, settings: Settings, user_id: uuid.UUID, now: datetime
) -> AdminUserDetail:
    """The account may sign in again (its old sessions stay revoked)."""
    user = await _account(session, user_id)
    await users_service.set_active(session, user=user, active=True, now=now)
    await audit.record(session, action=Action.admin_users_reactivate, actor=admin, object_type="user",
                       object_id=user.id, now=now)
    return await _detail(session, settings=settings, user=user, now=now)


async def revoke_sessions(
    session: AsyncSession, *, admin: User, user_id: uuid.UUID, now: datetime
) -> int:
    """Sign the account out everywhere (a lost phone); it may sign in again."""
    user = await _account(session, user_id)
    revoked = await auth_service.end_sessions_of_user(session, user_id=user.id, now=now, reason="revoked")
    await audit.record(session, action=Action.admin_users_revoke_sessions, actor=admin,
                       object_type="user", object_id=user.id, now=now, data={"revoked": revoked})
    return revoked


async def clear_account_throttling(
    session: AsyncSession, *, admin: User, user_id: uuid.UUID, now: datetime
) -> int:
    """Forget the account's failed sign-ins, so its owner can try again before the window ends."""
    user = await _account(session, user_id)
    cleared = await auth_service.clear_throttling(session, email=user.email)
    await audit.record(session, action=Action.admin_users_clear_throttling, actor=admin,
                       object_type="user", object_id=user.id, now=now, data={"cleared": cleared})
    return cleared


async def reset_mfa(session: AsyncSession, *, admin: User, user_id: uuid.UUID, now: datetime) -> bool:
    """Turn two-factor sign-in off for someone who lost their phone and recovery codes; they sign
    in with the password alone (or must enrol again, where their role requires it)."""
    user = await _account(session, user_id)
    was_on = await auth_service.reset_mfa(session, user_id=user.id)
    await audit.record(session, action=Action.admin_users_reset_mfa, actor=admin, object_type="user",
                       object_id=user.id, now=now, data={"was_enabled": was_on})
    return was_on


async def _account(session: AsyncSession, user_id: uuid.UUID) -> User:
    user = await users_service.get(session, user_id=user_id)
    if user is None:
        raise UserNotFound()
    return user


async def _detail(session: AsyncSession, *, settings: Settings, user: User, now: datetime) -> AdminUserDetail:
    open_sessions, failures = await auth_service.access_summary(session, settings=settings, user=user,
                                                                now=now)
    return AdminUserDetail.model_validate(
        {**_columns(user), "open_sessions": open_sessions, "recent_failed_sign_ins": failures,
         "mfa_enabled": await auth_service.mfa_enabled(session, user_id=user.id)}
    )


def _columns(user: User) -> dict[str, object]:
    return {k: getattr(user, k) for k in ("id", "email", "full_name", "role", "is_active", "invited",
                                          "created_at", "updated_at")}
