"""Two doctors' requests racing for overlapping slots: exactly one booking wins."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from televisit.appointments.repository import AppointmentRepository
from tests.appointments.helpers import URL, assert_error, list_all
from tests.fixtures.app import START


def _body(patient, minutes: int) -> dict:
    return {"patient_id": str(patient.id), "duration_minutes": 30,
            "starts_at": (START + timedelta(hours=1, minutes=minutes)).isoformat()}


async def _race(client, bodies_and_headers) -> list:
    return await asyncio.gather(
        *(client.post(URL, json=body, headers=headers) for body, headers in bodies_and_headers)
    )


async def test_same_doctor_two_patients_one_wins(client, factory):
    for _ in range(3):  # a few fresh rounds, so a lucky interleaving does not hide a race
        doctor = await factory.doctor()
        first, second = await factory.patient(login=False), await factory.patient(login=False)
        responses = await _race(client, [(_body(first, 0), doctor.headers),
                                         (_body(second, 15), doctor.headers)])
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [201, 409], [r.text for r in responses]
        loser = next(r for r in responses if r.status_code == 409)
        assert_error(loser, 409, "appointment_overlap")
        assert len(await list_all(client, doctor)) == 1


async def test_same_patient_two_doctors_one_wins(client, factory):
    first_doctor, second_doctor = await factory.doctor(), await factory.doctor()
    patient = await factory.patient()
    responses = await _race(client, [(_body(patient, 0), first_doctor.headers),
                                     (_body(patient, 0), second_doctor.headers)])
    assert sorted(r.status_code for r in responses) == [201, 409], [r.text for r in responses]
    assert len(await list_all(client, patient)) == 1


async def test_many_at_once_exactly_one_wins(client, factory):
    doctor = await factory.doctor()
    patients = [await factory.patient(login=False) for _ in range(5)]
    responses = await _race(client, [(_body(p, i * 5), doctor.headers) for i, p in enumerate(patients)])
    assert sorted(r.status_code for r in responses) == [201, 409, 409, 409, 409], [
        r.text for r in responses]
    assert len(await list_all(client, doctor)) == 1
    # Serialising bookings must not turn disjoint slots into false conflicts.
    responses = await _race(
        client, [(_body(p, 60 + i * 30), doctor.headers) for i, p in enumerate(patients[:4])]
    )
    assert [r.status_code for r in responses] == [201] * 4, [r.text for r in responses]
    assert len(await list_all(client, doctor)) == 5


async def test_cancel_races_cancel(client, factory):
    doctor, patient = await factory.doctor(), await factory.patient()
    booked = await factory.appointment(doctor, patient)
    responses = await asyncio.gather(
        client.post(f"{URL}/{booked['id']}/cancel", headers=doctor.headers),
        client.post(f"{URL}/{booked['id']}/cancel", headers=patient.headers),
    )
    assert sorted(r.status_code for r in responses) == [200, 409], [r.text for r in responses]
    loser = next(r for r in responses if r.status_code == 409)
    assert_error(loser, 409, "appointment_already_cancelled")


async def test_locks_alone_serialize_without_the_missed_sweep(client, factory, monkeypatch):
    """Booking and cancelling may write (marking missed visits) before their checks; on SQLite
    that write alone used to be the lock. Without it, the explicit locks must still hold."""

    async def no_sweep(self, *, user_ids, now):
        return None

    monkeypatch.setattr(AppointmentRepository, "mark_missed", no_sweep)
    for _ in range(3):
        doctor = await factory.doctor()
        patients = [await factory.patient(login=False) for _ in range(3)]
        responses = await _race(client, [(_body(p, i * 10), doctor.headers)
                                         for i, p in enumerate(patients)])
        assert sorted(r.status_code for r in responses) == [201, 409, 409], [
            r.text for r in responses]
    patient = await factory.patient()
    booked = await factory.appointment(doctor, patient, starts_in=timedelta(days=1))
    responses = await asyncio.gather(
        client.post(f"{URL}/{booked['id']}/cancel", json={"reason": "doctor"}, headers=doctor.headers),
        client.post(f"{URL}/{booked['id']}/cancel", json={"reason": "patient"}, headers=patient.headers),
    )
    assert sorted(r.status_code for r in responses) == [200, 409], [r.text for r in responses]
    winner = next(r for r in responses if r.status_code == 200).json()
    read = await client.get(f"{URL}/{booked['id']}", headers=patient.headers)
    assert read.json()["cancel_reason"] == winner["cancel_reason"]  # not overwritten by the loser
