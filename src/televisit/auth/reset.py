"""Password reset, and an invited patient's first password: an emailed, single-use link
(`PUBLIC_URL/reset#<token>`) that works for `password_reset_lifetime` (30 minutes). Its token is
derived from the reset row's random id (like a join link's), so the outbox row holds only the id.

The request answers the same whether or not the address has an account, takes the same work either
way (the token is made, its digest computed and one audit row written in both cases; throttling
comes first and counts unknown addresses too), and is throttled per client address and per email.
Choosing the new password ends every session of the account and closes its sockets.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from televisit.audit import service as audit
from televisit.audit.models import Action, Outcome
from televisit.auth import throttle
from televisit.auth.models import PasswordReset
from televisit.auth.repository import LoginFailureRepository, PasswordResetRepository
from televisit.auth.service import end_sessions_of_user
from televisit.core.config import Settings
from televisit.core.errors import AppError, NotFound
from televisit.core.security import Passwords, derived_token, token_digest
from televisit.mail import service as mail
from televisit.mail.models import MailKind
from televisit.mail.schemas import PasswordMail
from televisit.users import service as users_service
from televisit.users.models import User

RESET_PATH = "/reset"
REQUEST_MESSAGE = (
    "If an account uses this address, we have emailed it a link to choose a new password. "
    "Check your inbox (and spam folder); the link works once, for a short time."
)
SETUP_MESSAGE = "We have emailed you a link to choose a password. It works once, for a short time."


class ResetLinkInvalid(NotFound):
    code = "reset_link_invalid"
    message = "This link does not work. Open the whole link from your email, or ask for a new one."


class ResetLinkGone(AppError):
    status_code = 410
    code = "reset_link_expired"
    message = "This link has expired. Ask for a new one: it works for 30 minutes."


class ResetLinkUsed(ResetLinkGone):
    code = "reset_link_used"
    message = "This link was already used. If you did not choose the password, ask for a new link."


def token_for(settings: Settings, reset_id: uuid.UUID) -> str:
    """The link's token: derived from the reset's (random) id under a key from the secret key, so
    the email is composed from the id alone and no row, nor a log of its SQL, holds the token."""
    return derived_token(settings.secret_key, "password-reset", reset_id.bytes)


def url_for(settings: Settings, reset_id: uuid.UUID) -> str:
    return f"{settings.effective_public_url}{RESET_PATH}#{token_for(settings, reset_id)}"


def _digest(settings: Settings, token: str) -> str:
    return token_digest(settings.secret_key, "reset:" + token)


def _account_key(settings: Settings, email: str) -> str:
    """How throttling names an email without storing it."""
    return token_digest(settings.secret_key, "reset-account:" + email)


async def request_reset(
    session: AsyncSession, *, session_factory: async_sessionmaker[AsyncSession], settings: Settings,
    email: str, client_ip: str, now: datetime,
) -> None:
    """Email a reset link to the account with this address, if there is an active one (an invited
    patient gets "choose a password" instead); nothing else is said either way."""
    email = email.strip().lower()
    await throttle.reserve_password_reset(session_factory, settings=settings, client_ip=client_ip,
                                          account_key=_account_key(settings, email), now=now)
    user = await users_service.get_by_email(session, email=email)
    # The same work whether or not the address is known: an id, its token and digest, one record.
    reset_id = uuid.uuid4()
    digest = _digest(settings, token_for(settings, reset_id))
    if user is None or not user.is_active:
        await audit.record(session, action=Action.password_reset_request, actor=None, object_type="user",
                           object_id=user.id if user else None, now=now, data={"sent": False})
        return
    await _send_link(session, settings=settings, user=user, reset_id=reset_id, digest=digest, now=now)


async def request_setup(
    session: AsyncSession, *, session_factory: async_sessionmaker[AsyncSession], settings: Settings,
    user: User, client_ip: str, now: datetime,
) -> None:
    """Email the signed-in person (a session from a join link will do) a link to choose a password,
    or a new one. Throttled as a request for that address is."""
    await throttle.reserve_password_reset(session_factory, settings=settings, client_ip=client_ip,
                                          account_key=_account_key(settings, user.email), now=now)
    reset_id = uuid.uuid4()
    await _send_link(session, settings=settings, user=user, reset_id=reset_id,
                     digest=_digest(settings, token_for(settings, reset_id)), now=now)


async def _send_link(session: AsyncSession, *, settings: Settings, user: User, reset_id: uuid.UUID,
                     digest: str, now: datetime) -> None:
    lifetime = settings.password_reset_lifetime
    await PasswordResetRepository(session).add(PasswordReset(
        id=reset_id, user_id=user.id, token_digest=digest, created_at=now,
        expires_at=now + timedelta(seconds=lifetime),
    ))
    kind = MailKind.set_password if user.invited else MailKind.password_reset
    await mail.enqueue(session, kind=kind, recipient_id=user.id, now=now, payload=PasswordMail(
        reset_id=reset_id, valid_minutes=max(1, lifetime // 60)))
    await audit.record(session, action=Action.password_reset_request, actor=None, object_type="user",
                       object_id=user.id, now=now, data={"sent": True, "kind": str(kind)})


async def confirm(
    session: AsyncSession, *, settings: Settings, passwords: Passwords, token: str, password: str,
    now: datetime,
) -> User:
    """Set the password chosen with an emailed link (single use, before it expires, under the same
    policy as registration); every session of the account ends and its sockets close."""
    repo = PasswordResetRepository(session)
    digest = _digest(settings, token)
    found = await repo.find(digest)
    user = await users_service.get_active(session, user_id=found.user_id) if found else None
    if found is None or user is None:
        raise ResetLinkInvalid()
    if found.used_at is not None or now >= found.expires_at:
        await _failed(session, user, now=now, reason="used" if found.used_at else "expired")
        raise ResetLinkUsed() if found.used_at is not None else ResetLinkGone()
    passwords.check_policy(password, email=user.email, full_name=user.full_name)
    password_hash = await passwords.hash(password)
    if await repo.use(digest, now=now) is None:  # another request used it meanwhile
        raise ResetLinkUsed()
    first = user.invited
    await users_service.set_password(session, user=user, password_hash=password_hash, now=now)
    await repo.use_all_of_user(user.id, now=now)
    # Whoever proved the address owns the account now: strangers' failed sign-ins are forgotten.
    await LoginFailureRepository(session).clear_for_email(user.email)
    ended = await end_sessions_of_user(session, user_id=user.id, now=now, reason="revoked")
    await audit.record(session, action=Action.password_reset, actor=user, object_type="user",
                       object_id=user.id, now=now, data={"first_password": first, "sessions_ended": ended})
    return user


async def _failed(session: AsyncSession, user: User, *, now: datetime, reason: str) -> None:
    await audit.record(session, action=Action.password_reset, actor=None, object_type="user",
                       object_id=user.id, now=now, outcome=Outcome.failed, data={"reason": reason})
