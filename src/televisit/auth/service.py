"""Sign-in rules: throttling, token issue, idle and absolute expiry, revocation."""

from __future__ import annotations

import math
import secrets
import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from televisit.auth.models import AuthSession
from televisit.auth.repository import AuthSessionRepository, LoginFailureRepository
from televisit.core.config import Settings
from televisit.core.errors import Throttled, Unauthorized
from televisit.core.security import Passwords, token_digest
from televisit.core.text import strip_controls
from televisit.realtime.channels import user_channel
from televisit.realtime.events import queue_event
from televisit.signaling.frames import SessionEndReason, SessionRevoked, SessionsEnded
from televisit.users.models import User
from televisit.users.repository import UserRepository


class InvalidCredentials(Unauthorized):
    code = "invalid_credentials"
    message = "The email or password is not correct."


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
    return IssuedToken(token=token, session=auth_session, user=user)


async def authenticate(
    session: AsyncSession, *, settings: Settings, token: str, now: datetime, touch: bool = True
) -> Authenticated:
    """Resolve a bearer token to its live session, or raise 401.

    ``touch``: this counts as use of the session (a REST request). A socket's `auth` does not: a
    page that reconnects by itself is not a person at work (see `seen_interval` for the writes).
    """
    if not token or len(token) > 256:
        raise Unauthorized("The access token is not valid.", code="invalid_token")
    repo = AuthSessionRepository(session)
    auth_session = await repo.get_by_digest(token_digest(settings.secret_key, token))
    if auth_session is None or auth_session.revoked_at is not None:
        raise Unauthorized("The access token is not valid.", code="invalid_token")
    idle_deadline = auth_session.last_seen_at + timedelta(seconds=settings.session_idle_timeout)
    if now >= auth_session.expires_at or now >= idle_deadline:
        raise Unauthorized("Your session has expired. Sign in again.", code="session_expired")
    user = await UserRepository(session).get(auth_session.user_id)
    if user is None or not user.is_active:
        raise Unauthorized("The access token is not valid.", code="invalid_token")
    if touch and now - auth_session.last_seen_at >= seen_interval(settings):
        auth_session.last_seen_at = now
    return Authenticated(user=user, session=auth_session)


async def logout(session: AsyncSession, *, auth_session: AuthSession, now: datetime) -> None:
    """Revoke the token; its open WebSockets (on any instance) are closed after the commit."""
    await AuthSessionRepository(session).revoke(auth_session.id, at=now)
    queue_event(session, user_channel(auth_session.user_id),
                SessionRevoked(session_id=auth_session.id, reason="logged-out"))


async def prune(session: AsyncSession, *, settings: Settings, now: datetime) -> None:
    """Forget expired sessions and failures older than the throttling window."""
    await AuthSessionRepository(session).delete_expired(before=now)
    await LoginFailureRepository(session).prune(before=now - timedelta(seconds=settings.login_window))


def expires_in(settings: Settings, auth_session: AuthSession, now: datetime) -> int:
    """Seconds until the token dies if used no more (the idle deadline, capped by the absolute one)."""
    idle = auth_session.last_seen_at + timedelta(seconds=settings.session_idle_timeout)
    return max(0, int((min(idle, auth_session.expires_at) - now).total_seconds()))


# -- sessions on open sockets, revocation (the sweeper in signaling/sessions.py uses these) -------
def seen_interval(settings: Settings) -> timedelta:
    """How often a session in use writes `last_seen_at`: every quarter of the idle timeout, at
    most once a minute, so a busy session costs few writes and never comes near its expiry.
    Never more than half the timeout (only idle timeouts under two minutes reach that cap)."""
    idle = settings.session_idle_timeout
    return timedelta(seconds=min(max(idle / 4, 60), idle / 2))


@dataclass(frozen=True)
class SessionState:
    """A session as the database has it: ``ended`` says why it is over, None while it lives."""

    last_seen_at: datetime | None
    expires_at: datetime | None
    ended: SessionEndReason | None


async def session_states(
    session: AsyncSession, *, settings: Settings, session_ids: Collection[uuid.UUID], now: datetime
) -> dict[uuid.UUID, SessionState]:
    """The state of many sessions in one query (before closing sockets whose deadline passed here:
    another device may have used the session meanwhile). A pruned session is expired."""
    idle = timedelta(seconds=settings.session_idle_timeout)
    states = {sid: SessionState(None, None, "expired") for sid in session_ids}
    for sid, last_seen, expires, revoked, active in await AuthSessionRepository(session).states(session_ids):
        ended: SessionEndReason | None = None
        if revoked is not None:
            ended = "revoked"
        elif not active:
            ended = "deactivated"
        elif now >= expires or now >= last_seen + idle:
            ended = "expired"
        states[sid] = SessionState(last_seen, expires, ended)
    return states


async def record_activity(
    session: AsyncSession, *, settings: Settings, seen: Mapping[uuid.UUID, datetime]
) -> set[uuid.UUID]:
    """Write sockets' last use to `last_seen_at`; returns the sessions written (a session that had
    already expired, or was revoked, at that moment is left as it is)."""
    repo = AuthSessionRepository(session)
    idle = timedelta(seconds=settings.session_idle_timeout)
    return {sid for sid, at in seen.items() if await repo.mark_seen(sid, seen_at=at, idle=idle)}


async def revoke_session(
    session: AsyncSession, *, user_id: uuid.UUID, session_id: uuid.UUID, now: datetime,
    reason: SessionEndReason = "revoked",
) -> bool:
    """End one session of the user (False: no such live session of theirs). Its sockets, on any
    instance, get `session.ended` and close 4401 after the commit."""
    if not await AuthSessionRepository(session).revoke_of_user(user_id, session_id, at=now):
        return False
    queue_event(session, user_channel(user_id), SessionRevoked(session_id=session_id, reason=reason))
    return True


async def end_sessions_of_user(
    session: AsyncSession, *, user_id: uuid.UUID, now: datetime,
    reason: SessionEndReason = "revoked", except_session_id: uuid.UUID | None = None,
) -> int:
    """End every session of the user but ``except_session_id`` (revoke all; deactivation passes
    ``reason="deactivated"``); returns how many were live. Their sockets on every instance get
    `session.ended {reason}` and close 4401 after the commit, even sessions that expired meanwhile."""
    count = await AuthSessionRepository(session).revoke_all_of_user(user_id, at=now, keep=except_session_id)
    queue_event(session, user_channel(user_id), SessionsEnded(reason=reason,
                                                              except_session_id=except_session_id))
    return count
