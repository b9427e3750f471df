from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from televisit.auth import service
from televisit.auth.deps import AuthDep, CurrentUser
from televisit.auth.schemas import LoginRequest, TokenPublic
from televisit.core.deps import ClientIPDep, NowDep, PasswordsDep, RuntimeDep, SessionDep, SettingsDep
from televisit.core.schemas import errors
from televisit.users import service as users_service
from televisit.users.models import Role
from televisit.users.schemas import UserCreate, UserPublic

router = APIRouter(prefix="/auth", tags=["auth"])
me_router = APIRouter(tags=["users"])


@router.post(
    "/register",
    operation_id="auth-register",
    status_code=status.HTTP_201_CREATED,
    responses=errors(409, 422),
)
async def register(
    body: UserCreate, session: SessionDep, passwords: PasswordsDep, now: NowDep
) -> UserPublic:
    """Create a patient account (doctors and admins are created by an admin)."""
    user = await users_service.create_user(
        session, passwords=passwords, email=body.email, password=body.password,
        full_name=body.full_name, role=Role.patient, now=now, time_zone=body.time_zone,
    )
    return UserPublic.model_validate(user)


@router.post("/login", operation_id="auth-login", responses=errors(401, 422, 429))
async def login(
    body: LoginRequest,
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    settings: SettingsDep,
    passwords: PasswordsDep,
    now: NowDep,
    ip: ClientIPDep,
) -> TokenPublic:
    """Exchange email and password for a new bearer token."""
    issued = await service.login(
        session, session_factory=runtime.sessionmaker, settings=settings,
        passwords=passwords, email=body.email, password=body.password,
        client_ip=ip, user_agent=request.headers.get("user-agent"), now=now,
    )
    return TokenPublic(
        access_token=issued.token,
        expires_in=service.expires_in(settings, issued.session, now),
        user=UserPublic.model_validate(issued.user),
    )


@router.post(
    "/logout", operation_id="auth-logout", status_code=status.HTTP_204_NO_CONTENT, responses=errors(401)
)
async def logout(auth: AuthDep, session: SessionDep, now: NowDep) -> Response:
    """Revoke the token used for this request, at once."""
    await service.logout(session, auth_session=auth.session, now=now)
    return Response(status_code=status.HTTP_204_NO_CONTENT)



@me_router.get("/me", operation_id="users-me", responses=errors(401))
async def me(user: CurrentUser) -> UserPublic:
    """Who the token belongs to."""
    return UserPublic.model_validate(user)
