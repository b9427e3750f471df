from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text, event, false
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
    # Each party's read marker: the highest message seq they have read (monotonic).
    doctor_read_seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    patient_read_seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    doctor: Mapped[User] = relationship(foreign_keys=[doctor_id], lazy="raise")
    patient: Mapped[User] = relationship(foreign_keys=[patient_id], lazy="raise")


class CheckIn(Base):
    """The patient's arrival in the visit's waiting room (one per visit; a second check-in
    updates it). ``present`` follows her sockets: ``away_since`` is set when her last one closed,
    and the presence sweep (any instance) clears ``present`` once that is older than
    TELEVISIT_PRESENCE_GRACE."""

    __tablename__ = "check_ins"

    appointment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("appointments.id", ondelete="CASCADE"), primary_key=True)
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    present: Mapped[bool] = mapped_column(Boolean, default=True)
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # True when she left explicitly (DELETE check-in): a reconnect does not bring her back.
    left_explicitly: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    away_since: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None, index=True)
    checks: Mapped[dict[str, Any]] = mapped_column(JSON)


class PatientPresence(Base):
    """A patient's open authenticated sockets on one instance (a row while there is at least
    one): presence that every instance can read. Rows of an instance whose heartbeat went stale
    are ignored and removed by the presence sweep."""

    __tablename__ = "patient_presence"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    instance_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    since: Mapped[datetime] = mapped_column(UTCDateTime)


class EventKind(enum.StrEnum):
    booked = "booked"
    changed = "changed"
    cancelled = "cancelled"
    checked_in = "checked_in"
    left_waiting_room = "left_waiting_room"
    call_started = "call_started"
    joined = "joined"
    left = "left"
    reconnected = "reconnected"
    declined = "declined"
    call_ended = "call_ended"
    quality = "quality"


class AppointmentEvent(UUIDPrimaryKey, Base):
    """One moment of a visit's log (GET /appointments/{id}/events). Insert-only."""

    __tablename__ = "appointment_events"
    __table_args__ = (Index("ix_appointment_events_appointment_id_at_id", "appointment_id", "at", "id"),)

    appointment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("appointments.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    kind: Mapped[str] = mapped_column(String(32))
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"),
                                                        default=None)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    actor: Mapped[User | None] = relationship(foreign_keys=[actor_id], lazy="raise")


class EventRewritten(RuntimeError):
    """Someone tried to change or delete a visit's logged event."""


@event.listens_for(AppointmentEvent, "before_update")
def _refuse_update(*_args: object) -> None:
    raise EventRewritten("a visit's events are never changed")


@event.listens_for(AppointmentEvent, "before_delete")
def _refuse_delete(*_args: object) -> None:
    raise EventRewritten("a visit's events are never deleted")
