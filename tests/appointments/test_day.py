"""The doctor's day and the history: the next free slot, the overlap error naming its visit,
status lists and `with=` on the list, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from televisit.appointments.models import Appointment
from televisit.audit.models import Action, AuditEvent
from televisit.runtime import runtime_of
from tests.appointments.helpers import URL, assert_error, ids, list_all
from tests.fixtures.app import START

NEXT = f"{URL}/slots/next-free"


async def next_free(client, who, **params: Any) -> str:
    response = await client.get(NEXT, params=params, headers=who.headers)
    assert response.status_code == 200, response.text
    assert set(response.json()) == {"starts_at"}
    return response.json()["starts_at"]


async def test_next_free_skips_the_doctors_visits_on_a_five_minute_grid(app, client, factory):
    doctor, patient = await factory.doctor(), await factory.patient()
    factory.clock.advance(minutes=2)  # 09:02: the grid starts at 09:05
    assert await next_free(client, doctor, duration_minutes=30) == "2030-03-04T09:05:00Z"
    # 09:10-09:40 and 09:45-10:15 booked: 30 minutes fit first at 10:15; 5 minutes at 09:05.
    first = await factory.appointment(doctor, patient, starts_at=START + timedelta(minutes=10))
    other = await factory.patient()
    await factory.appointment(doctor, other, starts_at=START + timedelta(minutes=45))
    assert await next_free(client, doctor, duration_minutes=30) == "2030-03-04T10:15:00Z"
    assert await next_free(client, doctor, duration_minutes=5) == "2030-03-04T09:05:00Z"
    assert await next_free(client, doctor, duration_minutes=5,
                           after="2030-03-04T09:12:00Z") == "2030-03-04T09:40:00Z"
    # Another doctor's visits do not matter; a cancelled one frees its time.
    colleague = await factory.doctor()
    assert await next_free(client, colleague, duration_minutes=30) == "2030-03-04T09:05:00Z"
    assert (await client.post(f"{URL}/{first['id']}/cancel", headers=doctor.headers)).status_code == 200
    # The suggestion books.
    suggested = await next_free(client, doctor, duration_minutes=30)
    assert suggested == "2030-03-04T09:05:00Z"
    response = await client.post(URL, json={"patient_id": str(patient.id), "starts_at": suggested,
                                             "duration_minutes": 30}, headers=doctor.headers)
    assert response.status_code == 201, response.text
    async with runtime_of(app).sessionmaker() as session:
        looked_up = await session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == Action.appointment_next_free))
    assert looked_up == 6


async def test_next_free_leaves_a_minute_to_send_the_form(app, client, factory):
    doctor = await factory.doctor()
    factory.clock.advance(minutes=4, seconds=1)  # 09:04:01: 09:05 would pass before the form is sent
    assert await next_free(client, doctor, duration_minutes=30) == "2030-03-04T09:10:00Z"
    factory.clock.advance(seconds=-2)  # 09:03:59: a minute and a second to go
    assert await next_free(client, doctor, duration_minutes=30) == "2030-03-04T09:05:00Z"


async def test_next_free_is_for_doctors_and_checks_its_input(app, client, factory):
    doctor, patient, admin = await factory.doctor(), await factory.patient(), await factory.admin()
    for who in (patient, admin):
        assert_error(await client.get(NEXT, params={"duration_minutes": 30}, headers=who.headers), 403)
    assert_error(await client.get(NEXT, params={"duration_minutes": 30}), 401)
    for params in ({}, {"duration_minutes": 0}, {"duration_minutes": "half"},
                   {"duration_minutes": 30, "after": "tomorrow"},
                   {"duration_minutes": 30, "after": "2030-03-04T09:00:00"}):  # no offset
        assert_error(await client.get(NEXT, params=params, headers=doctor.headers), 422)
    error = assert_error(await client.get(NEXT, params={"duration_minutes": 241}, headers=doctor.headers),
                         422, "invalid_slot")
    assert error["details"][0]["loc"] == ["query", "duration_minutes"]


async def test_the_overlap_error_names_the_doctors_visit(app, client, factory):
    doctor, patient, other = await factory.doctor(), await factory.patient(), await factory.patient()
    booked = await factory.appointment(doctor, patient, starts_at=START + timedelta(hours=2))
    body = {"patient_id": str(other.id), "starts_at": (START + timedelta(hours=2, minutes=15)).isoformat(),
            "duration_minutes": 30}
    response = await client.post(URL, json=body, headers=doctor.headers)
    error = assert_error(response, 409, "appointment_overlap")
    assert error["details"] == {"conflict": {
        "id": booked["id"], "starts_at": "2030-03-04T11:00:00+00:00", "duration_minutes": 30,
        "patient": {"id": str(patient.id), "full_name": patient.full_name}}}
    # Moving another visit onto it: the same.
    later = await factory.appointment(doctor, other, starts_at=START + timedelta(hours=5))
    moved = await client.patch(f"{URL}/{later['id']}", json={"starts_at": body["starts_at"]},
                               headers=doctor.headers)
    assert assert_error(moved, 409, "appointment_overlap")["details"]["conflict"]["id"] == booked["id"]
    # The patient's visit with another doctor is not this doctor's to see.
    colleague = await factory.doctor()
    response = await client.post(URL, json={**body, "patient_id": str(patient.id)}, headers=colleague.headers)
    assert assert_error(response, 409, "appointment_overlap")["details"] == {"conflict": None}
    async with runtime_of(app).sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Appointment)) == 2


async def test_history_by_status_list_and_person(app, client, factory):
    doctor, ines, rosa = await factory.doctor(), await factory.patient(), await factory.patient()
    other_doctor = await factory.doctor()
    cancelled = await factory.appointment(doctor, ines, starts_in=timedelta(hours=1))
    missed = await factory.appointment(doctor, ines, starts_in=timedelta(hours=2))
    with_rosa = await factory.appointment(doctor, rosa, starts_in=timedelta(hours=3))
    elsewhere = await factory.appointment(other_doctor, ines, starts_in=timedelta(hours=4))
    upcoming = await factory.appointment(doctor, ines, starts_in=timedelta(days=2))
    assert (await client.post(f"{URL}/{cancelled['id']}/cancel", headers=ines.headers)).status_code == 200
    factory.clock.advance(hours=5)  # the 2nd, 3rd and 4th are over unheld: missed

    history = await list_all(client, doctor, status="completed,missed,cancelled")
    assert ids(history) == [cancelled["id"], missed["id"], with_rosa["id"]]
    with_ines = {"with": str(ines.id)}
    assert ids(await list_all(client, doctor, status="completed,missed,cancelled", **with_ines)) == [
        cancelled["id"], missed["id"]]
    assert ids(await list_all(client, doctor, **{"with": str(ines.id)})) == [
        cancelled["id"], missed["id"], upcoming["id"]]
    assert ids(await list_all(client, ines, status="missed,missed")) == [missed["id"], elsewhere["id"]]
    with_doctor = {"with": str(doctor.id)}
    assert ids(await list_all(client, ines, **with_doctor, status="scheduled")) == [upcoming["id"]]
    # Only visits the caller is part of: another doctor's patient list says nothing.
    assert await list_all(client, rosa, **{"with": str(ines.id)}) == []
    assert await list_all(client, other_doctor, **{"with": str(rosa.id)}) == []


@pytest.mark.parametrize("params", [
    {"status": "done"}, {"status": "missed,"}, {"status": ",missed"}, {"status": "missed, cancelled"},
    {"status": ""}, {"with": "someone"},
])
async def test_bad_list_filters_are_422(client, factory, params):
    doctor = await factory.doctor()
    assert_error(await client.get(URL, params=params, headers=doctor.headers), 422, "validation_error")
