"""Throttling of anonymous, expensive or guessable actions: sign-in attempts, registrations and
password reset requests.

Sign-in (docs/architecture.md, "Sessions and sign-in") slows guessing without letting a stranger
lock the owner out:
- a *known device* (one that signed in to the account before and presents its device token) is
  throttled only by its own failures;
- an unknown device is limited per account+address (a few failures, then 429 until the oldest
  ages out) and per address over all accounts (spraying);
- an account with many failures from unknown devices is never blocked: each attempt on it from an
  unknown device waits a few seconds first (429 `sign_in_delayed` with Retry-After, then the same
  address retries), so guessing is slowed while the owner, from anywhere, gets in after one short
  wait. Waiting attempts are kept per address, so a stranger cannot take the owner's turn.

Every attempt is first recorded as a failure in its own committed transaction and only then
counted: concurrent guesses see each other, so a burst gets no more tries than the limit.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from televisit.auth.repository import LoginFailureRepository, RateEventRepository
from televisit.core.config import Settings
from televisit.core.errors import Throttled

# How long after its delay a waiting attempt may still be taken up by a retry from its address.
DEFERRAL_VALIDITY = timedelta(minutes=2)
REGISTRATION = "registration"
RESET_BY_ADDRESS = "password_reset_ip"
RESET_BY_ACCOUNT = "password_reset_account"


class SignInDelayed(Throttled):
    code = "sign_in_delayed"

    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after, "This account is seeing many failed sign-ins. Try again in a "
                                      "few seconds.")


@dataclass(frozen=True)
class Attempt:
    """A sign-in attempt as throttling sees it."""

    email: str
    client_ip: str
    device_id: uuid.UUID | None


def _retry_after(oldest: datetime | None, window: timedelta, now: datetime) -> int:
    return math.ceil(((oldest or now) + window - now).total_seconds())


async def _check_limits(failures: LoginFailureRepository, *, settings: Settings, attempt: Attempt,
                        now: datetime) -> None:
    """Raise Throttled when a hard limit is past. Counts include the caller's own reserved row."""
    window = timedelta(seconds=settings.login_window)
    since = now - window
    if attempt.device_id is not None:
        counted = [(await failures.window(since=since, device_id=attempt.device_id),
                    settings.login_max_failures_per_device)]
    else:
        counted = [
            (await failures.window(since=since, email=attempt.email, client_ip=attempt.client_ip,
                                   untrusted=True), settings.login_max_failures_per_account_ip),
            (await failures.window(since=since, client_ip=attempt.client_ip, untrusted=True),
             settings.login_max_failures_per_ip),
        ]
    for (count, oldest), limit in counted:
        if count > limit:
            raise Throttled(_retry_after(oldest, window, now),
                            "Too many failed sign-in attempts. Try again later.")


async def _take_turn(failures: LoginFailureRepository, *, settings: Settings, attempt: Attempt,
                     attempt_id: uuid.UUID, now: datetime) -> None:
    """On an account under attack, let an unknown device's attempt through only after it waited.

    The first attempt from an address is kept as a deferral and answered 429 `sign_in_delayed`;
    a retry from that address once the delay has passed consumes the deferral and goes on.
    """
    count, _ = await failures.window(since=now - timedelta(seconds=settings.login_window),
                                     email=attempt.email, untrusted=True)
    if count - 1 < settings.login_max_failures_per_account:  # not counting this attempt itself
        return
    delay = timedelta(seconds=settings.login_slow_delay)
    waiting = await failures.deferrals(email=attempt.email, client_ip=attempt.client_ip,
                                       since=now - delay - DEFERRAL_VALIDITY)
    for deferral in waiting:
        if deferral.occurred_at + delay <= now and await failures.remove(deferral.id):
            return  # this address waited its turn
    await failures.remove(attempt_id)
    if waiting:  # still waiting: tell it how long, without starting the wait again
        raise SignInDelayed(math.ceil((waiting[0].occurred_at + delay - now).total_seconds()))
    await failures.add(email=attempt.email, client_ip=attempt.client_ip, device_id=None, at=now,
                       deferred=True)
    raise SignInDelayed(settings.login_slow_delay)


async def reserve_attempt(
    factory: async_sessionmaker[AsyncSession], *, settings: Settings, attempt: Attempt, now: datetime,
    password_proven: bool = False,
) -> uuid.UUID:
    """Record this attempt as a failure in its own committed transaction, then apply the limits.

    A throttled attempt is removed again (it is not counted); a successful one is removed by the
    caller (``LoginFailureRepository.clear_after_success``). A two-factor code (``password_proven``:
    its challenge exists only after the right password, and allows few codes) does not wait its
    turn on an account under attack; the hard limits apply to it all the same.
    """
    async with factory() as session:
        failures = LoginFailureRepository(session)
        attempt_id = await failures.add(email=attempt.email, client_ip=attempt.client_ip,
                                        device_id=attempt.device_id, at=now)
        await session.commit()
        try:
            await _check_limits(failures, settings=settings, attempt=attempt, now=now)
            if attempt.device_id is None and not password_proven:
                await _take_turn(failures, settings=settings, attempt=attempt, attempt_id=attempt_id,
                                 now=now)
        except Throttled:
            await failures.remove(attempt_id)
            await session.commit()
            raise
        await session.commit()
    return attempt_id


async def release_attempt(factory: async_sessionmaker[AsyncSession], attempt_id: uuid.UUID) -> None:
    """Forget a reserved attempt whose password was never checked (the server was busy)."""
    async with factory() as session:
        await LoginFailureRepository(session).remove(attempt_id)
        await session.commit()


async def reserve_registration(
    factory: async_sessionmaker[AsyncSession], *, settings: Settings, client_ip: str, now: datetime
) -> uuid.UUID:
    """Count one registration from this address before any hashing: 429 past the per-address or
    the overall limit of the window (committed first, so concurrent ones see each other)."""
    return await _reserve_rate(factory, kind=REGISTRATION, key=client_ip[:64], now=now,
                               window=timedelta(seconds=settings.registration_window),
                               per_key=settings.registration_max_per_ip,
                               total=settings.registration_max_total)


async def release_registration(factory: async_sessionmaker[AsyncSession], event_id: uuid.UUID) -> None:
    """Uncount a registration that was not carried out (the server was busy)."""
    async with factory() as session:
        await RateEventRepository(session).remove(event_id)
        await session.commit()


async def _reserve_rate(
    factory: async_sessionmaker[AsyncSession], *, kind: str, key: str, now: datetime,
    window: timedelta, per_key: int, total: int,
) -> uuid.UUID:
    async with factory() as session:
        events = RateEventRepository(session)
        event_id = await events.add(kind=kind, key=key, at=now)
        await session.commit()
        for scope_key, limit in ((key, per_key), (None, total)):
            count, oldest = await events.window(kind=kind, since=now - window, key=scope_key)
            if count > limit:
                await events.remove(event_id)
                await session.commit()
                raise Throttled(_retry_after(oldest, window, now),
                                "Too many new accounts were requested. Try again later.")
    return event_id


async def reserve_password_reset(
    factory: async_sessionmaker[AsyncSession], *, settings: Settings, client_ip: str, account_key: str,
    now: datetime,
) -> None:
    """Count one password reset request from this address for this email (``account_key``, a
    keyed digest of it: no address is stored) before anything else: 429 past either limit of the
    window. Counted whether or not the email has an account, so the 429 tells nothing either."""
    window = timedelta(seconds=settings.password_reset_window)
    async with factory() as session:
        events = RateEventRepository(session)
        mine = [await events.add(kind=RESET_BY_ADDRESS, key=client_ip[:64], at=now),
                await events.add(kind=RESET_BY_ACCOUNT, key=account_key[:64], at=now)]
        await session.commit()
        for kind, key, limit in ((RESET_BY_ADDRESS, client_ip[:64], settings.password_reset_max_per_ip),
                                 (RESET_BY_ACCOUNT, account_key[:64],
                                  settings.password_reset_max_per_account)):
            count, oldest = await events.window(kind=kind, since=now - window, key=key)
            if count > limit:
                for event_id in mine:
                    await events.remove(event_id)
                await session.commit()
                raise Throttled(_retry_after(oldest, window, now),
                                "Too many password emails were asked for. Try again later.")


async def prune(session: AsyncSession, *, settings: Settings, now: datetime) -> None:
    """Forget failures, registrations and reset requests older than their windows."""
    await LoginFailureRepository(session).prune(before=now - timedelta(seconds=settings.login_window))
    await RateEventRepository(session).prune(
        kind=REGISTRATION, before=now - timedelta(seconds=settings.registration_window)
    )
    for kind in (RESET_BY_ADDRESS, RESET_BY_ACCOUNT):
        await RateEventRepository(session).prune(
            kind=kind, before=now - timedelta(seconds=settings.password_reset_window)
        )
