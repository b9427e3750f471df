from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from televisit.appointments.models import AppointmentStatus, EventKind
from televisit.core.schemas import IsoDateTime, SettingBound, json_integer
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


CheckResult = Literal["ok", "failed", "skipped"]


class NetworkCheck(BaseModel):
    """The short network test of the pre-call check."""

    model_config = ConfigDict(extra="forbid")

    # Every key is required (null when not measured): what a client sends is what it reads back.
    rtt_ms: Annotated[int, Field(ge=0, le=600_000), BeforeValidator(json_integer)] | None = Field(
        description="Round trip, milliseconds.")
    bitrate_kbps: Annotated[int, Field(ge=0, le=10_000_000), BeforeValidator(json_integer)] | None
    turn: CheckResult
    # Added later: optional, so a check-in from an older page still validates.
    signaling_rtt_ms: Annotated[int, Field(ge=0, le=600_000), BeforeValidator(json_integer)] | None = Field(
        default=None, description="Round trip of a ping over the signaling WebSocket, milliseconds.")


class Checks(BaseModel):
    """The pre-call check's results, as the patient's device measured them."""

    model_config = ConfigDict(extra="forbid")

    camera: CheckResult
    microphone: CheckResult
    network: NetworkCheck | None = Field(description="null: the network test did not run.")


class CheckInCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    checks: Checks


class CheckInPublic(BaseModel):
    """The patient is in the waiting room (``present``) or was (``left_at``)."""

    at: datetime = Field(description="When she (last) checked in.")
    present: bool = Field(description="She is there now: checked in, connected, and not gone.")
    left_at: datetime | None = Field(description="When she left (explicitly, or her connection "
                                                 "was gone longer than TELEVISIT_PRESENCE_GRACE).")
    checks: Checks


def _count(high: int, description: str) -> Any:
    return Field(ge=0, le=high, description=description)


class CallQualityCreate(BaseModel):
    """What one side measured of a call, sent when it ends (from the browser's `getStats`).

    Averages are over the call's samples; null when never measured (the call never connected)."""

    model_config = ConfigDict(extra="forbid")

    duration_seconds: Annotated[int, _count(86_400, "How long this side was in the call."),
                                BeforeValidator(json_integer)]
    path: Literal["direct", "relay", "unknown"] = Field(
        description="The selected candidate pair: `relay` through TURN, `direct` otherwise, `unknown` "
                    "if none was selected.")
    rtt_ms: Annotated[int, _count(600_000, "Average round trip, milliseconds."),
                      BeforeValidator(json_integer)] | None
    loss_percent: Annotated[float, Field(strict=True, ge=0, le=100, allow_inf_nan=False,
                                         description="Received packets lost, percent.")] | None
    bitrate_kbps: Annotated[int, _count(10_000_000, "Average received bitrate, kbit/s."),
                            BeforeValidator(json_integer)] | None
    freezes: Annotated[int, _count(100_000, "Received video freezes."), BeforeValidator(json_integer)]
    reconnects: Annotated[int, _count(10_000, "Times the media connection was lost and came back."),
                          BeforeValidator(json_integer)]
    audio_only_seconds: Annotated[int, _count(86_400, "Time with video paused (audio only, by hand or "
                                                      "for a weak link); 0 from clients that do not say."),
                                  BeforeValidator(json_integer)] = 0


class CallSummary(BaseModel):
    """The visit's live or last call."""

    room_id: uuid.UUID
    started_at: datetime
    ended_at: datetime | None
    duration_seconds: int | None = Field(description="From the first join to the end (null while "
                                                     "live, or when nobody joined).")


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
    check_in: CheckInPublic | None = Field(description="null: the patient has not checked in.")
    unread_count: int = Field(description="Messages from the other party after your read marker.")
    last_message_at: datetime | None
    messaging_until: datetime = Field(description="After this, the conversation is read-only "
                                                  "(409 `conversation_closed`).")
    call: CallSummary | None = Field(description="The visit's live or last call.")
    doctor_busy: bool = Field(description="The doctor is in another live call now (shown to the "
                                          "patient only; false for the doctor).")


class AppointmentList(BaseModel):
    items: list[AppointmentPublic]
    next_cursor: str | None


class EventPublic(BaseModel):
    """One moment of a visit's log."""

    id: uuid.UUID
    at: datetime
    kind: EventKind
    actor: PersonRef | None = Field(description="Who did it (null: the system, e.g. a timeout).")
    data: dict[str, Any]


class EventList(BaseModel):
    items: list[EventPublic]
    next_cursor: str | None


class NextFreeSlot(BaseModel):
    starts_at: datetime
