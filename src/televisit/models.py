"""Imports every domain's models so Base.metadata is complete (for Alembic and tests)."""

from televisit.appointments.models import Appointment, AppointmentEvent, CheckIn, PatientPresence
from televisit.audit.models import AuditEvent
from televisit.auth.models import (
    AuthSession,
    KnownDevice,
    LoginFailure,
    MfaChallenge,
    MfaFactor,
    MfaRecoveryCode,
    RateEvent,
)
from televisit.chat.models import Message
from televisit.core.db import Base
from televisit.mail.models import OutboxMessage
from televisit.rooms.models import Instance, Room, RoomParticipant
from televisit.users.models import User

__all__ = [
    "Appointment", "AppointmentEvent", "AuditEvent", "AuthSession", "Base", "CheckIn", "Instance",
    "KnownDevice", "LoginFailure", "Message", "MfaChallenge", "MfaFactor", "MfaRecoveryCode",
    "OutboxMessage", "PatientPresence", "RateEvent", "Room", "RoomParticipant", "User",
]
