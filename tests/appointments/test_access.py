"""The issue's access test: a patient never reads, lists or cancels another's visit, nor books."""

from __future__ import annotations

from datetime import timedelta

from tests.appointments.helpers import URL, assert_error, ids, list_all
from tests.fixtures.app import START


async def test_patient_never_touches_another_patients_appointment(client, factory):
    doctor = await factory.doctor()
    alice, mallory = await factory.patient(name="Alice Example"), await factory.patient()
    alices = await factory.appointment(doctor, alice, starts_in=timedelta(hours=1), reason="Private")
    mallorys = await factory.appointment(doctor, mallory, starts_in=timedelta(hours=2))

    # Reads: 404, the same answer as for an id that does not exist.
    response = await client.get(f"{URL}/{alices['id']}", headers=mallory.headers)
    assert_error(response, 404, "appointment_not_found")
    assert "Alice" not in response.text and "Private" not in response.text

    # Lists: only her own, under every filter and page size.
    for params in ({}, {"status": "scheduled"}, {"from": START.isoformat()}, {"limit": 1}):
        assert ids(await list_all(client, mallory, **params)) == [mallorys["id"]]

    # Cancels: 404, and Alice's visit stays scheduled.
    response = await client.post(f"{URL}/{alices['id']}/cancel", headers=mallory.headers)
    assert_error(response, 404, "appointment_not_found")
    assert (await client.get(f"{URL}/{alices['id']}", headers=alice.headers)).json() == alices

    # Books: 403, for herself or for Alice, and nothing is created.
    for patient in (mallory, alice):
        body = {"patient_id": str(patient.id), "duration_minutes": 30,
                "starts_at": (START + timedelta(hours=5)).isoformat()}
        assert_error(await client.post(URL, json=body, headers=mallory.headers), 403, "forbidden_role")
    assert ids(await list_all(client, alice)) == [alices["id"]]
    assert ids(await list_all(client, doctor)) == [alices["id"], mallorys["id"]]
