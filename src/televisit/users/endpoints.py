from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from televisit.core.deps import AdminUser, CurrentUser, DoctorUser, NowDep, PasswordsDep, SessionDep
from televisit.core.pagination import Cursor, Limit
from televisit.core.schemas import errors
from televisit.users import service
from televisit.users.schemas import AdminUserCreate, PatientList, PatientPublic, UserPublic

router = APIRouter(tags=["users"])


@router.get("/me", operation_id="users-me", responses=errors(401))
async def me(user: CurrentUser) -> UserPublic:
    """Who the token belongs to."""
    return UserPublic.model_validate(user)


@router.get("/patients", operation_id="patients-search", responses=errors(400, 401, 403, 422))
async def search_patients(
    _doctor: DoctorUser,
    session: SessionDep,
    query: Annotated[str | None, Query(max_length=100, description="Part of a name or email.")] = None,
    cursor: Cursor = None,
    limit: Limit = 20,
) -> PatientList:
    """Patients a doctor can book, by name or email, ordered by name."""
    rows, next_cursor = await service.search_patients(session, query=query, cursor=cursor, limit=limit)
    return PatientList(items=[PatientPublic.model_validate(u) for u in rows], next_cursor=next_cursor)


@router.post(
    "/admin/users",
    operation_id="admin-users-create",
    status_code=status.HTTP_201_CREATED,
    responses=errors(401, 403, 409, 422),
)
async def create_user(
    body: AdminUserCreate, _admin: AdminUser, session: SessionDep, passwords: PasswordsDep, now: NowDep
) -> UserPublic:
    """Create an account of any role (doctors and admins can only be made this way or by the CLI)."""
    user = await service.create_user(
        session, passwords=passwords, email=body.email, password=body.password,
        full_name=body.full_name, role=body.role, now=now,
    )
    return UserPublic.model_validate(user)
