from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from televisit.core.db import Base, UTCDateTime, UUIDPrimaryKey


class RoomStatus(enum.StrEnum):
    in_progress = "in-progress"
    completed = "completed"
    failed = "failed"


class Room(UUIDPrimaryKey, Base):
    __tablename__ = "rooms"
    __table_args__ = (
        # At most one live room per appointment, on both backends.
        Index(
            "uq_rooms_live_appointment",
            "appointment_id",
            unique=True,
            sqlite_where=text("status = 'in-progress'"),
            postgresql_where=text("status = 'in-progress'"),
        ),
        Index("ix_rooms_status_created_at", "status", "created_at"),
    )

    appointment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("appointments.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[RoomStatus] = mapped_column(String(16), default=RoomStatus.in_progress)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Set when the last participant leaves, cleared on a rejoin: the empty-timeout clock.
    empty_since: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    first_joined_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    end_reason: Mapped[str | None] = mapped_column(String(32), default=None)

    participants: Mapped[list[RoomParticipant]] = relationship(
        lazy="selectin", order_by="RoomParticipant.joined_at", cascade="all, delete-orphan"
    )


class RoomParticipant(UUIDPrimaryKey, Base):
    """One identity in a room; a rejoin reuses the row (joined_at moves, left_at clears)."""

    __tablename__ = "room_participants"
    __table_args__ = (UniqueConstraint("room_id", "user_id"),)

    room_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(16))
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime)
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # Which socket holds the identity now, so a stale socket's leave does not evict a newer one.
    connection_id: Mapped[str | None] = mapped_column(String(64), default=None)
    instance_id: Mapped[str | None] = mapped_column(String(64), default=None, index=True)


class Instance(Base):
    """A running app instance's heartbeat; participants of a dead instance are marked left."""

    __tablename__ = "instances"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime)
