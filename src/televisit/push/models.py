"""A browser's Web Push subscription: where to ring one device of one person."""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from televisit.core.db import Base, UTCDateTime, UUIDPrimaryKey


class PushSubscription(UUIDPrimaryKey, Base):
    __tablename__ = "push_subscriptions"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # The sign-in (device) that subscribed: signing out of it deletes the row. An expired session
    # that is pruned leaves the row (the phone still rings until its owner signs out or the push
    # service forgets the subscription); signing in again on that browser takes it over.
    session_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("auth_sessions.id", ondelete="SET NULL"), index=True, default=None)
    # The push service's URL for this browser (on an allowed host, push/service.py), unique by digest.
    endpoint: Mapped[str] = mapped_column(String(2048))
    endpoint_digest: Mapped[str] = mapped_column(String(64), unique=True)
    # The browser's keys (RFC 8291): its P-256 public key and the 16-byte auth secret, base64url.
    p256dh: Mapped[str] = mapped_column(String(128))
    auth: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
