"""Staff administration under /admin (admins only): accounts, their sessions and throttling."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from televisit.admin import service
from televisit.admin.deps import AuditedAdmin
from televisit.admin.schemas import (
    AdminUserDetail,
    AdminUserList,
    AdminUserPublic,
    ClearedThrottling,
    MfaReset,
    RevokedSessions,
)
from televisit.core.deps import NowDep, PasswordsDep, SessionDep, SettingsDep
from televisit.core.pagination import INVALID_CURSOR, Cursor, Limit
from televisit.core.schemas import errors
from televisit.core.text import NO_NUL_PATTERN
from televisit.users.models import Role
from televisit.users.schemas import WEAK_PASSWORD, AdminUserCreate, UserPublic

router = APIRouter(prefix="/admin", tags=["admin"])
USER = "/users/{user_id}"


@router.get("/users", operation_id="admin-users-list",
            responses=errors(400, 401, 403, 422, refusals={400: INVALID_CURSOR}))
async def list_users(
    admin: AuditedAdmin,
    session: SessionDep,
    now: NowDep,
    query: Annotated[str | None, Query(max_length=100, pattern=NO_NUL_PATTERN,
                                      description="Part of a name or email.")] = None,
    role: Role | None = None,
    active: Annotated[bool | None, Query(description="Active (true) or deactivated (false).")] = None,
    cursor: Cursor = None,
    limit: Limit = 25,
) -> AdminUserList:
    """Every account, by name; search by name or email, filter by role and state."""
    rows, next_cursor = await service.list_users(
        session, admin=admin, query=query, role=role, active=active, cursor=cursor, limit=limit, now=now
    )
    return AdminUserList(items=[AdminUserPublic.model_validate(u) for u in rows], next_cursor=next_cursor)


@router.post(
    "/users",
    operation_id="admin-users-create",
    status_code=status.HTTP_201_CREATED,
    responses=errors(401, 403, 409, 422, refusals={422: WEAK_PASSWORD}),
)
async def create_user(
    body: AdminUserCreate, admin: AuditedAdmin, session: SessionDep, passwords: PasswordsDep, now: NowDep
) -> UserPublic:
    """Create an account of any role (doctors and admins can only be made this way or by the CLI)."""
    user = await service.create_user(
        session, admin=admin, passwords=passwords, email=body.email, password=body.password,
        full_name=body.full_name, role=body.role, now=now, time_zone=body.time_zone,
    )
    return UserPublic.model_validate(user)


@router.get(USER, operation_id="admin-users-get", responses=errors(401, 403, 404, 422))
async def get_user(
    user_id: uuid.UUID, admin: AuditedAdmin, session: SessionDep, settings: SettingsDep, now: NowDep
) -> AdminUserDetail:
    """One account, with its open sessions and recent failed sign-ins."""
    return await service.get_user(session, admin=admin, settings=settings, user_id=user_id, now=now)


@router.post(f"{USER}/deactivate", operation_id="admin-users-deactivate",
             responses=errors(401, 403, 404, 409, 422))
async def deactivate_user(
    user_id: uuid.UUID, admin: AuditedAdmin, session: SessionDep, settings: SettingsDep, now: NowDep
) -> AdminUserDetail:
    """Stop the account signing in; every session ends at once and its open sockets close.
    An admin cannot deactivate their own account (409 `cannot_deactivate_self`)."""
    return await service.deactivate(session, admin=admin, settings=settings, user_id=user_id, now=now)


@router.post(f"{USER}/reactivate", operation_id="admin-users-reactivate",
             responses=errors(401, 403, 404, 422))
async def reactivate_user(
    user_id: uuid.UUID, admin: AuditedAdmin, session: SessionDep, settings: SettingsDep, now: NowDep
) -> AdminUserDetail:
    """Let a deactivated account sign in again."""
    return await service.reactivate(session, admin=admin, settings=settings, user_id=user_id, now=now)


@router.post(f"{USER}/revoke-sessions", operation_id="admin-users-revoke-sessions",
             responses=errors(401, 403, 404, 422))
async def revoke_sessions(
    user_id: uuid.UUID, admin: AuditedAdmin, session: SessionDep, now: NowDep
) -> RevokedSessions:
    """Sign the account out on every device at once (it may sign in again)."""
    revoked = await service.revoke_sessions(session, admin=admin, user_id=user_id, now=now)
    return RevokedSessions(revoked=revoked)


@router.post(f"{USER}/clear-throttling", operation_id="admin-users-clear-throttling",
             responses=errors(401, 403, 404, 422))
async def clear_throttling(
    user_id: uuid.UUID, admin: AuditedAdmin, session: SessionDep, now: NowDep
) -> ClearedThrottling:
    """Forget the account's failed sign-ins, so a locked-out person can try again now."""
    cleared = await service.clear_account_throttling(session, admin=admin, user_id=user_id, now=now)
    return ClearedThrottling(cleared=cleared)


@router.post(f"{USER}/reset-mfa", operation_id="admin-users-reset-mfa", responses=errors(401, 403, 404, 422))
async def reset_mfa(user_id: uuid.UUID, admin: AuditedAdmin, session: SessionDep, now: NowDep) -> MfaReset:
    """Turn the account's two-factor sign-in off (a lost phone and recovery codes): the person signs
    in with the password, and enrols again where their role requires two-factor sign-in."""
    return MfaReset(reset=await service.reset_mfa(session, admin=admin, user_id=user_id, now=now))
