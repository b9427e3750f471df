from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta

from sqlalchemy import Row, and_, bindparam, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from televisit.auth.cache import changes
from televisit.auth.models import (
    AuthSession,
    JoinLink,
    KnownDevice,
    LoginFailure,
    MfaChallenge,
    MfaFactor,
    MfaRecoveryCode,
    PasswordReset,
    RateEvent,
)
from televisit.core.db import rowcount
from televisit.users.models import User

_SESSION_WITH_USER = (select(AuthSession, User).join(User, User.id == AuthSession.user_id)
                      .where(AuthSession.token_digest == bindparam("digest")))


class AuthSessionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, auth_session: AuthSession) -> AuthSession:
        self.session.add(auth_session)
        await self.session.flush()
        return auth_session

    async def get_with_user(self, digest: str) -> tuple[AuthSession, User] | None:
        """The session with this token digest and its user, in one query (every authenticated
        request runs it: the statement is built once)."""
        row = (await self.session.execute(_SESSION_WITH_USER, {"digest": digest})).one_or_none()
        return None if row is None else (row[0], row[1])

    async def revoke(self, session_id: uuid.UUID, *, at: datetime) -> None:
        stmt = (
            update(AuthSession)
            .where(AuthSession.id == session_id, AuthSession.revoked_at.is_(None))
            .values(revoked_at=at)
            .execution_options(**changes(session_ids=[session_id]))
        )
        await self.session.execute(stmt)

    async def count_in_use(self, user_id: uuid.UUID, *, now: datetime, seen_since: datetime) -> int:
        stmt = select(func.count()).select_from(AuthSession).where(
            AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None),
            AuthSession.expires_at > now, AuthSession.last_seen_at > seen_since,
        )
        return int((await self.session.execute(stmt)).scalar_one())

    async def delete_expired(self, *, before: datetime) -> None:
        await self.session.execute(delete(AuthSession).where(AuthSession.expires_at < before))

    async def revoke_of_user(self, user_id: uuid.UUID, session_id: uuid.UUID, *, at: datetime) -> bool:
        stmt = (
            update(AuthSession)
            .where(AuthSession.id == session_id, AuthSession.user_id == user_id,
                   AuthSession.revoked_at.is_(None))
            .values(revoked_at=at)
            .execution_options(**changes(session_ids=[session_id]))
        )
        return bool(rowcount(await self.session.execute(stmt)))

    async def revoke_all_of_user(self, user_id: uuid.UUID, *, at: datetime,
                                 keep: uuid.UUID | None = None) -> int:
        stmt = (
            update(AuthSession)
            .where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None),
                   AuthSession.expires_at > at)
            .values(revoked_at=at)
            .execution_options(**changes(user_ids=[user_id]))
        )
        if keep is not None:
            stmt = stmt.where(AuthSession.id != keep)
        return rowcount(await self.session.execute(stmt))

    async def revoke_scoped(self, user_id: uuid.UUID, appointment_id: uuid.UUID, *, at: datetime
                            ) -> list[uuid.UUID]:
        """Revoke the user's live sessions scoped to this visit; returns their ids."""
        live = select(AuthSession.id).where(
            AuthSession.user_id == user_id, AuthSession.appointment_id == appointment_id,
            AuthSession.revoked_at.is_(None), AuthSession.expires_at > at,
        )
        ids = list((await self.session.execute(live)).scalars())
        if ids:
            await self.session.execute(
                update(AuthSession).where(AuthSession.id.in_(ids)).values(revoked_at=at)
                .execution_options(synchronize_session=False, **changes(session_ids=ids))
            )
        return ids

    async def mark_seen(self, session_id: uuid.UUID, *, seen_at: datetime, idle: timedelta) -> bool:
        """Move `last_seen_at` forward to ``seen_at`` only if the session was alive then: a late
        write never revives an expired or revoked session."""
        stmt = (
            update(AuthSession)
            .where(AuthSession.id == session_id, AuthSession.revoked_at.is_(None),
                   AuthSession.last_seen_at < seen_at, AuthSession.last_seen_at > seen_at - idle,
                   AuthSession.expires_at > seen_at)
            .values(last_seen_at=seen_at)
            .execution_options(synchronize_session=False, **changes(session_ids=[session_id]))
        )
        return bool(rowcount(await self.session.execute(stmt)))

    async def states(self, session_ids: Collection[uuid.UUID]
                     ) -> Sequence[Row[uuid.UUID, datetime, datetime, datetime | None, bool]]:
        """(id, last_seen_at, expires_at, revoked_at, the user's is_active) of these sessions."""
        stmt = (
            select(AuthSession.id, AuthSession.last_seen_at, AuthSession.expires_at,
                   AuthSession.revoked_at, User.is_active)
            .join(User, User.id == AuthSession.user_id)
            .where(AuthSession.id.in_(list(session_ids)))
        )
        return (await self.session.execute(stmt)).all()


class LoginFailureRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def count_for_email(self, email: str, *, since: datetime) -> int:
        stmt = select(func.count()).select_from(LoginFailure).where(
            LoginFailure.email == email, LoginFailure.occurred_at > since
        )
        return int((await self.session.execute(stmt)).scalar_one())

    async def add(self, *, email: str, client_ip: str, device_id: uuid.UUID | None, at: datetime,
                  deferred: bool = False) -> uuid.UUID:
        failure = LoginFailure(email=email, client_ip=client_ip, device_id=device_id, occurred_at=at,
                               deferred=deferred)
        self.session.add(failure)
        await self.session.flush()
        return failure.id

    async def remove(self, failure_id: uuid.UUID) -> bool:
        result = await self.session.execute(delete(LoginFailure).where(LoginFailure.id == failure_id))
        return rowcount(result) == 1

    async def defer(self, failure_id: uuid.UUID) -> None:
        await self.session.execute(
            update(LoginFailure).where(LoginFailure.id == failure_id).values(deferred=True)
        )

    async def window(
        self, *, since: datetime, email: str | None = None, client_ip: str | None = None,
        device_id: uuid.UUID | None = None, untrusted: bool = False,
    ) -> tuple[int, datetime | None]:
        """How many failures match after ``since``, and when the oldest of them happened.

        Strictly after: a failure stops counting exactly one window later, as Retry-After promised.
        ``untrusted`` counts only failures from unknown devices; deferrals never count.
        """
        stmt = select(func.count(), func.min(LoginFailure.occurred_at)).where(
            LoginFailure.occurred_at > since, LoginFailure.deferred.is_(False)
        )
        if email is not None:
            stmt = stmt.where(LoginFailure.email == email)
        if client_ip is not None:
            stmt = stmt.where(LoginFailure.client_ip == client_ip)
        if device_id is not None:
            stmt = stmt.where(LoginFailure.device_id == device_id)
        if untrusted:
            stmt = stmt.where(LoginFailure.device_id.is_(None))
        count, oldest = (await self.session.execute(stmt)).one()
        return int(count), oldest

    async def deferrals(self, *, email: str, client_ip: str, since: datetime) -> Sequence[LoginFailure]:
        """This address's waiting attempts on this account made after ``since``, oldest first."""
        stmt = (
            select(LoginFailure)
            .where(LoginFailure.email == email, LoginFailure.client_ip == client_ip,
                   LoginFailure.deferred.is_(True), LoginFailure.occurred_at > since)
            .order_by(LoginFailure.occurred_at)
        )
        return list((await self.session.execute(stmt)).scalars())

    async def clear_after_success(
        self, *, attempt_id: uuid.UUID, email: str, client_ip: str, device_id: uuid.UUID | None
    ) -> None:
        """Drop this sign-in's reserved attempt and the failures it outweighs: the account's from
        that address (unknown devices), or the device's own.

        One statement that skips rows another transaction holds (PostgreSQL `SKIP LOCKED`; SQLite
        has one writer): two right sign-ins at once would otherwise each delete its own attempt,
        then wait for the other's, a deadlock. A skipped row is one the other sign-in is deleting.
        """
        if device_id is not None:
            theirs = LoginFailure.device_id == device_id
        else:
            theirs = and_(LoginFailure.email == email, LoginFailure.client_ip == client_ip,
                          LoginFailure.device_id.is_(None))
        mine = or_(LoginFailure.id == attempt_id, theirs)
        ids = select(LoginFailure.id).where(mine).with_for_update(skip_locked=True)
        await self.session.execute(
            delete(LoginFailure).where(LoginFailure.id.in_(ids)).execution_options(synchronize_session=False)
        )

    async def clear_for_email(self, email: str) -> int:
        result = await self.session.execute(delete(LoginFailure).where(LoginFailure.email == email))
        return rowcount(result)

    async def prune(self, *, before: datetime) -> None:
        await self.session.execute(delete(LoginFailure).where(LoginFailure.occurred_at < before))


class KnownDeviceRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def find(self, *, digest: str, email: str, used_since: datetime) -> KnownDevice | None:
        """The device with this token digest, if it belongs to the account with this email and was
        used recently enough."""
        stmt = (
            select(KnownDevice)
            .join(User, User.id == KnownDevice.user_id)
            .where(KnownDevice.token_digest == digest, User.email == email,
                   KnownDevice.last_used_at > used_since)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def get(self, device_id: uuid.UUID) -> KnownDevice | None:
        return await self.session.get(KnownDevice, device_id)

    async def add(self, device: KnownDevice) -> KnownDevice:
        self.session.add(device)
        await self.session.flush()
        return device

    async def prune(self, *, unused_since: datetime) -> None:
        await self.session.execute(delete(KnownDevice).where(KnownDevice.last_used_at < unused_since))


class MfaRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def factor(self, user_id: uuid.UUID) -> MfaFactor | None:
        return await self.session.get(MfaFactor, user_id)

    async def confirmed_factor(self, user_id: uuid.UUID) -> MfaFactor | None:
        factor = await self.factor(user_id)
        return factor if factor is not None and factor.confirmed_at is not None else None

    async def save_factor(self, factor: MfaFactor) -> None:
        self.session.add(factor)
        await self.session.flush()

    async def claim_step(self, user_id: uuid.UUID, step: int) -> bool:
        """Record ``step`` as used if no later or equal step was: false for a replayed code (also
        when two requests carry the same code at once: only one update matches)."""
        stmt = (
            update(MfaFactor)
            .where(MfaFactor.user_id == user_id,
                   or_(MfaFactor.last_used_step.is_(None), MfaFactor.last_used_step < step))
            .values(last_used_step=step)
            .execution_options(synchronize_session=False)
        )
        return rowcount(await self.session.execute(stmt)) == 1

    async def replace_recovery_codes(self, user_id: uuid.UUID, digests: list[str]) -> None:
        await self.session.execute(delete(MfaRecoveryCode).where(MfaRecoveryCode.user_id == user_id))
        self.session.add_all(MfaRecoveryCode(user_id=user_id, code_digest=d) for d in digests)
        await self.session.flush()

    async def use_recovery_code(self, user_id: uuid.UUID, digest: str, *, at: datetime) -> bool:
        stmt = (
            update(MfaRecoveryCode)
            .where(MfaRecoveryCode.user_id == user_id, MfaRecoveryCode.code_digest == digest,
                   MfaRecoveryCode.used_at.is_(None))
            .values(used_at=at)
            .execution_options(synchronize_session=False)
        )
        return rowcount(await self.session.execute(stmt)) == 1

    async def recovery_codes_left(self, user_id: uuid.UUID) -> int:
        stmt = select(func.count()).select_from(MfaRecoveryCode).where(
            MfaRecoveryCode.user_id == user_id, MfaRecoveryCode.used_at.is_(None)
        )
        return int((await self.session.execute(stmt)).scalar_one())

    async def delete_all(self, user_id: uuid.UUID) -> bool:
        """Forget the user's factor, recovery codes and pending challenges; whether a factor existed."""
        await self.session.execute(delete(MfaRecoveryCode).where(MfaRecoveryCode.user_id == user_id))
        await self.session.execute(delete(MfaChallenge).where(MfaChallenge.user_id == user_id))
        result = await self.session.execute(delete(MfaFactor).where(MfaFactor.user_id == user_id))
        return rowcount(result) == 1

    async def add_challenge(self, challenge: MfaChallenge) -> None:
        self.session.add(challenge)
        await self.session.flush()

    async def take_attempt(self, digest: str, *, now: datetime, max_attempts: int) -> MfaChallenge | None:
        """Count one try against a live challenge and return it; None if it is unknown, expired,
        used up or already completed."""
        stmt = (
            update(MfaChallenge)
            .where(MfaChallenge.token_digest == digest, MfaChallenge.expires_at > now,
                   MfaChallenge.attempts < max_attempts)
            .values(attempts=MfaChallenge.attempts + 1)
            .execution_options(synchronize_session=False)
        )
        if rowcount(await self.session.execute(stmt)) != 1:
            return None
        found = select(MfaChallenge).where(MfaChallenge.token_digest == digest)
        return (await self.session.execute(found)).scalar_one_or_none()

    async def complete_challenge(self, challenge_id: uuid.UUID) -> bool:
        """Delete the challenge; false if another request completed it first (single use)."""
        result = await self.session.execute(delete(MfaChallenge).where(MfaChallenge.id == challenge_id))
        return rowcount(result) == 1

    async def prune(self, *, before: datetime) -> None:
        await self.session.execute(delete(MfaChallenge).where(MfaChallenge.expires_at < before))


class RateEventRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, *, kind: str, key: str, at: datetime) -> uuid.UUID:
        event = RateEvent(kind=kind, key=key, occurred_at=at)
        self.session.add(event)
        await self.session.flush()
        return event.id

    async def remove(self, event_id: uuid.UUID) -> None:
        await self.session.execute(delete(RateEvent).where(RateEvent.id == event_id))

    async def window(self, *, kind: str, since: datetime, key: str | None = None
                     ) -> tuple[int, datetime | None]:
        stmt = select(func.count(), func.min(RateEvent.occurred_at)).where(
            RateEvent.kind == kind, RateEvent.occurred_at > since
        )
        if key is not None:
            stmt = stmt.where(RateEvent.key == key)
        count, oldest = (await self.session.execute(stmt)).one()
        return int(count), oldest

    async def prune(self, *, kind: str, before: datetime) -> None:
        await self.session.execute(
            delete(RateEvent).where(RateEvent.kind == kind, RateEvent.occurred_at < before)
        )


class JoinLinkRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, link: JoinLink) -> JoinLink:
        self.session.add(link)
        await self.session.flush()
        return link

    async def get_by_digest(self, digest: str) -> JoinLink | None:
        stmt = select(JoinLink).where(JoinLink.token_digest == digest)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def live_for(self, appointment_id: uuid.UUID, patient_id: uuid.UUID, *, now: datetime
                       ) -> JoinLink | None:
        """The visit's newest working link for this patient."""
        stmt = (
            select(JoinLink)
            .where(JoinLink.appointment_id == appointment_id, JoinLink.patient_id == patient_id,
                   JoinLink.revoked_at.is_(None), JoinLink.expires_at > now)
            .order_by(JoinLink.created_at.desc())
            .limit(1)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def revoke_for(self, appointment_id: uuid.UUID, *, at: datetime, reason: str) -> int:
        stmt = (
            update(JoinLink)
            .where(JoinLink.appointment_id == appointment_id, JoinLink.revoked_at.is_(None))
            .values(revoked_at=at, revoked_reason=reason)
            .execution_options(synchronize_session=False)
        )
        return rowcount(await self.session.execute(stmt))

    async def prune(self, *, before: datetime) -> None:
        await self.session.execute(delete(JoinLink).where(JoinLink.expires_at < before))


class PasswordResetRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, reset: PasswordReset) -> PasswordReset:
        self.session.add(reset)
        await self.session.flush()
        return reset

    async def use(self, digest: str, *, now: datetime) -> uuid.UUID | None:
        """Mark the live, unused link with this digest used; its user's id, or None (unknown,
        expired or used already). One conditional statement: of two requests with one link, the
        second finds it used (PostgreSQL re-checks the row after the first commits; SQLite has
        one writer)."""
        stmt = (
            update(PasswordReset)
            .where(PasswordReset.token_digest == digest, PasswordReset.used_at.is_(None),
                   PasswordReset.expires_at > now)
            .values(used_at=now)
            .returning(PasswordReset.user_id)
            .execution_options(synchronize_session=False)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def find(self, digest: str) -> PasswordReset | None:
        stmt = select(PasswordReset).where(PasswordReset.token_digest == digest)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def use_all_of_user(self, user_id: uuid.UUID, *, now: datetime) -> None:
        """A password was just set: every other link the user was sent stops working."""
        await self.session.execute(
            update(PasswordReset)
            .where(PasswordReset.user_id == user_id, PasswordReset.used_at.is_(None))
            .values(used_at=now)
            .execution_options(synchronize_session=False)
        )

    async def prune(self, *, before: datetime) -> None:
        await self.session.execute(delete(PasswordReset).where(PasswordReset.expires_at < before))
