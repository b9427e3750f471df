from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from televisit.appointments.models import AppointmentStatus
from televisit.core.schemas import IsoDateTime, SettingBound
from televisit.core.text import PRINTABLE_PATTERN, Pattern, printable
from televisit.users.schemas import EmailAddress, FullName, PersonRef

# Counted before the surrounding whitespace is dropped, so that the schema's maxLength is exact.
Reason = Annotated[
    str, StringConstraints(max_length=500), AfterValidator(printable), AfterValidator(str.strip),
    Pattern(PRINTABLE_PATTERN),
]
# Hard limits here; the settings' bounds (TELEVISIT_APPOINTMENT_MIN_MINUTES and _MAX_MINUTES,
# default 5-240) are checked by the service and are what the document shows.
DurationMinutes = Annotated[
    int, Field(ge=1, le=24 * 60, description="Minutes; bounded by the server's settings."),
    SettingBound("minimum", "appointment_min_minutes"), SettingBound("maximum", "appointment_max_minutes"),
]
INVALID_SLOT = {"invalid_slot": "the start is not in the future, or too far ahead"}
STARTS_AT = ("An offset is required. Must be in the future and at most "
             "TELEVISIT_APPOINTMENT_MAX_DAYS_AHEAD (default 366) days ahead: 422 `invalid_slot`.")


class NewPatientIn(BaseModel):
    """A patient named by the doctor: the account with this email is booked, or, if there is none,
    an invited account is made (no password; her invitation's link lets her in)."""

    model_config = ConfigDict(extra="forbid")

    full_name: FullName
    email: EmailAddress


def _one_patient_schema(schema: dict[str, Any]) -> None:
    # Exactly one of the two, as the validator below insists; neither is ever null on the wire
    # (None is only the Python default), so the schema offers a client no null to send.
    schema["oneOf"] = [{"required": ["patient_id"]}, {"required": ["patient"]}]
    for name in ("patient", "patient_id"):
        prop = schema["properties"][name]
        branches = [b for b in prop.pop("anyOf") if b.get("type") != "null"]
        prop.update(branches[0])
        prop.pop("default", None)


class AppointmentCreate(BaseModel):
    """Give `patient_id` (a patient found with GET /patients) or `patient` (name and email)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_one_patient_schema)

    # `patient` first: the check of `patient_id` (validated even when absent) sees it.
    patient: NewPatientIn | None = Field(default=None, description="Instead of `patient_id`.")
    # A plain optional (not a union with a skipped None) so a bad id's error points at
    # ["body", "patient_id"], not at one branch of a union.
    patient_id: uuid.UUID | None = Field(default=None, validate_default=True)
    starts_at: IsoDateTime = Field(description="When the visit starts. " + STARTS_AT)
    duration_minutes: DurationMinutes
    reason: Reason | None = None

    @field_validator("patient_id")
    @classmethod
    def _one_patient(cls, value: uuid.UUID | None, info: ValidationInfo) -> uuid.UUID | None:
        if (value is None) == (info.data.get("patient") is None):
            raise ValueError("give either patient_id or patient")
        return value


def _at_least_one_change(schema: dict[str, Any]) -> None:
    """One property at least, none of them null (no `default: null` for a client to copy)."""
    schema["minProperties"] = 1
    for prop in schema["properties"].values():
        prop.pop("default", None)


class AppointmentUpdate(BaseModel):
    """Move a visit: a new start, a new length, or both (the patient is told by email)."""

    # Leave out what does not change; null is not a value here (the schema says so too).
    model_config = ConfigDict(extra="forbid", json_schema_extra=_at_least_one_change)

    starts_at: IsoDateTime | SkipJsonSchema[None] = Field(
        default=None, description="The new start. " + STARTS_AT)
    duration_minutes: DurationMinutes | SkipJsonSchema[None] = None

    @model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, data: object) -> object:
        if isinstance(data, dict) and any(data.get(k, "") is None for k in ("starts_at", "duration_minutes")):
            raise ValueError("leave out what does not change (null is not a value here)")
        return data

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
