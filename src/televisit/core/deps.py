"""Named dependencies that routes declare: the session, the clock, the signed-in user and role."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from televisit.auth import service as auth_service
from televisit.auth.passwords import Passwords
from televisit.core.config import Settings
from televisit.core.db import session_scope
from televisit.core.errors import Forbidden, Unauthorized
from televisit.core.logging import bind_user
from televisit.users.models import Role, User


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_passwords(request: Request) -> Passwords:
    return request.app.state.passwords


def get_now(request: Request) -> datetime:
    return request.app.state.clock.now()


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with session_scope(request.app.state.sessionmaker, request.app.state.publish) as session:
        yield session


def client_ip(request: Request) -> str:
    # Behind nginx uvicorn runs with --proxy-headers, so request.client is the real address.
    return request.client.host if request.client else "unknown"


SettingsDep = Annotated[Settings, Depends(get_settings)]
PasswordsDep = Annotated[Passwords, Depends(get_passwords)]
NowDep = Annotated[datetime, Depends(get_now)]
# scope="function": commit right after the route returns, so a failed commit is still an error reply.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
ClientIPDep = Annotated[str, Depends(client_ip)]

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


async def get_current_user(auth: AuthDep) -> User:
    return auth.user


CurrentUser = Annotated[User, Depends(get_current_user)]


def require_role(*roles: Role):
    async def check(user: CurrentUser) -> User:
        if user.role not in roles:
            raise Forbidden()
        return user

    return check


DoctorUser = Annotated[User, Depends(require_role(Role.doctor))]
AdminUser = Annotated[User, Depends(require_role(Role.admin))]
