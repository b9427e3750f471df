"""The visit as a FHIR R5 `Appointment` (https://hl7.org/fhir/R5/appointment.html), for the two
parties' own systems (a patient app, a practice's EHR) to import.

Only the elements Televisit knows are filled. `virtualService.channelType` uses a code system of
our own: the one HL7 publishes (http://hl7.org/fhir/virtual-service-type, an example binding) names
only Zoom, Teams and WhatsApp.
"""
from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from televisit.appointments import service
from televisit.appointments.models import Appointment, AppointmentStatus
from televisit.audit import service as audit
from televisit.audit.models import Action
from televisit.core.config import Settings
from televisit.users.models import User

MEDIA_TYPE = "application/fhir+json"
STATUS = {
    AppointmentStatus.scheduled: "booked",
    AppointmentStatus.in_progress: "arrived",
    AppointmentStatus.completed: "fulfilled",
    AppointmentStatus.cancelled: "cancelled",
    AppointmentStatus.missed: "noshow",
}
VIRTUAL_SERVICE_SYSTEM = "urn:televisit:fhir:virtual-service-type"
ACT_CODE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
CANCELLATION_SYSTEM = "http://terminology.hl7.org/CodeSystem/appointment-cancellation-reason"


class _Element(BaseModel):
    model_config = ConfigDict(serialize_by_alias=True)


class Coding(_Element):
    system: str
    code: str
    display: str | None = None


class CodeableConcept(_Element):
    coding: list[Coding] | None = None
    text: str | None = None


class CodeableReference(_Element):
    concept: CodeableConcept


class Reference(_Element):
    reference: str
    display: str


class Participant(_Element):
    actor: Reference
    status: str = "accepted"


class VirtualServiceDetail(_Element):
    channelType: Coding
    addressUrl: str
    maxParticipants: int = 2


class Meta(_Element):
    lastUpdated: datetime


class FhirAppointment(_Element):
    resourceType: str = "Appointment"
    id: str
    meta: Meta
    status: str
    class_: list[CodeableConcept] = Field(serialization_alias="class")
    serviceType: list[CodeableReference]
    reason: list[CodeableReference] | None = None
    start: datetime
    end: datetime
    minutesDuration: int
    created: datetime
    cancellationDate: datetime | None = None
    cancellationReason: CodeableConcept | None = None
    subject: Reference
    participant: list[Participant]
    virtualService: list[VirtualServiceDetail]


def _person(kind: str, user: User) -> Reference:
    return Reference(reference=f"{kind}/{user.id}", display=user.full_name)


def _cancellation(appointment: Appointment) -> CodeableConcept | None:
    if appointment.status != AppointmentStatus.cancelled:
        return None
    by_patient = appointment.cancelled_by_id == appointment.patient_id
    coding = Coding(system=CANCELLATION_SYSTEM, code="pat" if by_patient else "prov",
                    display="Patient" if by_patient else "Provider")
    return CodeableConcept(coding=[coding], text=appointment.cancel_reason)


def to_fhir(appointment: Appointment, *, settings: Settings) -> FhirAppointment:
    """Map one visit (doctor and patient loaded) to the R5 resource."""
    return FhirAppointment(
        id=str(appointment.id),
        meta=Meta(lastUpdated=appointment.updated_at),
        status=STATUS[appointment.status],
        class_=[CodeableConcept(coding=[Coding(system=ACT_CODE_SYSTEM, code="VR", display="virtual")])],
        serviceType=[CodeableReference(concept=CodeableConcept(text="Telehealth Visit"))],
        reason=[CodeableReference(concept=CodeableConcept(text=appointment.reason))]
        if appointment.reason else None,
        start=appointment.starts_at,
        end=appointment.ends_at,
        minutesDuration=appointment.duration_minutes,
        created=appointment.created_at,
        cancellationDate=appointment.cancelled_at,
        cancellationReason=_cancellation(appointment),
        subject=_person("Patient", appointment.patient),
        participant=[Participant(actor=_person("Practitioner", appointment.doctor)),
                     Participant(actor=_person("Patient", appointment.patient))],
        virtualService=[VirtualServiceDetail(
            channelType=Coding(system=VIRTUAL_SERVICE_SYSTEM, code="televisit",
                               display="Televisit video visit in the browser (WebRTC)"),
            addressUrl=service.visit_url(settings, appointment.id),
        )],
    )


async def read(session: AsyncSession, *, user: User, appointment_id: uuid.UUID, settings: Settings,
               now: datetime) -> bytes:
    """The caller's own visit as FHIR JSON (another person's is 404, like every read)."""
    appointment = await service.get_for_user(session, user=user, appointment_id=appointment_id, now=now,
                                             action=Action.appointment_export)
    await audit.record(session, action=Action.appointment_export, actor=user, object_type="appointment",
                       object_id=appointment.id, now=now, data={"format": "fhir"})
    return to_fhir(appointment, settings=settings).model_dump_json(exclude_none=True).encode()
