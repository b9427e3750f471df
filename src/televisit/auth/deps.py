"""Who is asking: the bearer token resolved to its session and user, role checks, and the one
place where a session opened from a join link is held to its visit.

Such a session (`AuthSession.appointment_id` set) reaches only what a route declares it may:
- `VisitUser` / `VisitAuthDep` on routes under `/appointments/{appointment_id}/...`: its own visit
  passes, another visit is 404 (as if it did not exist);
- `room_visit_user(...)` on routes under `/rooms/{room_id}`: the room of its own visit passes;
- `ScopedAuthDep` where a route serves it without a visit in the path and narrows what it answers
  (the visit list lists that visit only);
- `SessionAuthDep`: who am I, and sign out.
Every other dependency (`CurrentUser`, `AuthDep`, `DoctorUser`, `AdminUser`, ...) answers it 403
`scope_limited`, so a new route is closed to it until it says otherwise.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from televisit.auth import service as auth_service
from televisit.core.config import Settings
from televisit.core.deps import NowDep, SessionDep, SettingsDep
from televisit.core.errors import Forbidden, NotFound, Unauthorized
from televisit.core.logging import bind_user
from televisit.core.runtime import core_runtime
from televisit.users.models import Role, User

_bearer = HTTPBearer(auto_error=False, description="The access token from POST /api/v1/auth/login.")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
# The visit a route's object belongs to (None: no such object), for the scope check.
VisitOf = Callable[[AsyncSession, uuid.UUID], Awaitable[uuid.UUID | None]]


async def _authenticate(
    request: Request, session: AsyncSession, settings: Settings, now: datetime,
    credentials: HTTPAuthorizationCredentials | None, *, enrolling: bool = False, scoped: bool = False,
) -> auth_service.Authenticated:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized()
    auth = await auth_service.authenticate(
        session, settings=settings, token=credentials.credentials, now=now,
        allow_enrollment_only=enrolling, allow_scoped=True, cache=core_runtime(request.app).auth_cache,
    )
    bind_user(auth.user.id)
    if auth.session.appointment_id is not None and not scoped:
        await auth_service.refuse_outside_scope(session, auth=auth, now=now, what=_what(request))
    return auth


def _what(request: Request) -> str:
    return f"{request.method} {request.url.path}"


async def get_auth(request: Request, session: SessionDep, settings: SettingsDep, now: NowDep,
                   credentials: Credentials) -> auth_service.Authenticated:
    """A full session (a password sign-in): the default of every route."""
    return await _authenticate(request, session, settings, now, credentials)


AuthDep = Annotated[auth_service.Authenticated, Depends(get_auth)]


async def get_enrolling_auth(request: Request, session: SessionDep, settings: SettingsDep, now: NowDep,
                             credentials: Credentials) -> auth_service.Authenticated:
    """Like `get_auth`, but also accepts a session limited to two-factor enrolment: only for the
    routes that enrolment needs (enrol, confirm, status)."""
    return await _authenticate(request, session, settings, now, credentials, enrolling=True)


EnrollingAuthDep = Annotated[auth_service.Authenticated, Depends(get_enrolling_auth)]


async def get_session_auth(request: Request, session: SessionDep, settings: SettingsDep, now: NowDep,
                           credentials: Credentials) -> auth_service.Authenticated:
    """Any live session, limited ones too: who am I, and sign out."""
    return await _authenticate(request, session, settings, now, credentials, enrolling=True, scoped=True)


SessionAuthDep = Annotated[auth_service.Authenticated, Depends(get_session_auth)]


async def get_scoped_auth(request: Request, session: SessionDep, settings: SettingsDep, now: NowDep,
                          credentials: Credentials) -> auth_service.Authenticated:
    """A full session, or one from a join link: the route narrows its answer to
    `auth.session.appointment_id` when that is set."""
    return await _authenticate(request, session, settings, now, credentials, scoped=True)


ScopedAuthDep = Annotated[auth_service.Authenticated, Depends(get_scoped_auth)]


async def _hold_to_visit(request: Request, session: AsyncSession, now: datetime,
                         auth: auth_service.Authenticated, visit: uuid.UUID | None,
                         not_found: NotFound) -> None:
    """A join-link session may act on its own visit only; anything else does not exist for it."""
    scope = auth.session.appointment_id
    if scope is not None and visit != scope:
        await auth_service.refuse_outside_scope(session, auth=auth, now=now, what=_what(request),
                                                not_found=not_found)


async def get_visit_auth(appointment_id: uuid.UUID, request: Request, session: SessionDep,
                         settings: SettingsDep, now: NowDep, credentials: Credentials,
                         ) -> auth_service.Authenticated:
    """For routes under `/appointments/{appointment_id}`: a full session, or a join-link session of
    that visit (another visit: 404 `appointment_not_found`)."""
    auth = await _authenticate(request, session, settings, now, credentials, scoped=True)
    await _hold_to_visit(request, session, now, auth, appointment_id,
                         NotFound("No such appointment.", code="appointment_not_found"))
    return auth


VisitAuthDep = Annotated[auth_service.Authenticated, Depends(get_visit_auth)]


async def get_visit_user(auth: VisitAuthDep) -> User:
    return auth.user


VisitUser = Annotated[User, Depends(get_visit_user)]


def room_visit_user(visit_of: VisitOf) -> Callable[..., Awaitable[User]]:
    """For routes under `/rooms/{room_id}`: a full session, or a join-link session of the visit the
    room belongs to (``visit_of`` tells which; another: 404 `room_not_found`)."""

    async def check(room_id: uuid.UUID, request: Request, session: SessionDep, settings: SettingsDep,
                    now: NowDep, credentials: Credentials) -> User:
        auth = await _authenticate(request, session, settings, now, credentials, scoped=True)
        if auth.session.appointment_id is not None:
            await _hold_to_visit(request, session, now, auth, await visit_of(session, room_id),
                                 NotFound("No such room.", code="room_not_found"))
        return auth.user

    return check


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
