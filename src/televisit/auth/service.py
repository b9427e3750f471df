"""Sign-in rules: throttling, token issue, idle and absolute expiry, revocation."""

from __future__ import annotations

import math
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from televisit.audit import service as audit
from televisit.audit.models import Action, Outcome
from televisit.auth.models import AuthSession
from televisit.auth.repository import AuthSessionRepository, LoginFailureRepository
from televisit.core.config import Settings
from televisit.core.errors import Throttled, Unauthorized
from televisit.core.security import Passwords, token_digest
from televisit.core.text import strip_controls
from televisit.realtime.channels import user_channel
from televisit.realtime.events import queue_event
from televisit.signaling.frames import SessionRevoked
from televisit.users.models import User
from televisit.users.repository import UserRepository


class InvalidCredentials(Unauthorized):
    code = "invalid_credentials"
    message = "The email or password is not correct."


# Refresh last_seen_at at most this often, so every request does not write.
SEEN_RESOLUTION = timedelta(seconds=30)


@dataclass(frozen=True)
class IssuedToken:
    token: str
    session: AuthSession
    user: User


@dataclass(frozen=True)
class Authenticated:
    user: User
    session: AuthSession


async def _check_throttle(
    failures: LoginFailureRepository, *, settings: Settings, email: str, client_ip: str, now: datetime
) -> None:
    since = now - timedelta(seconds=settings.login_window)
    checks = (
        ({"email": email, "client_ip": client_ip}, settings.login_max_failures_per_account_ip),
        ({"email": email}, settings.login_max_failures_per_account),
        ({"client_ip": client_ip}, settings.login_max_failures_per_ip),
    )
    for filters, limit in checks:
        # The count includes the caller's own reserved attempt, hence `>`.
        count, oldest = await failures.window(since=since, **filters)
        if count > limit and oldest is not None:
            wait = (oldest + timedelta(seconds=settings.login_window) - now).total_seconds()
            raise Throttled(math.ceil(wait), "Too many failed sign-in attempts. Try again later.")


async def _reserve_attempt(
    factory: async_sessionmaker[AsyncSession], *, settings: Settings, email: str, client_ip: str,
    now: datetime,
) -> uuid.UUID:
    """Record this attempt as a failure in its own, committed transaction, then count.

    Counting after a committed insert means concurrent guesses see each other, so no burst
    gets more tries than the limit. A throttled attempt is removed again (it is not counted);
    a successful one is removed by the caller.
    """
    async with factory() as session:
        failures = LoginFailureRepository(session)
        attempt_id = await failures.add(email=email, client_ip=client_ip, at=now)
        await session.commit()
        try:
            await _check_throttle(failures, settings=settings, email=email, client_ip=client_ip, now=now)
        except Throttled:
            await failures.remove(attempt_id)
            await session.commit()
            raise
    return attempt_id


async def login(
    session: AsyncSession,
    *,
    session_factory: async_sessionmaker[AsyncSession],
    settings: Settings,
    passwords: Passwords,
    email: str,
    password: str,
    client_ip: str,
    user_agent: str | None,
    now: datetime,
) -> IssuedToken:
    """Return a new token, or raise a generic 401 (the attempt stays recorded as a failure)."""
    email = email.lower()
    attempt_id = await _reserve_attempt(
        session_factory, settings=settings, email=email, client_ip=client_ip, now=now
    )
    user = await UserRepository(session).get_by_email(email)
    ok = await passwords.verify(user.password_hash if user else None, password)
    if not ok or user is None or not user.is_active:
        await audit.record(session, action=Action.sign_in, actor=None, object_type="user",
                           object_id=user.id if user else None, now=now, outcome=Outcome.failed,
                           data={"reason": "inactive" if ok and user else "bad_credentials"})
        raise InvalidCredentials()
    await LoginFailureRepository(session).clear_after_success(attempt_id=attempt_id, email=email,
                                                              client_ip=client_ip)
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = await passwords.hash(password)
    token = secrets.token_urlsafe(32)
    auth_session = await AuthSessionRepository(session).add(
        AuthSession(
            user_id=user.id,
            token_digest=token_digest(settings.secret_key, token),
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(seconds=settings.session_absolute_lifetime),
            client_ip=client_ip[:64],
            user_agent=strip_controls(user_agent or "")[:256] or None,
        )
    )
    await audit.record(session, action=Action.sign_in, actor=user, object_type="user", object_id=user.id,
                       now=now, data={"session_id": auth_session.id})
    return IssuedToken(token=token, session=auth_session, user=user)


async def authenticate(
    session: AsyncSession, *, settings: Settings, token: str, now: datetime
) -> Authenticated:
    """Resolve a bearer token to its live session, or raise 401."""
    if not token or len(token) > 256:
        raise Unauthorized("The access token is not valid.", code="invalid_token")
    repo = AuthSessionRepository(session)
    auth_session = await repo.get_by_digest(token_digest(settings.secret_key, token))
    if auth_session is None or auth_session.revoked_at is not None:
        raise Unauthorized("The access token is not valid.", code="invalid_token")
    idle_deadline = auth_session.last_seen_at + timedelta(seconds=settings.session_idle_timeout)
    if now >= auth_session.expires_at or now >= idle_deadline:
        await audit.record(session, action=Action.session_expired, actor=await _session_user(
            session, auth_session), object_type="session", object_id=auth_session.id, now=now,
            outcome=Outcome.failed)
        raise Unauthorized("Your session has expired. Sign in again.", code="session_expired")
    user = await UserRepository(session).get(auth_session.user_id)
    if user is None or not user.is_active:
        raise Unauthorized("The access token is not valid.", code="invalid_token")
    if now - auth_session.last_seen_at >= SEEN_RESOLUTION:
        auth_session.last_seen_at = now
    return Authenticated(user=user, session=auth_session)


async def logout(session: AsyncSession, *, auth_session: AuthSession, now: datetime) -> None:
    """Revoke the token; its open WebSockets (on any instance) are closed after the commit."""
    await AuthSessionRepository(session).revoke(auth_session.id, at=now)
    await audit.record(session, action=Action.sign_out, actor=await _session_user(session, auth_session),
                       object_type="session", object_id=auth_session.id, now=now)
    queue_event(session, user_channel(auth_session.user_id),
                SessionRevoked(session_id=auth_session.id, reason="logged-out"))


async def _session_user(session: AsyncSession, auth_session: AuthSession) -> User | None:
    """The session's user (from the session's identity map when the request already loaded it)."""
    return await UserRepository(session).get(auth_session.user_id)


async def prune(session: AsyncSession, *, settings: Settings, now: datetime) -> None:
    """Forget expired sessions and failures older than the throttling window."""
    await AuthSessionRepository(session).delete_expired(before=now)
    await LoginFailureRepository(session).prune(before=now - timedelta(seconds=settings.login_window))


def expires_in(settings: Settings, auth_session: AuthSession, now: datetime) -> int:
    """Seconds until the token dies if used no more (the idle deadline, capped by the absolute one)."""
    idle = auth_session.last_seen_at + timedelta(seconds=settings.session_idle_timeout)
    return max(0, int((min(idle, auth_session.expires_at) - now).total_seconds()))
