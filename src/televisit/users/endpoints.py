"""What a signed-in person changes about themselves (`GET /me` is in auth/endpoints.py)."""
from __future__ import annotations

from fastapi import APIRouter

from televisit.auth.deps import CurrentUser
from televisit.core.deps import NowDep, SessionDep
from televisit.core.schemas import errors
from televisit.users import service
from televisit.users.schemas import MeUpdate, UserPublic

router = APIRouter(tags=["users"])


@router.patch("/me", operation_id="users-me-update", responses=errors(401, 422))
async def update_me(body: MeUpdate, user: CurrentUser, session: SessionDep, now: NowDep) -> UserPublic:
    """Change your time zone (an IANA name): the times in your emails are shown in it."""
    return UserPublic.model_validate(await service.update_me(session, user=user, time_zone=body.time_zone,
                                                             now=now))
