"""The admin area's gate: admins only, and every refusal is recorded."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from televisit.audit import service as audit
from televisit.audit.models import Action, Outcome
from televisit.auth.deps import CurrentUser
from televisit.core.deps import NowDep, SessionDep
from televisit.core.errors import Forbidden
from televisit.users.models import Role, User


async def require_admin(user: CurrentUser, session: SessionDep, now: NowDep, request: Request) -> User:
    if user.role != Role.admin:
        await audit.record(session, action=Action.admin_access, actor=user, object_type="admin",
                           object_id=None, now=now, outcome=Outcome.denied,
                           data={"method": request.method, "path": request.url.path})
        raise Forbidden()
    return user


AuditedAdmin = Annotated[User, Depends(require_admin)]
