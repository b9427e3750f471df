"""Staff administration under /admin (admins only)."""
from __future__ import annotations

from fastapi import APIRouter, status

from televisit.auth.deps import AdminUser
from televisit.core.deps import NowDep, PasswordsDep, SessionDep
from televisit.core.schemas import errors
from televisit.users import service as users_service
from televisit.users.schemas import AdminUserCreate, UserPublic

router = APIRouter(prefix="/admin", tags=["admin"])


@router.post(
    "/users",
    operation_id="admin-users-create",
    status_code=status.HTTP_201_CREATED,
    responses=errors(401, 403, 409, 422),
)
async def create_user(
    body: AdminUserCreate, _admin: AdminUser, session: SessionDep, passwords: PasswordsDep, now: NowDep
) -> UserPublic:
    """Create an account of any role (doctors and admins can only be made this way or by the CLI)."""
    user = await users_service.create_user(
        session, passwords=passwords, email=body.email, password=body.password,
        full_name=body.full_name, role=body.role, now=now, time_zone=body.time_zone,
    )
    return UserPublic.model_validate(user)
