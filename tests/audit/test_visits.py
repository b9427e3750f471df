"""Every read and write of a visit is recorded, once per request; a look at another's is a denial."""

from __future__ import annotations

import uuid
from datetime import timedelta

from tests.audit.helpers import CLIENT_IP, audit_rows, one_row

APPOINTMENTS = "/api/v1/appointments"


async def test_booking_reading_and_cancelling_are_recorded(factory, client, app):
    doctor, patient = await factory.doctor(), await factory.patient()
    visit = await factory.appointment(doctor, patient)
    booked = await one_row(app, action="appointment.book")
    assert (booked.actor_id, booked.actor_role, booked.outcome) == (doctor.id, "doctor", "success")
    assert (booked.object_type, str(booked.object_id)) == ("appointment", visit["id"])
    assert booked.data == {"patient_id": str(patient.id)}
    assert booked.client_ip == CLIENT_IP and booked.request_id

    response = await client.get(f"{APPOINTMENTS}/{visit['id']}",
                                headers={**patient.headers, "X-Request-ID": "read-visit-1"})
    assert response.status_code == 200
    read = await one_row(app, action="appointment.read")
    assert (read.actor_id, read.actor_role, str(read.object_id)) == (patient.id, "patient", visit["id"])
    assert (read.request_id, read.outcome) == ("read-visit-1", "success")

    response = await client.post(f"{APPOINTMENTS}/{visit['id']}/cancel", json={"reason": "feeling better"},
                                 headers=patient.headers)
    assert response.status_code == 200
    cancelled = await one_row(app, action="appointment.cancel")
    assert (cancelled.actor_id, str(cancelled.object_id), cancelled.outcome) == (patient.id, visit["id"],
                                                                                 "success")
    assert "feeling better" not in str(cancelled.data)  # what people write is not copied to the trail


async def test_a_list_is_one_record_with_its_filters_and_count(factory, client, app, clock):
    doctor, patient = await factory.doctor(), await factory.patient()
    for hours in (1, 2, 3):
        await factory.appointment(doctor, patient, starts_in=timedelta(hours=hours))
    response = await client.get(APPOINTMENTS, params={"status": "scheduled", "limit": 2},
                                headers=patient.headers)
    assert response.status_code == 200 and len(response.json()["items"]) == 2
    listed = await one_row(app, action="appointment.list")
    assert (listed.actor_id, listed.object_id) == (patient.id, None)
    assert listed.data == {"filters": {"status": "scheduled"}, "page": False, "count": 2}

    clock.advance(seconds=1)
    await client.get(APPOINTMENTS, params={"cursor": response.json()["next_cursor"], "limit": 2},
                     headers=patient.headers)
    second = (await audit_rows(app, action="appointment.list"))[-1]
    assert second.data == {"filters": {}, "page": True, "count": 1}


async def test_another_patients_existing_visit_is_a_recorded_denial(factory, client, app):
    doctor, patient, stranger = await factory.doctor(), await factory.patient(), await factory.patient()
    visit = await factory.appointment(doctor, patient)

    response = await client.get(f"{APPOINTMENTS}/{visit['id']}",
                                headers={**stranger.headers, "X-Request-ID": "peek-1"})
    assert response.status_code == 404
    denied = await one_row(app, outcome="denied")
    assert (denied.action, denied.actor_id, denied.actor_role) == ("appointment.read", stranger.id, "patient")
    assert (denied.object_type, str(denied.object_id)) == ("appointment", visit["id"])
    assert (denied.client_ip, denied.request_id) == (CLIENT_IP, "peek-1")
    assert await audit_rows(app, action="appointment.read", outcome="success") == []

    # A cancel locks the row first (a write on SQLite): the denial is still written, after the rollback.
    response = await client.post(f"{APPOINTMENTS}/{visit['id']}/cancel", headers=stranger.headers)
    assert response.status_code == 404
    assert len(await audit_rows(app, action="appointment.cancel", outcome="denied")) == 1
    assert await audit_rows(app, action="appointment.cancel", outcome="success") == []


async def test_a_visit_that_does_not_exist_is_no_denial(factory, client, app):
    patient = await factory.patient()
    response = await client.get(f"{APPOINTMENTS}/{uuid.uuid4()}", headers=patient.headers)
    assert response.status_code == 404
    assert await audit_rows(app, outcome="denied") == []


async def test_a_refused_change_leaves_no_record_claiming_success(factory, client, app):
    doctor, patient = await factory.doctor(), await factory.patient()
    visit = await factory.appointment(doctor, patient)
    cancel = f"{APPOINTMENTS}/{visit['id']}/cancel"
    assert (await client.post(cancel, headers=doctor.headers)).status_code == 200
    again = await client.post(f"{APPOINTMENTS}/{visit['id']}/cancel", headers=patient.headers)
    assert again.status_code == 409
    assert [r.actor_id for r in await audit_rows(app, action="appointment.cancel")] == [doctor.id]
