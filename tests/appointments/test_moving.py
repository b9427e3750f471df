"""PATCH /api/v1/appointments/{id}: the doctor moves a visit under the booking rules, and both
people's devices hear about it at once."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from tests.appointments.helpers import URL, assert_appointment, assert_error
from tests.fixtures.app import START
from tests.fixtures.live import WSClient


async def move(client, person, visit_id: str, **body):
    return await client.patch(f"{URL}/{visit_id}", json={
        k: v.isoformat() if isinstance(v, datetime) else v for k, v in body.items()}, headers=person.headers)


async def test_the_doctor_moves_start_and_length(client, factory):
    doctor, patient = await factory.doctor(), await factory.patient()
    visit = await factory.appointment(doctor, patient, starts_in=timedelta(hours=2), reason="Check")
    new_start = START + timedelta(days=1, hours=3)
    response = await move(client, doctor, visit["id"], starts_at=new_start, duration_minutes=20)
    assert response.status_code == 200, response.text
    data = response.json()
    assert_appointment(data, doctor=doctor, patient=patient)
    assert datetime.fromisoformat(data["starts_at"]) == new_start
    assert data["duration_minutes"] == 20 and data["status"] == "scheduled" and data["reason"] == "Check"
    assert (await client.get(f"{URL}/{visit['id']}", headers=patient.headers)).json() == data
    only_length = await move(client, doctor, visit["id"], duration_minutes=50)
    assert only_length.json()["duration_minutes"] == 50
    assert datetime.fromisoformat(only_length.json()["starts_at"]) == new_start


async def test_moving_keeps_the_overlap_and_slot_rules(client, factory):
    doctor, patient = await factory.doctor(), await factory.patient()
    first = await factory.appointment(doctor, patient, starts_in=timedelta(hours=2))
    second = await factory.appointment(doctor, patient, starts_in=timedelta(hours=4))
    assert_error(await move(client, doctor, second["id"], starts_at=START + timedelta(hours=2, minutes=10)),
                 409, "appointment_overlap")
    # Its own old slot is no obstacle.
    assert (await move(client, doctor, first["id"], starts_at=START + timedelta(hours=2, minutes=15))
            ).status_code == 200
    assert_error(await move(client, doctor, first["id"], starts_at=START - timedelta(hours=1)),
                 422, "invalid_slot")
    assert_error(await move(client, doctor, first["id"], duration_minutes=600), 422, "invalid_slot")
    assert_error(await move(client, doctor, first["id"]), 422, "validation_error")
    assert_error(await move(client, doctor, first["id"], starts_at="2030-03-04T10:00:00"), 422,
                 "validation_error")


async def test_only_the_visits_doctor_may_move_it(client, factory):
    doctor, patient = await factory.doctor(), await factory.patient()
    visit = await factory.appointment(doctor, patient, starts_in=timedelta(hours=2))
    later = START + timedelta(hours=5)
    assert_error(await move(client, patient, visit["id"], starts_at=later), 403, "forbidden_role")
    assert_error(await move(client, await factory.doctor(), visit["id"], starts_at=later), 404,
                 "appointment_not_found")
    assert_error(await move(client, doctor, str(uuid.uuid4()), starts_at=later), 404,
                 "appointment_not_found")


async def test_a_cancelled_visit_cannot_be_moved(client, factory):
    doctor, patient = await factory.doctor(), await factory.patient()
    visit = await factory.appointment(doctor, patient, starts_in=timedelta(hours=2))
    await client.post(f"{URL}/{visit['id']}/cancel", headers=patient.headers)
    assert_error(await move(client, doctor, visit["id"], duration_minutes=15), 409, "appointment_not_movable")


async def test_both_people_hear_about_the_move_live(client, factory, live):
    doctor, patient = await factory.doctor(), await factory.patient()
    visit = await factory.appointment(doctor, patient, starts_in=timedelta(days=1))
    sockets = [await WSClient.connect(live.ws_url, p.token) for p in (patient, doctor)]
    try:
        new_start = START + timedelta(days=2)
        assert (await move(client, doctor, visit["id"], starts_at=new_start)).status_code == 200
        for socket in sockets:
            update = await socket.expect("appointment.updated")
            assert update["appointment"]["id"] == visit["id"]
            assert datetime.fromisoformat(update["appointment"]["starts_at"]) == new_start
    finally:
        for socket in sockets:
            await socket.close()


async def test_moving_to_the_same_time_changes_nothing(client, factory, live):
    doctor, patient = await factory.doctor(), await factory.patient()
    visit = await factory.appointment(doctor, patient, starts_in=timedelta(days=1))
    socket = await WSClient.connect(live.ws_url, patient.token)
    try:
        same = await move(client, doctor, visit["id"], starts_at=datetime.fromisoformat(visit["starts_at"]))
        assert same.status_code == 200 and same.json() == visit
        await socket.send({"type": "ping", "ref": "after"})
        await socket.expect("pong", ref="after")
        assert not [f for f in socket.seen if f["type"] == "appointment.updated"]
    finally:
        await socket.close()
