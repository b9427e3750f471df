from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
)

from televisit.appointments.models import AppointmentStatus
from televisit.core.schemas import IsoDateTime
from televisit.core.text import printable
from televisit.users.schemas import PersonRef

Reason = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=500), AfterValidator(printable)
]


class AppointmentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    patient_id: uuid.UUID
    starts_at: IsoDateTime = Field(description="When the visit starts; an offset is required.")
    duration_minutes: int = Field(ge=1, le=24 * 60, description="Bounded by settings (default 5-240).")
    reason: Reason | None = None


class AppointmentCancel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Reason | None = None


class AppointmentPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    doctor: PersonRef
    patient: PersonRef
    starts_at: datetime
    duration_minutes: int
    reason: str | None
    status: AppointmentStatus
    created_at: datetime
    cancelled_at: datetime | None
    cancel_reason: str | None
    room_id: uuid.UUID | None


class AppointmentList(BaseModel):
    items: list[AppointmentPublic]
    next_cursor: str | None
