from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, String
from sqlalchemy.orm import Mapped, mapped_column

from televisit.core.db import Base, UTCDateTime, UUIDPrimaryKey


class Role(enum.StrEnum):
    doctor = "doctor"
    patient = "patient"
    admin = "admin"


class User(UUIDPrimaryKey, Base):
    __tablename__ = "users"

    email: Mapped[str] = mapped_column(String(254), unique=True)
    full_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(String(16), index=True)
    # None: no usable password (an invited patient, who comes in by her visits' join links until
    # she sets one from an emailed link). Signing in with any password then fails as for a wrong one.
    password_hash: Mapped[str | None] = mapped_column(String(255), default=None)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # IANA name (e.g. Europe/Berlin): times in this person's emails are shown in it.
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    @property
    def invited(self) -> bool:
        """Created by a doctor's booking and never given a password: the `invited` state."""
        return self.password_hash is None
