from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request, Response, status

from televisit.auth import links, mfa, reset, service
from televisit.auth.deps import AuthDep, EnrollingAuthDep, ScopedAuthDep, SessionAuthDep
from televisit.auth.schemas import (
    INVALID_CREDENTIALS,
    INVALID_PASSCODE,
    Accepted,
    JoinPublic,
    JoinRequest,
    LoginRequest,
    MfaConfirmRequest,
    MfaDisableRequest,
    MfaEnrollmentPublic,
    MfaLoginRequest,
    MfaRequired,
    MfaStatusPublic,
    PasswordResetConfirm,
    PasswordResetRequest,
    RecoveryCodesPublic,
    RegistrationAccepted,
    TokenPublic,
)
from televisit.core.config import Settings
from televisit.core.deps import ClientIPDep, NowDep, PasswordsDep, RuntimeDep, SessionDep, SettingsDep
from televisit.core.schemas import errors
from televisit.users.schemas import WEAK_PASSWORD, UserCreate, UserPublic

router = APIRouter(prefix="/auth", tags=["auth"])
me_router = APIRouter(tags=["users"])


def _token_reply(settings: Settings, issued: service.IssuedToken, now: datetime) -> TokenPublic:
    return TokenPublic(
        access_token=issued.token,
        expires_in=service.expires_in(settings, issued.session, now),
        user=UserPublic.model_validate(issued.user),
        mfa_enrollment_required=issued.session.enrollment_only,
        device_token=issued.device_token,
    )


def _client(request: Request, ip: str, device_token: str | None) -> service.Client:
    return service.Client(ip=ip, user_agent=request.headers.get("user-agent"), device_token=device_token)


@router.post(
    "/register",
    operation_id="auth-register",
    status_code=status.HTTP_202_ACCEPTED,
    responses=errors(422, 429, 503, refusals={422: WEAK_PASSWORD}),
)
async def register(
    body: UserCreate, runtime: RuntimeDep, session: SessionDep, settings: SettingsDep,
    passwords: PasswordsDep, now: NowDep, ip: ClientIPDep,
) -> RegistrationAccepted:
    """Create a patient account (doctors and admins are created by an admin).

    The answer is the same whether or not the address already has an account, so it cannot be
    used to find out who is a patient here: a new address can sign in at once; an address that
    already has an account is left unchanged. Throttled per client address and in all (429).
    """
    await service.register_patient(
        session, session_factory=runtime.sessionmaker, settings=settings, passwords=passwords,
        email=body.email, password=body.password, full_name=body.full_name, client_ip=ip, now=now,
        time_zone=body.time_zone,
    )
    return RegistrationAccepted(message=service.REGISTRATION_MESSAGE)


@router.post("/login", operation_id="auth-login", responses=errors(401, 422, 429, 503))
async def login(
    body: LoginRequest,
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    settings: SettingsDep,
    passwords: PasswordsDep,
    now: NowDep,
    ip: ClientIPDep,
) -> TokenPublic | MfaRequired:
    """Exchange email and password for a new bearer token.

    With two-factor sign-in on, the answer is `{mfa_required: true, mfa_token}` instead: send a
    code to POST /auth/login/mfa. Throttled (429 with Retry-After): `too_many_requests` for this
    address or device, `sign_in_delayed` (a few seconds) for an account under attack.
    """
    outcome = await service.login(
        session, session_factory=runtime.sessionmaker, settings=settings,
        passwords=passwords, email=body.email, password=body.password,
        client=_client(request, ip, body.device_token), now=now,
    )
    if isinstance(outcome, service.MfaPending):
        return MfaRequired(mfa_token=outcome.mfa_token, expires_in=outcome.expires_in)
    return _token_reply(settings, outcome, now)


@router.post("/login/mfa", operation_id="auth-login-mfa", responses=errors(401, 422, 429))
async def login_mfa(
    body: MfaLoginRequest, request: Request, runtime: RuntimeDep, session: SessionDep,
    settings: SettingsDep, now: NowDep, ip: ClientIPDep,
) -> TokenPublic:
    """Complete a two-factor sign-in with the app's current code or a recovery code.

    401 `invalid_passcode` for a wrong or reused code (try again); 401 `invalid_mfa_token` once
    the token expired, was used, or had too many wrong codes (sign in again).
    """
    issued = await service.complete_mfa_login(
        session, session_factory=runtime.sessionmaker, settings=settings, mfa_token=body.mfa_token,
        passcode=body.passcode, client=_client(request, ip, body.device_token), now=now,
    )
    return _token_reply(settings, issued, now)


@router.post("/join", operation_id="auth-join", responses=errors(404, 410, 422))
async def join(body: JoinRequest, request: Request, session: SessionDep, settings: SettingsDep,
               now: NowDep, ip: ClientIPDep) -> JoinPublic:
    """Open a visit with the token of its emailed link (`PUBLIC_URL/join#<token>`): a session for
    that visit only (check in, call, chat, read it), no password. Any number of devices may open
    the same link. 404 `join_link_invalid`; 410 `join_link_expired` (the visit and its messaging
    window are over) or `join_link_revoked` (`details.reason`: `moved` or `cancelled`)."""
    joined = await links.open_link(session, settings=settings, token=body.token, client_ip=ip,
                                   user_agent=request.headers.get("user-agent"), now=now)
    return JoinPublic(access_token=joined.token, expires_in=service.expires_in(settings, joined.session, now),
                      user=UserPublic.model_validate(joined.user), appointment_id=joined.appointment_id,
                      password_set=not joined.user.invited)


@router.post("/password-reset", operation_id="auth-password-reset", status_code=status.HTTP_202_ACCEPTED,
             responses=errors(422, 429))
async def password_reset(body: PasswordResetRequest, runtime: RuntimeDep, session: SessionDep,
                         settings: SettingsDep, now: NowDep, ip: ClientIPDep) -> Accepted:
    """Email a link to choose a new password (valid 30 minutes, single use) to the account with
    this address, if there is one. The answer is the same either way; throttled per client
    address and per email (429)."""
    await reset.request_reset(session, session_factory=runtime.sessionmaker, settings=settings,
                              email=body.email, client_ip=ip, now=now)
    return Accepted(message=reset.REQUEST_MESSAGE)


@router.post("/password-reset/confirm", operation_id="auth-password-reset-confirm",
             status_code=status.HTTP_204_NO_CONTENT, responses=errors(404, 410, 422, 503))
async def password_reset_confirm(body: PasswordResetConfirm, session: SessionDep, settings: SettingsDep,
                                 passwords: PasswordsDep, now: NowDep) -> Response:
    """Choose the new password with the emailed link's token (the same policy as registration).
    Every session of the account ends (its sockets close); sign in with the new password.
    404 `reset_link_invalid`; 410 `reset_link_expired` or `reset_link_used`; 422 `weak_password`
    (the link still works)."""
    await reset.confirm(session, settings=settings, passwords=passwords, token=body.token,
                        password=body.password, now=now)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/password-setup", operation_id="auth-password-setup", status_code=status.HTTP_202_ACCEPTED,
             responses=errors(401, 403, 429))
async def password_setup(auth: ScopedAuthDep, runtime: RuntimeDep, session: SessionDep,
                         settings: SettingsDep, now: NowDep, ip: ClientIPDep) -> Accepted:
    """Email yourself a link to choose a password (an invited patient, from a visit opened with its
    link) or a new one. Throttled like POST /auth/password-reset."""
    await reset.request_setup(session, session_factory=runtime.sessionmaker, settings=settings,
                              user=auth.user, client_ip=ip, now=now)
    return Accepted(message=reset.SETUP_MESSAGE)


@router.post(
    "/logout", operation_id="auth-logout", status_code=status.HTTP_204_NO_CONTENT, responses=errors(401)
)
async def logout(auth: SessionAuthDep, session: SessionDep, now: NowDep) -> Response:
    """Revoke the token used for this request, at once."""
    await service.logout(session, auth_session=auth.session, now=now)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/mfa", operation_id="auth-mfa-status", responses=errors(401))
async def mfa_status(auth: EnrollingAuthDep, session: SessionDep, settings: SettingsDep) -> MfaStatusPublic:
    """Whether two-factor sign-in is on for you, required for your role, and recovery codes left."""
    found = await mfa.status(session, settings=settings, user=auth.user)
    return MfaStatusPublic(enabled=found.enabled, required=found.required,
                           recovery_codes_left=found.recovery_codes_left)


@router.post("/mfa/enroll", operation_id="auth-mfa-enroll", responses=errors(401, 409))
async def mfa_enroll(
    auth: EnrollingAuthDep, session: SessionDep, settings: SettingsDep, now: NowDep
) -> MfaEnrollmentPublic:
    """Start setting up an authenticator app: a new key, as text and as a QR code. Nothing changes
    at sign-in until POST /auth/mfa/confirm."""
    started = await mfa.begin_enrollment(session, settings=settings, user=auth.user, now=now)
    return MfaEnrollmentPublic(secret=started.secret, otpauth_uri=started.otpauth_uri, qr_svg=started.qr_svg)


@router.post("/mfa/confirm", operation_id="auth-mfa-confirm",
             responses=errors(401, 409, 422, refusals={422: INVALID_PASSCODE}))
async def mfa_confirm(
    body: MfaConfirmRequest, auth: EnrollingAuthDep, session: SessionDep, settings: SettingsDep,
    now: NowDep,
) -> RecoveryCodesPublic:
    """Turn two-factor sign-in on with the app's first code; returns 10 single-use recovery codes,
    shown only this once. A session limited to enrolment becomes a full one."""
    codes = await mfa.confirm_enrollment(session, settings=settings, user=auth.user,
                                         auth_session=auth.session, passcode=body.passcode, now=now)
    return RecoveryCodesPublic(recovery_codes=codes)


@router.post(
    "/mfa/disable", operation_id="auth-mfa-disable", status_code=status.HTTP_204_NO_CONTENT,
    responses=errors(401, 409, 422, 503, refusals={422: INVALID_CREDENTIALS}),
)
async def mfa_disable(
    body: MfaDisableRequest, auth: AuthDep, session: SessionDep, settings: SettingsDep,
    passwords: PasswordsDep, now: NowDep,
) -> Response:
    """Turn two-factor sign-in off, with your password and a code (409 when your role requires it)."""
    await mfa.disable(session, settings=settings, passwords=passwords, user=auth.user,
                      password=body.password, passcode=body.passcode, now=now)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@me_router.get("/me", operation_id="users-me", responses=errors(401))
async def me(auth: SessionAuthDep) -> UserPublic:
    """Who the token belongs to."""
    return UserPublic.model_validate(auth.user)
