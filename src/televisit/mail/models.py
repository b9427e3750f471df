"""The outbox: one row per email, written in the same transaction as the change that causes it."""
from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from televisit.core.db import Base, UTCDateTime, UUIDPrimaryKey


class MailKind(enum.StrEnum):
    """What a message is; each has a payload model (schemas.py) and a template pair (templates/)."""

    invitation = "invitation"
    change = "change"
    cancellation = "cancellation"
    reminder = "reminder"
    message_notice = "message_notice"
    # A template and one link each (a LinkMail payload, blanked once the row is finished).
    password_reset = "password_reset"  # noqa: S105 - a kind of email, not a password
    set_password = "set_password"  # noqa: S105 - a kind of email, not a password
    registration_attempt = "registration_attempt"


class MailStatus(enum.StrEnum):
    pending = "pending"      # waiting for not_before (a reminder, a debounce, a retry)
    sending = "sending"      # claimed by an instance until claimed_until
    sent = "sent"            # accepted by the SMTP server
    failed = "failed"        # given up: too many attempts, too old, or refused for good
    cancelled = "cancelled"  # withdrawn before it was sent (a reminder of a cancelled or moved visit)
    skipped = "skipped"      # not needed when due (read already, visit gone, mail off)


class OutboxMessage(UUIDPrimaryKey, Base):
    __tablename__ = "mail_outbox"
    __table_args__ = (
        # The sender's claim: due pending rows, and sending rows whose lease ran out.
        Index("ix_mail_outbox_status_not_before", "status", "not_before"),
    )

    kind: Mapped[MailKind] = mapped_column(String(32))
    # Addresses are read when the message is sent, so a changed address is honoured.
    recipient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    appointment_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("appointments.id", ondelete="CASCADE"), index=True, default=None
    )
    # What the message is about as it was when the row was written (schemas.py, one model per kind).
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[MailStatus] = mapped_column(String(16), default=MailStatus.pending)
    # When the message was first due (reminders: offset before the visit); the age limit counts from it.
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Not to be sent before this: due_at at first, later the next retry.
    not_before: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claim_token: Mapped[str | None] = mapped_column(String(32), default=None)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # The kind of the last error (an exception class and SMTP code), never an address or a body.
    last_error: Mapped[str | None] = mapped_column(String(200), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
