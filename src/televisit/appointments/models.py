from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from televisit.core.db import Base, UTCDateTime, UUIDPrimaryKey
from televisit.users.models import User


class AppointmentStatus(enum.StrEnum):
    scheduled = "scheduled"
    in_progress = "in_progress"
    completed = "completed"
    cancelled = "cancelled"
    missed = "missed"


class Appointment(UUIDPrimaryKey, Base):
    __tablename__ = "appointments"
    __table_args__ = (
        CheckConstraint("duration_minutes > 0", name="positive_duration"),
        CheckConstraint("doctor_id <> patient_id", name="distinct_people"),
        Index("ix_appointments_doctor_id_starts_at", "doctor_id", "starts_at"),
        Index("ix_appointments_patient_id_starts_at", "patient_id", "starts_at"),
        Index("ix_appointments_status_ends_at", "status", "ends_at"),
    )

    doctor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    duration_minutes: Mapped[int] = mapped_column(Integer)
    # Kept alongside starts_at so overlap and "missed" checks are plain indexed comparisons.
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    status: Mapped[AppointmentStatus] = mapped_column(String(16), default=AppointmentStatus.scheduled)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    cancelled_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    cancel_reason: Mapped[str | None] = mapped_column(Text, default=None)
    # The live or last video room of this appointment (rooms arrive with the calls feature).
    room_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    # The seq of the newest chat message; incremented under the row lock to keep seq gap-free.
    last_message_seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Bumped when the visit is moved or cancelled: the iCalendar SEQUENCE of its calendar entry.
    sequence: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    doctor: Mapped[User] = relationship(foreign_keys=[doctor_id], lazy="raise")
    patient: Mapped[User] = relationship(foreign_keys=[patient_id], lazy="raise")
