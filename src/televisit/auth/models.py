from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, false
from sqlalchemy.orm import Mapped, mapped_column

from televisit.core.db import Base, UTCDateTime, UUIDPrimaryKey


class AuthSession(UUIDPrimaryKey, Base):
    """One sign-in. The bearer token itself is never stored, only its keyed digest."""

    __tablename__ = "auth_sessions"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    client_ip: Mapped[str | None] = mapped_column(String(64), default=None)
    user_agent: Mapped[str | None] = mapped_column(String(256), default=None)
    # A staff member who must use two-factor sign-in and has not enrolled yet gets a session that
    # can only enrol (every other route answers 403 `mfa_enrollment_required`).
    enrollment_only: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # A session opened from a visit's join link works for that visit only (auth/deps.py enforces
    # it for every route, signaling for every frame); None: a full session (a password sign-in).
    appointment_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("appointments.id", ondelete="CASCADE"), index=True, default=None
    )


class LoginFailure(UUIDPrimaryKey, Base):
    """A failed sign-in (or a wrong two-factor code), counted in sliding windows.

    ``device_id`` is set when the attempt came from a known device of that account: such failures
    count against the device only. A ``deferred`` row is not a failure but an attempt told to wait
    (an account under attack): the same address may try once the delay has passed.
    """

    __tablename__ = "login_failures"
    __table_args__ = (
        Index("ix_login_failures_email_at", "email", "occurred_at"),
        Index("ix_login_failures_client_ip_at", "client_ip", "occurred_at"),
        Index("ix_login_failures_device_id_at", "device_id", "occurred_at"),
    )

    email: Mapped[str] = mapped_column(String(254))
    client_ip: Mapped[str] = mapped_column(String(64))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    device_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    deferred: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class KnownDevice(UUIDPrimaryKey, Base):
    """A browser or app that signed in to this account before: it holds a long-lived random device
    token (only its keyed digest is here), and strangers' failures never throttle it."""

    __tablename__ = "known_devices"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class MfaFactor(Base):
    """A user's TOTP key (RFC 6238), encrypted; active once confirmed with a first code.

    ``last_used_step`` is the 30-second step of the last accepted code: a code is accepted only for
    a later step, so the same code cannot be replayed inside its window.
    """

    __tablename__ = "mfa_factors"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    secret_sealed: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    last_used_step: Mapped[int | None] = mapped_column(Integer, default=None)


class MfaRecoveryCode(UUIDPrimaryKey, Base):
    """A single-use recovery code, stored as a keyed digest."""

    __tablename__ = "mfa_recovery_codes"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_digest: Mapped[str] = mapped_column(String(64), unique=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class MfaChallenge(UUIDPrimaryKey, Base):
    """The step between a right password and a right code: a short-lived, single-use token
    (stored as its keyed digest) with a bounded number of tries."""

    __tablename__ = "mfa_challenges"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    device_id: Mapped[uuid.UUID | None] = mapped_column(default=None)


class RateEvent(UUIDPrimaryKey, Base):
    """One use of a throttled anonymous action (``kind``: registration, later password reset) by
    one client address, counted in sliding windows per address and in all."""

    __tablename__ = "rate_events"
    __table_args__ = (
        Index("ix_rate_events_kind_key_at", "kind", "key", "occurred_at"),
        Index("ix_rate_events_kind_at", "kind", "occurred_at"),
    )

    kind: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(64))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)


class JoinLink(UUIDPrimaryKey, Base):
    """The link in a visit's emails that opens it without a password (docs/security.md, "Join
    links and password reset"). Its token is never stored: it is derived from the row's id with a
    key derived from the secret key (so every email about the visit can carry it again), and only
    its keyed digest is kept here to find the row. Revoked when the visit is cancelled or moved."""

    __tablename__ = "join_links"

    appointment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("appointments.id", ondelete="CASCADE"), index=True
    )
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The visit's end plus the messaging window, as of the link's visit time.
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # Why it stopped working: `cancelled` or `moved` (the page tells the patient what to do).
    revoked_reason: Mapped[str | None] = mapped_column(String(16), default=None)


class PasswordReset(UUIDPrimaryKey, Base):
    """An emailed, single-use link to choose a new password (or an invited patient's first one):
    its random token travels only in the email; this row keeps the keyed digest."""

    __tablename__ = "password_resets"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
