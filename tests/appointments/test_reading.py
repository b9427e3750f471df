"""GET /api/v1/appointments/{id}: its doctor and patient read it; to anyone else it does not exist."""

from __future__ import annotations

import uuid

from tests.appointments.helpers import URL, assert_appointment, assert_error


async def test_doctor_and_patient_read_it(client, factory):
    doctor, patient = await factory.doctor(), await factory.patient()
    booked = await factory.appointment(doctor, patient, reason="Rash")
    for person in (doctor, patient):
        response = await client.get(f"{URL}/{booked['id']}", headers=person.headers)
        assert response.status_code == 200, response.text
        assert response.json() == booked
        assert_appointment(response.json(), doctor=doctor, patient=patient)
    # Any spelling of the same UUID names the same visit.
    upper = await client.get(f"{URL}/{booked['id'].upper()}", headers=doctor.headers)
    assert upper.status_code == 200 and upper.json()["id"] == booked["id"]


async def test_others_get_404_never_403(client, factory, subtests):
    doctor, patient = await factory.doctor(), await factory.patient()
    booked = await factory.appointment(doctor, patient)
    strangers = {
        "another-patient": await factory.patient(),
        "another-doctor": await factory.doctor(),
        "an-admin": await factory.admin(),
    }
    missing = await client.get(f"{URL}/{uuid.uuid4()}", headers=patient.headers)
    assert_error(missing, 404, "appointment_not_found")
    for name, stranger in strangers.items():
        with subtests.test(name):
            response = await client.get(f"{URL}/{booked['id']}", headers=stranger.headers)
            error = assert_error(response, 404, "appointment_not_found")
            # Indistinguishable from an id that does not exist at all.
            assert response.json() == missing.json()
            assert booked["id"] not in response.text and str(doctor.id) not in response.text
            assert error["details"] is None
    with subtests.test("anonymous"):
        assert_error(await client.get(f"{URL}/{booked['id']}"), 401, "not_authenticated")
    with subtests.test("token-in-query-is-ignored"):
        response = await client.get(f"{URL}/{booked['id']}", params={"access_token": doctor.token})
        assert_error(response, 401)


async def test_bad_ids_are_4xx_never_500(client, factory, subtests):
    doctor = await factory.doctor()
    for bad in ("not-a-uuid", "123", "00000000-0000-0000-0000-00000000000g", "%00", "' OR 1=1 --",
                "a" * 300, "😀"):
        with subtests.test(bad[:20]):
            response = await client.get(f"{URL}/{bad}", headers=doctor.headers)
            assert_error(response, 422, "validation_error")
            response = await client.post(f"{URL}/{bad}/cancel", headers=doctor.headers)
            assert_error(response, 422, "validation_error")
    with subtests.test("random-uuid"):
        assert_error(await client.get(f"{URL}/{uuid.uuid4()}", headers=doctor.headers),
                     404, "appointment_not_found")
        assert_error(await client.post(f"{URL}/{uuid.uuid4()}/cancel", headers=doctor.headers),
                     404, "appointment_not_found")
