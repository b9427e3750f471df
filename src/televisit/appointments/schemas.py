from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from televisit.appointments.models import AppointmentStatus
from televisit.core.schemas import IsoDateTime
from televisit.core.text import printable
from televisit.users.schemas import FullName, PersonRef

Reason = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=500), AfterValidator(printable)
]


class NewPatientIn(BaseModel):
    """A patient named by the doctor: the account with this email is booked, or, if there is none,
    an invited account is made (no password; her invitation's link lets her in)."""

    model_config = ConfigDict(extra="forbid")

    full_name: FullName
    email: EmailStr = Field(max_length=254)


class AppointmentCreate(BaseModel):
    """Give `patient_id` (a patient found with GET /patients) or `patient` (name and email)."""

    model_config = ConfigDict(extra="forbid")

    # `patient` first: the check of `patient_id` (validated even when absent) sees it.
    patient: NewPatientIn | None = Field(default=None, description="Instead of `patient_id`.")
    patient_id: uuid.UUID | None = Field(default=None, validate_default=True)
    starts_at: IsoDateTime = Field(description="When the visit starts; an offset is required.")
    duration_minutes: int = Field(ge=1, le=24 * 60, description="Bounded by settings (default 5-240).")
    reason: Reason | None = None

    @field_validator("patient_id")
    @classmethod
    def _one_patient(cls, value: uuid.UUID | None, info: ValidationInfo) -> uuid.UUID | None:
        if (value is None) == (info.data.get("patient") is None):
            raise ValueError("give either patient_id or patient")
        return value


class AppointmentUpdate(BaseModel):
    """Move a visit: a new start, a new length, or both (the patient is told by email)."""

    model_config = ConfigDict(extra="forbid")

    starts_at: IsoDateTime | None = Field(default=None, description="The new start; an offset is required.")
    duration_minutes: int | None = Field(default=None, ge=1, le=24 * 60,
                                         description="Bounded by settings (default 5-240).")

    @model_validator(mode="after")
    def _something_to_change(self) -> AppointmentUpdate:
        if self.starts_at is None and self.duration_minutes is None:
            raise ValueError("give starts_at, duration_minutes or both")
        return self


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
