"""Two-factor sign-in rules: TOTP (RFC 6238) keys, enrolment, codes that cannot be replayed, and
single-use recovery codes.

The TOTP key is stored sealed (`core.security.SecretBox`) and shown only while enrolling; once
confirmed it is never returned again. Recovery codes and challenge tokens are stored as keyed
digests. A code is accepted for the current 30-second step or one step either side (clock drift),
and only for a step later than the last accepted one, so a code cannot be used twice.
"""

from __future__ import annotations

import hmac
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime

import pyotp
import segno
from sqlalchemy.ext.asyncio import AsyncSession

from televisit.audit import service as audit
from televisit.audit.models import Action, Outcome
from televisit.auth.models import AuthSession, MfaFactor
from televisit.auth.repository import MfaRepository
from televisit.core.config import Settings
from televisit.core.errors import Conflict, Unprocessable
from televisit.core.security import Passwords, SecretBox, token_digest
from televisit.users.models import Role, User

STEP_SECONDS = 30
DRIFT_STEPS = 1
RECOVERY_CODES = 10
# No 0/o, 1/l/i: codes are read off paper and typed.
RECOVERY_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
RECOVERY_GROUPS = 3
RECOVERY_GROUP_LENGTH = 4
STAFF = frozenset({Role.doctor, Role.admin})
_TOTP_CODE = re.compile(r"^\d{6}$")


class InvalidPasscode(Unprocessable):
    code = "invalid_passcode"
    message = "The code is not right (or was already used). Enter the current code from your app."


@dataclass(frozen=True)
class Enrollment:
    secret: str
    otpauth_uri: str
    qr_svg: str  # a data: URI of an SVG image


@dataclass(frozen=True)
class Status:
    enabled: bool
    required: bool
    recovery_codes_left: int


def _box(settings: Settings) -> SecretBox:
    return SecretBox(settings.secret_key, "mfa-totp")


def required_for(settings: Settings, user: User) -> bool:
    """Whether this user must use two-factor sign-in (staff, when the setting says so)."""
    return settings.mfa_required_for_staff and user.role in STAFF


async def is_enabled(session: AsyncSession, *, user_id: uuid.UUID) -> bool:
    return await MfaRepository(session).confirmed_factor(user_id) is not None


async def status(session: AsyncSession, *, settings: Settings, user: User) -> Status:
    repo = MfaRepository(session)
    enabled = await repo.confirmed_factor(user.id) is not None
    left = await repo.recovery_codes_left(user.id) if enabled else 0
    return Status(enabled=enabled, required=required_for(settings, user), recovery_codes_left=left)


async def begin_enrollment(session: AsyncSession, *, settings: Settings, user: User,
                           now: datetime) -> Enrollment:
    """A new key for the authenticator app (replacing an unconfirmed one); 409 once enabled."""
    repo = MfaRepository(session)
    factor = await repo.factor(user.id)
    if factor is not None and factor.confirmed_at is not None:
        raise Conflict("Two-factor sign-in is already on.", code="mfa_already_enabled")
    secret = pyotp.random_base32()
    if factor is None:
        factor = MfaFactor(user_id=user.id, secret_sealed="", created_at=now)
    factor.secret_sealed = _box(settings).seal(secret)
    factor.created_at = now
    factor.last_used_step = None
    await repo.save_factor(factor)
    await audit.record(session, action=Action.mfa_enroll, actor=user, object_type="user", object_id=user.id,
                       now=now)
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=settings.mfa_issuer)
    qr = segno.make(uri, error="m").svg_data_uri(scale=5, border=2)
    return Enrollment(secret=secret, otpauth_uri=uri, qr_svg=qr)


async def confirm_enrollment(
    session: AsyncSession, *, settings: Settings, user: User, auth_session: AuthSession,
    passcode: str, now: datetime,
) -> list[str]:
    """Turn two-factor sign-in on with a first code; return fresh recovery codes (shown once).

    The session that proved password and code is no longer limited to enrolment.
    """
    repo = MfaRepository(session)
    factor = await repo.factor(user.id)
    if factor is None:
        raise Conflict("Start enrolment first.", code="mfa_not_enrolling")
    if factor.confirmed_at is not None:
        raise Conflict("Two-factor sign-in is already on.", code="mfa_already_enabled")
    if not await _accept_totp(repo, settings=settings, factor=factor, passcode=passcode, now=now):
        await audit.record(session, action=Action.mfa_enable, actor=user, object_type="user",
                           object_id=user.id, now=now, outcome=Outcome.failed,
                           data={"reason": "invalid_passcode"})
        raise InvalidPasscode()
    factor.confirmed_at = now
    await audit.record(session, action=Action.mfa_enable, actor=user, object_type="user", object_id=user.id,
                       now=now)
    codes = [_recovery_code() for _ in range(RECOVERY_CODES)]
    await repo.replace_recovery_codes(user.id, [_recovery_digest(settings, user.id, c) for c in codes])
    auth_session.enrollment_only = False
    return codes


async def disable(
    session: AsyncSession, *, settings: Settings, passwords: Passwords, user: User, password: str,
    passcode: str, now: datetime,
) -> None:
    """Turn two-factor sign-in off with the password and a code (or a recovery code)."""
    if required_for(settings, user):
        raise Conflict("Two-factor sign-in is required for your role.", code="mfa_required")
    if not await is_enabled(session, user_id=user.id):
        raise Conflict("Two-factor sign-in is not on.", code="mfa_not_enabled")
    password_ok = await passwords.verify(user.password_hash, password)
    code_ok = await check_passcode(session, settings=settings, user_id=user.id, passcode=passcode,
                                   now=now)
    if not (password_ok and code_ok):
        await audit.record(session, action=Action.mfa_disable, actor=user, object_type="user",
                           object_id=user.id, now=now, outcome=Outcome.failed,
                           data={"reason": "invalid_credentials"})
        raise Unprocessable("The password or the code is not right.", code="invalid_credentials")
    await MfaRepository(session).delete_all(user.id)
    await audit.record(session, action=Action.mfa_disable, actor=user, object_type="user", object_id=user.id,
                       now=now)


async def check_passcode(session: AsyncSession, *, settings: Settings, user_id: uuid.UUID,
                         passcode: str, now: datetime) -> bool:
    """A current, unused TOTP code or an unused recovery code of this user (which it uses up)."""
    repo = MfaRepository(session)
    factor = await repo.confirmed_factor(user_id)
    if factor is None:
        return False
    cleaned = passcode.replace(" ", "").replace("-", "").lower()
    if _TOTP_CODE.match(cleaned):
        return await _accept_totp(repo, settings=settings, factor=factor, passcode=cleaned, now=now)
    return await repo.use_recovery_code(user_id, _recovery_digest(settings, user_id, cleaned), at=now)


async def reset(session: AsyncSession, *, user_id: uuid.UUID) -> bool:
    """Forget the user's factor and recovery codes (an admin's reset); whether one existed."""
    return await MfaRepository(session).delete_all(user_id)


async def _accept_totp(repo: MfaRepository, *, settings: Settings, factor: MfaFactor, passcode: str,
                       now: datetime) -> bool:
    secret = _box(settings).open(factor.secret_sealed)
    if secret is None or not _TOTP_CODE.match(passcode):
        return False
    totp = pyotp.TOTP(secret)
    current = int(now.timestamp()) // STEP_SECONDS
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.generate_otp(step), passcode):
            return await repo.claim_step(factor.user_id, step)
    return False


def _recovery_code() -> str:
    groups = ("".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_GROUP_LENGTH))
              for _ in range(RECOVERY_GROUPS))
    return "-".join(groups)


def _recovery_digest(settings: Settings, user_id: uuid.UUID, code: str) -> str:
    normalized = code.replace("-", "").replace(" ", "").lower()
    return token_digest(settings.secret_key, f"mfa-recovery:{user_id}:{normalized}")
