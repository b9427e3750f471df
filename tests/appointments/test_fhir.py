"""GET /api/v1/appointments/{id}/fhir: the visit as a FHIR R5 Appointment, parsed by fhir.resources."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest
from fhir.resources.appointment import Appointment as FhirAppointment

from televisit.appointments.fhir import to_fhir
from televisit.appointments.models import Appointment, AppointmentStatus
from televisit.core.config import Settings
from televisit.users.models import Role, User
from tests.appointments.helpers import URL, assert_error
from tests.fixtures.app import START

PUBLIC_URL = "https://visits.clinic.example"


@pytest.fixture
def settings_overrides():
    return {"public_url": PUBLIC_URL,
            "session_idle_timeout": 7 * 24 * 3600, "session_absolute_lifetime": 30 * 24 * 3600}


async def fhir(client, visit_id: str, person) -> FhirAppointment:
    response = await client.get(f"{URL}/{visit_id}/fhir", headers=person.headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/fhir+json"
    resource = FhirAppointment.model_validate_json(response.content)  # R5: fhir.resources' default
    assert resource.get_resource_type() == "Appointment"
    return resource


async def test_a_booked_visit_as_an_r5_appointment(client, factory):
    doctor = await factory.doctor(name="Dr. Grace Hopper")
    patient = await factory.patient(name="Alice Patient")
    starts = START + timedelta(days=2)
    visit = await factory.appointment(doctor, patient, starts_at=starts, duration_minutes=45,
                                      reason="Follow-up on blood pressure")
    for person in (doctor, patient):
        resource = await fhir(client, visit["id"], person)
        assert resource.id == visit["id"]
        assert resource.status == "booked"
        assert resource.start == starts and resource.end == starts + timedelta(minutes=45)
        assert resource.minutesDuration == 45
        assert resource.created == START
        [service_type] = resource.serviceType
        assert service_type.concept.text == "Telehealth Visit"
        [reason] = resource.reason
        assert reason.concept.text == "Follow-up on blood pressure"
        [klass] = resource.class_fhir
        assert (klass.coding[0].system, klass.coding[0].code) == (
            "http://terminology.hl7.org/CodeSystem/v3-ActCode", "VR")
        [virtual] = resource.virtualService
        assert virtual.addressUrl == f"{PUBLIC_URL}/visits/{visit['id']}"
        assert virtual.maxParticipants == 2
        assert virtual.channelType.code == "televisit" and virtual.channelType.system
        actors = {p.actor.reference: p.actor.display for p in resource.participant}
        assert actors == {f"Practitioner/{doctor.id}": "Dr. Grace Hopper",
                          f"Patient/{patient.id}": "Alice Patient"}
        assert {p.status for p in resource.participant} == {"accepted"}
        assert resource.subject.reference == f"Patient/{patient.id}"
        assert resource.cancellationDate is None and resource.cancellationReason is None


async def test_cancelled_carries_when_who_and_why(client, clock, factory):
    doctor, patient = await factory.doctor(), await factory.patient()
    visit = await factory.appointment(doctor, patient, starts_in=timedelta(days=1))
    clock.advance(minutes=10)
    await client.post(f"{URL}/{visit['id']}/cancel", json={"reason": "Feeling better"},
                      headers=patient.headers)
    resource = await fhir(client, visit["id"], doctor)
    assert resource.status == "cancelled"
    assert resource.cancellationDate == START + timedelta(minutes=10)
    assert resource.cancellationReason.text == "Feeling better"
    assert resource.cancellationReason.coding[0].code == "pat"
    assert resource.reason is None


async def test_status_follows_the_visit(client, clock, factory):
    doctor, patient = await factory.doctor(), await factory.patient()
    started = await factory.appointment(doctor, patient, starts_in=timedelta(minutes=5))
    response = await client.post(f"{URL}/{started['id']}/call", headers=doctor.headers)
    assert response.status_code == 201
    assert (await fhir(client, started["id"], patient)).status == "arrived"
    later = await factory.appointment(doctor, patient, starts_in=timedelta(hours=3))
    clock.advance(hours=4)
    assert (await fhir(client, later["id"], patient)).status == "noshow"


def test_every_status_maps_and_validates():
    """Every visit status gives a valid R5 resource (completed needs a real call, so unit-level)."""
    doctor = User(id=uuid.uuid4(), full_name="Dr. A", role=Role.doctor)
    patient = User(id=uuid.uuid4(), full_name="P. B", role=Role.patient)
    expected = {"scheduled": "booked", "in_progress": "arrived", "completed": "fulfilled",
                "cancelled": "cancelled", "missed": "noshow"}
    for status, fhir_status in expected.items():
        at = datetime(2030, 1, 1, 9, tzinfo=START.tzinfo)
        visit = Appointment(id=uuid.uuid4(), doctor_id=doctor.id, patient_id=patient.id, starts_at=at,
                            ends_at=at + timedelta(minutes=30), duration_minutes=30, reason=None,
                            status=AppointmentStatus(status), created_at=at, updated_at=at,
                            cancelled_at=at if status == "cancelled" else None,
                            cancelled_by_id=doctor.id if status == "cancelled" else None)
        visit.doctor, visit.patient = doctor, patient
        body = to_fhir(visit, settings=Settings(public_url=PUBLIC_URL)).model_dump_json(exclude_none=True)
        resource = FhirAppointment.model_validate_json(body)
        assert resource.status == fhir_status
        if status == "cancelled":
            assert resource.cancellationReason.coding[0].code == "prov"


async def test_only_the_two_parties_see_it(client, factory):
    doctor, patient = await factory.doctor(), await factory.patient()
    visit = await factory.appointment(doctor, patient)
    for stranger in (await factory.doctor(), await factory.patient(), await factory.admin()):
        assert_error(await client.get(f"{URL}/{visit['id']}/fhir", headers=stranger.headers), 404,
                     "appointment_not_found")
    assert_error(await client.get(f"{URL}/{uuid.uuid4()}/fhir", headers=doctor.headers), 404,
                 "appointment_not_found")
    assert_error(await client.get(f"{URL}/{visit['id']}/fhir"), 401, "not_authenticated")
