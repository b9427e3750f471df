"""POST /api/v1/appointments/{id}/cancel, and visits that pass unattended becoming `missed`."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from tests.appointments.helpers import URL, assert_appointment, assert_error, ids, list_all
from tests.fixtures.app import START


@pytest.fixture
async def visit(factory):
    doctor, patient = await factory.doctor(), await factory.patient()
    booked = await factory.appointment(doctor, patient, starts_in=timedelta(hours=2), reason="Check")
    return doctor, patient, booked


async def book_at(client, doctor, patient, *, hours: int) -> dict:
    """A further 15-minute visit of the same pair, `hours` after the start of the test."""
    body = {"patient_id": str(patient.id), "duration_minutes": 15,
            "starts_at": (START + timedelta(hours=hours)).isoformat()}
    response = await client.post(URL, json=body, headers=doctor.headers)
    assert response.status_code == 201, response.text
    return response.json()


async def test_either_side_cancels(client, clock, visit, subtests):
    doctor, patient, first = visit
    second = await book_at(client, doctor, patient, hours=5)
    clock.advance(minutes=10)
    for who, booked in ((doctor, first), (patient, second)):
        with subtests.test(who.role.value):
            await _cancel_and_check(client, who, booked, doctor=doctor, patient=patient)


async def _cancel_and_check(client, who, booked, *, doctor, patient) -> None:
    response = await client.post(f"{URL}/{booked['id']}/cancel", json={"reason": "  Feeling better "},
                                 headers=who.headers)
    assert response.status_code == 200, response.text
    data = response.json()
    assert_appointment(data, doctor=doctor, patient=patient)
    assert data["status"] == "cancelled"
    assert datetime.fromisoformat(data["cancelled_at"]) == START + timedelta(minutes=10)
    assert data["cancel_reason"] == "Feeling better"
    assert data["reason"] == booked["reason"]  # the booking reason is kept
    unchanged = {k: v for k, v in booked.items()
                 if k not in ("status", "cancelled_at", "cancel_reason", "messaging_until")}
    assert {k: v for k, v in data.items() if k in unchanged} == unchanged
    # Both sides now read and list it as cancelled.
    for person in (doctor, patient):
        assert (await client.get(f"{URL}/{booked['id']}", headers=person.headers)).json() == data
        assert data in await list_all(client, person, status="cancelled")


async def test_cancel_body_is_optional(client, visit, subtests):
    doctor, patient, _ = visit
    cases = {"no-body": {}, "empty-object": {"json": {}}, "null-reason": {"json": {"reason": None}}}
    for hours, (name, kwargs) in enumerate(cases.items(), start=24):
        with subtests.test(name):
            booked = await book_at(client, doctor, patient, hours=hours)
            response = await client.post(f"{URL}/{booked['id']}/cancel", headers=doctor.headers,
                                         **kwargs)
            assert response.status_code == 200, response.text
            assert response.json()["status"] == "cancelled"
            assert response.json()["cancel_reason"] is None


async def test_bad_cancel_body_is_422_and_changes_nothing(client, visit, subtests):
    doctor, patient, booked = visit
    cases = {"reason-501": {"reason": "x" * 501}, "reason-int": {"reason": 5},
             "unknown-field": {"reason": "ok", "status": "completed"},
             "reason-nul": {"reason": "a\x00"}, "array": [1]}
    for name, body in cases.items():
        with subtests.test(name):
            response = await client.post(f"{URL}/{booked['id']}/cancel", json=body,
                                         headers=patient.headers)
            assert_error(response, 422, "validation_error")
    with subtests.test("malformed-json"):
        response = await client.post(f"{URL}/{booked['id']}/cancel", content=b"{",
                                     headers={**patient.headers, "Content-Type": "application/json"})
        assert_error(response, 400)
    assert await list_all(client, doctor) == [booked]


async def test_cancel_twice_is_409(client, visit):
    doctor, patient, booked = visit
    first = await client.post(f"{URL}/{booked['id']}/cancel", json={"reason": "first"},
                              headers=doctor.headers)
    assert first.status_code == 200
    for person in (doctor, patient):
        again = await client.post(f"{URL}/{booked['id']}/cancel", json={"reason": "second"},
                                  headers=person.headers)
        assert_error(again, 409, "appointment_already_cancelled")
    # The first cancellation stands untouched.
    assert await list_all(client, patient) == [first.json()]


async def test_strangers_cannot_cancel(client, factory, visit, subtests):
    _, patient, booked = visit
    strangers = {"another-patient": await factory.patient(), "another-doctor": await factory.doctor(),
                 "an-admin": await factory.admin()}
    for name, stranger in strangers.items():
        with subtests.test(name):
            response = await client.post(f"{URL}/{booked['id']}/cancel", json={"reason": "mine now"},
                                         headers=stranger.headers)
            assert_error(response, 404, "appointment_not_found")
    with subtests.test("anonymous"):
        assert_error(await client.post(f"{URL}/{booked['id']}/cancel"), 401)
    after = await client.get(f"{URL}/{booked['id']}", headers=patient.headers)
    assert after.json() == booked
    assert after.json()["status"] == "scheduled"


async def test_started_but_not_over_can_still_be_cancelled(client, clock, visit):
    """Until it ends a scheduled visit is not missed; either side may still call it off."""
    doctor, _, booked = visit
    clock.advance(hours=2, minutes=10)  # ten minutes into the 30-minute slot
    read = await client.get(f"{URL}/{booked['id']}", headers=doctor.headers)
    assert read.json()["status"] == "scheduled"
    response = await client.post(f"{URL}/{booked['id']}/cancel", headers=doctor.headers)
    assert response.status_code == 200, response.text


class TestMissed:
    async def test_scheduled_visit_becomes_missed_once_over(self, client, clock, visit):
        doctor, patient, booked = visit  # 11:00-11:30
        clock.advance(hours=2, minutes=29, seconds=59)
        assert (await client.get(f"{URL}/{booked['id']}", headers=doctor.headers)).json()[
            "status"] == "scheduled"
        clock.advance(seconds=1)  # exactly at starts_at + duration
        read = await client.get(f"{URL}/{booked['id']}", headers=patient.headers)
        assert read.status_code == 200
        assert read.json()["status"] == "missed"
        assert read.json()["cancelled_at"] is None
        for person in (doctor, patient):
            assert [a["status"] for a in await list_all(client, person)] == ["missed"]
            assert ids(await list_all(client, person, status="missed")) == [booked["id"]]
            assert await list_all(client, person, status="scheduled") == []

    async def test_a_page_shows_it_missed_from_its_end_with_no_read_of_the_visit(self, client, clock, visit):
        """Reads do not store `missed` (a write or a chat, call or export of the visit does): what a
        page shows and what its filters find must agree with the visit's own read, to the second."""
        doctor, patient, booked = visit  # 11:00-11:30
        clock.advance(hours=2, minutes=29, seconds=59)
        for person in (doctor, patient):
            assert [a["status"] for a in await list_all(client, person)] == ["scheduled"]
            assert ids(await list_all(client, person, status="scheduled,in_progress")) == [booked["id"]]
            assert await list_all(client, person, status="missed") == []
        clock.advance(seconds=1)  # the end: missed, though nothing has read the visit since
        for person in (doctor, patient):
            [shown] = await list_all(client, person)
            assert (shown["status"], shown["doctor_busy"]) == ("missed", False)
            assert ids(await list_all(client, person, status="missed,cancelled")) == [booked["id"]]
            assert await list_all(client, person, status="scheduled") == []
            assert await list_all(client, person, status="scheduled,completed") == []
        read = await client.get(f"{URL}/{booked['id']}", headers=patient.headers)
        assert read.json() == {**shown, "unread_count": read.json()["unread_count"]}

    async def test_missed_filter_finds_it_and_cancelled_stay_cancelled(self, client, clock, visit):
        doctor, patient, booked = visit
        cancelled = await book_at(client, doctor, patient, hours=4)
        assert (await client.post(f"{URL}/{cancelled['id']}/cancel", headers=doctor.headers)
                ).status_code == 200
        clock.advance(hours=6)
        # No read in between: the filter itself sees the visit as missed.
        assert ids(await list_all(client, doctor, status="missed")) == [booked["id"]]
        assert ids(await list_all(client, patient, status="cancelled")) == [cancelled["id"]]
        read = await client.get(f"{URL}/{cancelled['id']}", headers=patient.headers)
        assert read.json()["status"] == "cancelled"

    async def test_missed_visit_cannot_be_cancelled(self, client, clock, visit):
        doctor, patient, booked = visit
        clock.advance(hours=3)
        for person in (doctor, patient):
            response = await client.post(f"{URL}/{booked['id']}/cancel", headers=person.headers)
            assert_error(response, 409, "appointment_not_cancellable")
        read = await client.get(f"{URL}/{booked['id']}", headers=doctor.headers)
        assert read.json()["status"] == "missed"
        assert read.json()["cancelled_at"] is None
