"""Who is asking: the bearer token resolved to its session and user, and role checks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from televisit.auth import service as auth_service
from televisit.core.deps import NowDep, SessionDep, SettingsDep
from televisit.core.errors import Forbidden, Unauthorized
from televisit.core.logging import bind_user
from televisit.users.models import Role, User

_bearer = HTTPBearer(auto_error=False, description="The access token from POST /api/v1/auth/login.")


async def get_auth(
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> auth_service.Authenticated:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized()
    auth = await auth_service.authenticate(
        session, settings=settings, token=credentials.credentials, now=now
    )
    bind_user(auth.user.id)
    return auth


AuthDep = Annotated[auth_service.Authenticated, Depends(get_auth)]


async def get_enrolling_auth(
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> auth_service.Authenticated:
    """Like `get_auth`, but also accepts a session limited to two-factor enrolment: only for the
    routes that enrolment needs (who am I, enrol, confirm, sign out)."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized()
    auth = await auth_service.authenticate(
        session, settings=settings, token=credentials.credentials, now=now, allow_enrollment_only=True
    )
    bind_user(auth.user.id)
    return auth


EnrollingAuthDep = Annotated[auth_service.Authenticated, Depends(get_enrolling_auth)]


async def get_current_user(auth: AuthDep) -> User:
    return auth.user


CurrentUser = Annotated[User, Depends(get_current_user)]


def require_role(*roles: Role) -> Callable[[User], Awaitable[User]]:
    async def check(user: CurrentUser) -> User:
        if user.role not in roles:
            raise Forbidden()
        return user

    return check


DoctorUser = Annotated[User, Depends(require_role(Role.doctor))]
AdminUser = Annotated[User, Depends(require_role(Role.admin))]
