"""Sign-in rules: throttling, two-factor, token issue, idle and absolute expiry, revocation."""

from __future__ import annotations

import hmac
import secrets
import uuid
from collections.abc import AsyncIterator, Collection, Hashable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NoReturn

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from televisit.audit import service as audit
from televisit.audit.models import Action, Outcome
from televisit.auth import cache as auth_cache
from televisit.auth import mfa, throttle
from televisit.auth.models import AuthSession, KnownDevice, MfaChallenge
from televisit.auth.repository import (
    AuthSessionRepository,
    JoinLinkRepository,
    KnownDeviceRepository,
    LoginFailureRepository,
    MfaRepository,
    PasswordResetRepository,
)
from televisit.core.config import Settings
from televisit.core.errors import Forbidden, NotFound, Unauthorized
from televisit.core.rowcache import RowCache
from televisit.core.security import HashingBusy, Passwords, token_digest
from televisit.core.text import strip_controls
from televisit.mail import service as mail
from televisit.mail.models import MailKind
from televisit.mail.schemas import LinkMail
from televisit.push import service as push
from televisit.realtime.channels import user_channel
from televisit.realtime.events import queue_event
from televisit.signaling.frames import SessionEndReason, SessionRevoked, SessionsEnded
from televisit.users import service as users_service
from televisit.users.models import Role, User


class InvalidCredentials(Unauthorized):
    code = "invalid_credentials"
    message = "The email or password is not correct."


class InvalidMfaToken(Unauthorized):
    code = "invalid_mfa_token"
    message = "This sign-in has expired or had too many wrong codes. Sign in again."


class WrongPasscode(Unauthorized):
    code = "invalid_passcode"
    message = "The code is not right (or was already used)."


class MfaEnrollmentRequired(Forbidden):
    code = "mfa_enrollment_required"
    message = "Set up two-factor sign-in on your account page first."


class ScopeLimited(Forbidden):
    code = "scope_limited"
    message = ("You opened this visit from an emailed link, which opens that visit only. Sign in "
               "with your password to do this.")


@dataclass(frozen=True)
class IssuedToken:
    token: str
    session: AuthSession
    user: User
    device_token: str


@dataclass(frozen=True)
class MfaPending:
    """The password was right; the sign-in completes with a code and this token."""

    mfa_token: str
    expires_in: int


@dataclass(frozen=True)
class Authenticated:
    user: User
    session: AuthSession


@dataclass(frozen=True)
class Client:
    """Where an attempt comes from: its address, user agent and device token (if it has one)."""

    ip: str
    user_agent: str | None
    device_token: str | None


def _device_digest(settings: Settings, device_token: str) -> str:
    return token_digest(settings.secret_key, "device:" + device_token)


async def _known_device(session: AsyncSession, *, settings: Settings, email: str,
                        device_token: str | None, now: datetime) -> uuid.UUID | None:
    if not device_token or len(device_token) > 256:
        return None
    device = await KnownDeviceRepository(session).find(
        digest=_device_digest(settings, device_token), email=email,
        used_since=now - timedelta(seconds=settings.device_lifetime),
    )
    return device.id if device else None


async def login(
    session: AsyncSession,
    *,
    session_factory: async_sessionmaker[AsyncSession],
    settings: Settings,
    passwords: Passwords,
    email: str,
    password: str,
    client: Client,
    now: datetime,
) -> IssuedToken | MfaPending:
    """A new token, or (two-factor on) a challenge to complete with a code; else a generic 401
    (the attempt stays recorded as a failure) or 429 (throttling, before the password is checked)."""
    email = email.lower()
    device_id = await _known_device(session, settings=settings, email=email,
                                    device_token=client.device_token, now=now)
    attempt = throttle.Attempt(email=email, client_ip=client.ip, device_id=device_id)
    attempt_id = await throttle.reserve_attempt(session_factory, settings=settings, attempt=attempt,
                                                now=now)
    user = await users_service.get_by_email(session, email=email)
    try:
        ok = await passwords.verify(user.password_hash if user else None, password)
    except HashingBusy:
        await throttle.release_attempt(session_factory, attempt_id)  # nothing was tried
        raise
    if not ok or user is None or not user.is_active:
        await audit.record(session, action=Action.sign_in, actor=None, object_type="user",
                           object_id=user.id if user else None, now=now, outcome=Outcome.failed,
                           data={"reason": "inactive" if ok and user else "bad_credentials"})
        raise InvalidCredentials()
    if user.password_hash is not None and passwords.needs_rehash(user.password_hash):
        user.password_hash = await passwords.hash(password)
    failures = LoginFailureRepository(session)
    if await mfa.is_enabled(session, user_id=user.id):
        # The password was right (not a failure); the account's failures stay until the code is.
        await failures.remove(attempt_id)
        return await _challenge(session, settings=settings, user=user, device_id=device_id, now=now)
    await failures.clear_after_success(attempt_id=attempt_id, email=email, client_ip=client.ip,
                                       device_id=device_id)
    return await _issue(session, settings=settings, user=user, client=client, device_id=device_id,
                        enrollment_only=mfa.required_for(settings, user), now=now)


async def complete_mfa_login(
    session: AsyncSession,
    *,
    session_factory: async_sessionmaker[AsyncSession],
    settings: Settings,
    mfa_token: str,
    passcode: str,
    client: Client,
    now: datetime,
) -> IssuedToken:
    """Finish a two-factor sign-in with a TOTP or recovery code; wrong codes are throttled like
    wrong passwords, and each challenge allows only a few."""
    digest = token_digest(settings.secret_key, mfa_token)
    async with session_factory() as own:
        challenge = await MfaRepository(own).take_attempt(digest, now=now,
                                                          max_attempts=settings.mfa_max_attempts)
        user = await users_service.get(own, user_id=challenge.user_id) if challenge else None
        await own.commit()
    if challenge is None or user is None or not user.is_active:
        raise InvalidMfaToken()
    attempt = throttle.Attempt(email=user.email, client_ip=client.ip, device_id=challenge.device_id)
    attempt_id = await throttle.reserve_attempt(session_factory, settings=settings, attempt=attempt,
                                                now=now, password_proven=True)
    if not await mfa.check_passcode(session, settings=settings, user_id=user.id, passcode=passcode,
                                    now=now):
        await audit.record(session, action=Action.sign_in, actor=None, object_type="user", object_id=user.id,
                           now=now, outcome=Outcome.failed, data={"reason": "bad_passcode"})
        raise WrongPasscode()
    if not await MfaRepository(session).complete_challenge(challenge.id):
        raise InvalidMfaToken()
    user = await users_service.get(session, user_id=user.id)
    if user is None:
        raise InvalidMfaToken()
    await LoginFailureRepository(session).clear_after_success(
        attempt_id=attempt_id, email=user.email, client_ip=client.ip, device_id=challenge.device_id
    )
    return await _issue(session, settings=settings, user=user, client=client,
                        device_id=challenge.device_id, enrollment_only=False, now=now)


async def _challenge(session: AsyncSession, *, settings: Settings, user: User,
                     device_id: uuid.UUID | None, now: datetime) -> MfaPending:
    token = secrets.token_urlsafe(32)
    await MfaRepository(session).add_challenge(MfaChallenge(
        user_id=user.id, token_digest=token_digest(settings.secret_key, token), created_at=now,
        expires_at=now + timedelta(seconds=settings.mfa_challenge_lifetime), attempts=0,
        device_id=device_id,
    ))
    return MfaPending(mfa_token=token, expires_in=settings.mfa_challenge_lifetime)


async def _issue(session: AsyncSession, *, settings: Settings, user: User, client: Client,
                 device_id: uuid.UUID | None, enrollment_only: bool, now: datetime) -> IssuedToken:
    """A new session, and the device token the client keeps (its own, or a new one)."""
    devices = KnownDeviceRepository(session)
    known = await devices.get(device_id) if device_id else None
    presented = client.device_token or ""
    if known is not None and hmac.compare_digest(known.token_digest, _device_digest(settings, presented)):
        device_token = presented
        known.last_used_at = now
    else:
        device_token = secrets.token_urlsafe(32)
        await devices.add(KnownDevice(
            user_id=user.id, token_digest=_device_digest(settings, device_token),
            created_at=now, last_used_at=now,
        ))
    token = secrets.token_urlsafe(32)
    auth_session = await AuthSessionRepository(session).add(
        AuthSession(
            user_id=user.id,
            token_digest=token_digest(settings.secret_key, token),
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(seconds=settings.session_absolute_lifetime),
            client_ip=client.ip[:64],
            user_agent=strip_controls(client.user_agent or "")[:256] or None,
            enrollment_only=enrollment_only,
        )
    )
    await audit.record(session, action=Action.sign_in, actor=user, object_type="user", object_id=user.id,
                       now=now, data={"session_id": auth_session.id})
    return IssuedToken(token=token, session=auth_session, user=user, device_token=device_token)


async def authenticate(
    session: AsyncSession, *, settings: Settings, token: str, now: datetime, touch: bool = True,
    allow_enrollment_only: bool = False, allow_scoped: bool = False, cache: RowCache | None = None,
) -> Authenticated:
    """Resolve a bearer token to its live session, or raise 401.

    ``touch``: this counts as use of the session (a REST request). A socket's `auth` does not: a
    page that reconnects by itself is not a person at work (see `seen_interval` for the writes).
    A session limited to two-factor enrolment is refused (403 `mfa_enrollment_required`) unless
    the caller is one of the few routes that enrolment needs; a session opened from a join link
    (scoped to one visit) is refused (403 `scope_limited`) unless the caller checks the scope
    itself (``allow_scoped``: auth/deps.py, the WebSocket). ``cache``: where this instance keeps
    sessions read recently (`auth/cache.py`).
    """
    if not token or len(token) > 256:
        raise Unauthorized("The access token is not valid.", code="invalid_token")
    found = await _session_with_user(session, token_digest(settings.secret_key, token), cache)
    if found is None or found[0].revoked_at is not None:
        raise Unauthorized("The access token is not valid.", code="invalid_token")
    auth_session, user = found
    idle_deadline = auth_session.last_seen_at + timedelta(seconds=settings.session_idle_timeout)
    if now >= auth_session.expires_at or now >= idle_deadline:
        await audit.record(session, action=Action.session_expired, actor=user, object_type="session",
                           object_id=auth_session.id, now=now, outcome=Outcome.failed)
        raise Unauthorized("Your session has expired. Sign in again.", code="session_expired")
    if not user.is_active:
        raise Unauthorized("The access token is not valid.", code="invalid_token")
    if auth_session.enrollment_only and not allow_enrollment_only:
        raise MfaEnrollmentRequired()
    if auth_session.appointment_id is not None and not allow_scoped:
        raise ScopeLimited()
    if touch and now - auth_session.last_seen_at >= seen_interval(settings):
        auth_session.last_seen_at = now
    return Authenticated(user=user, session=auth_session)


async def _session_with_user(session: AsyncSession, digest: str, cache: RowCache | None
                             ) -> tuple[AuthSession, User] | None:
    repository = AuthSessionRepository(session)
    if cache is None:
        return await repository.get_with_user(digest)

    def keep(found: tuple[AuthSession, User]) -> tuple[auth_cache.Kept, tuple[Hashable, ...]]:
        kept = auth_cache.keep(*found)
        return kept, kept.tags

    def restore(kept: object) -> tuple[AuthSession, User] | None:
        return auth_cache.restore(session, kept) if isinstance(kept, auth_cache.Kept) else None

    return await cache.read_through(digest, read=lambda: repository.get_with_user(digest),
                                    keep=keep, restore=restore)


async def active_user(session: AsyncSession, *, user_id: uuid.UUID, cache: RowCache) -> User | None:
    """The user if the account still exists and is active, kept on this instance like the
    sessions (`auth/cache.py`: dropped on every instance the moment the row changes). For a
    socket's frames, which act for the user the socket signed in as: each chat message read the
    row again."""
    user = await cache.read_through(
        auth_cache.user_key(user_id), read=lambda: users_service.get(session, user_id=user_id),
        keep=lambda found: (auth_cache.keep_user(found), auth_cache.user_tags(user_id)),
        restore=lambda kept: auth_cache.restore_user(session, kept) if isinstance(kept, dict) else None)
    return user if user is not None and user.is_active else None


async def refuse_outside_scope(session: AsyncSession, *, auth: Authenticated, what: str,
                               now: datetime, not_found: NotFound | None = None) -> NoReturn:
    """A session opened from a join link asked for something beyond its visit: recorded, then 403
    `scope_limited` (``not_found``: another visit or its room, answered as if it did not exist)."""
    await record_outside_scope(session, user_id=auth.user.id, session_id=auth.session.id,
                               scope=auth.session.appointment_id, what=what, now=now)
    raise not_found or ScopeLimited()


async def record_outside_scope(session: AsyncSession, *, user_id: uuid.UUID, session_id: uuid.UUID,
                               scope: uuid.UUID | None, what: str, now: datetime) -> None:
    """Record a join-link session's try beyond its visit (a route, or a WebSocket frame)."""
    await audit.record(session, action=Action.scope_limited, actor=audit.ActorRef(user_id, Role.patient),
                       object_type="session", object_id=session_id, now=now, outcome=Outcome.denied,
                       data={"appointment_id": scope, "request": what})


async def logout(session: AsyncSession, *, auth_session: AuthSession, now: datetime) -> None:
    """Revoke the token; its open WebSockets (on any instance) are closed after the commit."""
    await AuthSessionRepository(session).revoke(auth_session.id, at=now)
    # A device that signed out must not ring with the next call.
    await push.forget_session(session, user_id=auth_session.user_id, session_id=auth_session.id)
    await audit.record(session, action=Action.sign_out, actor=await _session_user(session, auth_session),
                       object_type="session", object_id=auth_session.id, now=now)
    queue_event(session, user_channel(auth_session.user_id),
                SessionRevoked(session_id=auth_session.id, reason="logged-out"))


async def clear_throttling(session: AsyncSession, *, email: str) -> int:
    """Forget every recorded failed sign-in (and waiting attempt) for this email, so its owner is
    not throttled (an admin's action). Returns how many records were removed."""
    return await LoginFailureRepository(session).clear_for_email(email.strip().lower())


async def reset_mfa(session: AsyncSession, *, user_id: uuid.UUID) -> bool:
    """Turn two-factor sign-in off for a user who lost their device and codes (an admin's action):
    the factor, recovery codes and pending sign-ins are forgotten. Whether a factor existed.
    With two-factor required for their role, their next sign-in can only enrol again."""
    return await mfa.reset(session, user_id=user_id)


async def _session_user(session: AsyncSession, auth_session: AuthSession) -> User | None:
    """The session's user (from the session's identity map when the request already loaded it)."""
    return await users_service.get(session, user_id=auth_session.user_id)


async def prune(session: AsyncSession, *, settings: Settings, now: datetime) -> None:
    """Forget expired sessions, challenges and devices, and throttling records past their windows."""
    await AuthSessionRepository(session).delete_expired(before=now)
    await MfaRepository(session).prune(before=now)
    await KnownDeviceRepository(session).prune(
        unused_since=now - timedelta(seconds=settings.device_lifetime)
    )
    # Kept a while past their end, so an old link is answered "expired", not "not valid".
    await JoinLinkRepository(session).prune(before=now - EXPIRED_LINKS_KEPT)
    await PasswordResetRepository(session).prune(before=now - EXPIRED_LINKS_KEPT)
    await throttle.prune(session, settings=settings, now=now)


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
    await push.forget_session(session, user_id=user_id, session_id=session_id)
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
    await push.forget_user(session, user_id=user_id, except_session_id=except_session_id)
    queue_event(session, user_channel(user_id), SessionsEnded(reason=reason,
                                                              except_session_id=except_session_id))
    return count


EXPIRED_LINKS_KEPT = timedelta(days=30)
# At most one "someone tried to register with your address" email per address in this time.
OWNER_NOTICE_INTERVAL = timedelta(days=1)
REGISTRATION_MESSAGE = (
    "If this address can be registered, you can now sign in. If it already has an account, "
    "sign in with that account's password."
)


async def register_patient(
    session: AsyncSession,
    *,
    session_factory: async_sessionmaker[AsyncSession],
    settings: Settings,
    passwords: Passwords,
    email: str,
    password: str,
    full_name: str,
    client_ip: str,
    now: datetime,
    time_zone: str | None = None,
) -> None:
    """Self-registration that does not tell whether the address already has an account.

    A new address gets an active patient account at once. For a taken address nothing changes;
    the password is hashed all the same, so the answer takes as long. Throttled per address and
    in all before any hashing.
    """
    email = email.strip().lower()
    passwords.check_policy(password, email=email, full_name=full_name)
    async with registration_slot(session_factory, settings=settings, client_ip=client_ip, now=now):
        password_hash = await passwords.hash(password)
    if not await users_service.add_patient_if_new(session, email=email, full_name=full_name,
                                                  password_hash=password_hash, time_zone=time_zone,
                                                  now=now):
        await _tell_owner(session, email=email, now=now)


async def _tell_owner(session: AsyncSession, *, email: str, now: datetime) -> None:
    """Someone registered with a taken address: its owner is told by email (at most once a day,
    so the form cannot flood an inbox). The API's answer says nothing of it."""
    owner = await users_service.get_by_email(session, email=email)
    if owner is None or not owner.is_active:
        return
    await users_service.lock(session, user_ids=[owner.id])
    told = await mail.enqueue_at_most_once(
        session, kind=MailKind.registration_attempt, recipient_id=owner.id, within=OWNER_NOTICE_INTERVAL,
        payload=LinkMail(link_path="/sign-in", link_label="Sign in"), now=now)
    await audit.record(session, action=Action.registration_existing, actor=None, object_type="user",
                       object_id=owner.id, now=now, data={"owner_told": told})


@asynccontextmanager
async def registration_slot(
    session_factory: async_sessionmaker[AsyncSession], *, settings: Settings, client_ip: str,
    now: datetime,
) -> AsyncIterator[None]:
    """Count one self-registration from this address before any hashing (429 past the limits);
    uncounted again if the server was too busy to hash (503)."""
    event_id = await throttle.reserve_registration(session_factory, settings=settings,
                                                   client_ip=client_ip, now=now)
    try:
        yield
    except HashingBusy:
        await throttle.release_registration(session_factory, event_id)
        raise


async def access_summary(session: AsyncSession, *, settings: Settings, user: User, now: datetime
                         ) -> tuple[int, int]:
    """For the admin area: the user's sessions in use (seen within the idle timeout) and the failed
    sign-ins on their email within the throttling window."""
    in_use = await AuthSessionRepository(session).count_in_use(
        user.id, now=now, seen_since=now - timedelta(seconds=settings.session_idle_timeout))
    failures = await LoginFailureRepository(session).count_for_email(
        user.email, since=now - timedelta(seconds=settings.login_window))
    return in_use, failures


async def mfa_enabled(session: AsyncSession, *, user_id: uuid.UUID) -> bool:
    return await mfa.is_enabled(session, user_id=user_id)
