"""POST /api/v1/appointments: who may book, which slots are valid, and that refusals change nothing."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest
from sqlalchemy import update

from televisit.core.db import session_scope
from televisit.runtime import runtime_of
from televisit.users.models import User
from tests.appointments.helpers import URL, assert_appointment, assert_error, ids, list_all
from tests.fixtures.app import START

SOON = START + timedelta(hours=1)


def body_for(patient, starts_at: datetime | str = SOON, duration: int = 30, **extra) -> dict:
    starts = starts_at if isinstance(starts_at, str) else starts_at.isoformat()
    return {"patient_id": str(patient.id), "starts_at": starts, "duration_minutes": duration, **extra}


@pytest.fixture
async def pair(factory):
    return await factory.doctor(), await factory.patient()


async def test_doctor_books_a_visit(client, pair):
    doctor, patient = pair
    response = await client.post(
        URL,
        json={"patient_id": str(patient.id), "starts_at": "2030-03-04T11:00:00+01:00",
              "duration_minutes": 45, "reason": "  Follow-up on blood pressure  "},
        headers=doctor.headers,
    )
    assert response.status_code == 201, response.text
    data = response.json()
    assert_appointment(data, doctor=doctor, patient=patient)
    uuid.UUID(data["id"])
    # Stored and returned in UTC: 11:00 at +01:00 is 10:00Z.
    assert data["starts_at"] in ("2030-03-04T10:00:00Z", "2030-03-04T10:00:00+00:00")
    assert datetime.fromisoformat(data["created_at"]) == START
    assert data["duration_minutes"] == 45
    assert data["reason"] == "Follow-up on blood pressure"
    assert data["status"] == "scheduled"
    assert data["cancelled_at"] is None
    assert data["room_id"] is None
    # Both sides see it, identically.
    assert ids(await list_all(client, doctor)) == [data["id"]]
    assert await list_all(client, patient) == [data]
    read = await client.get(f"{URL}/{data['id']}", headers=patient.headers)
    assert read.json() == data


async def test_edge_inputs_that_are_accepted(client, factory, subtests):
    """Reason is optional (blank means none) up to 500 chars; slot bounds are inclusive."""
    doctor = await factory.doctor()
    text = "Line one\n\tLine two ✓ — Ünïcode"
    reasons = {"absent": ({}, None), "null": ({"reason": None}, None),
               "blank": ({"reason": "   "}, None), "500-chars": ({"reason": "r" * 500}, "r" * 500),
               "multiline-unicode": ({"reason": text}, text)}
    for i, (name, (extra, expected)) in enumerate(reasons.items()):
        with subtests.test(f"reason-{name}"):
            patient = await factory.patient(login=False)
            response = await client.post(
                URL, json=body_for(patient, SOON + timedelta(hours=i), **extra), headers=doctor.headers
            )
            assert response.status_code == 201, response.text
            assert response.json()["reason"] == expected
    bounds = {"a-second-ahead-5-min": (START + timedelta(seconds=1), 5),
              "240-min": (START + timedelta(days=1), 240),
              "366-days-ahead": (START + timedelta(days=366), 30)}
    for name, (starts_at, duration) in bounds.items():
        with subtests.test(name):
            patient = await factory.patient(login=False)
            response = await client.post(URL, json=body_for(patient, starts_at, duration),
                                         headers=doctor.headers)
            assert response.status_code == 201, response.text
            assert response.json()["duration_minutes"] == duration


BAD_SLOTS = {
    # name: (starts_at, duration, error code or None for plain validation, field)
    "now": (START, 30, "invalid_slot", "starts_at"),
    "a-minute-ago": (START - timedelta(minutes=1), 30, "invalid_slot", "starts_at"),
    "past-with-offset": ("2030-03-04T09:30:00+01:00", 30, "invalid_slot", "starts_at"),
    "too-far-ahead": (START + timedelta(days=400), 30, "invalid_slot", "starts_at"),
    "year-9999": ("9999-12-31T23:59:59-23:59", 30, None, "starts_at"),  # no UTC equivalent
    "year-1": ("0001-01-01T00:00:00+01:00", 30, None, "starts_at"),
    "unix-seconds-text": ("1900000000", 30, None, "starts_at"),
    "duration-4": (SOON, 4, "invalid_slot", "duration_minutes"),
    "duration-241": (SOON, 241, "invalid_slot", "duration_minutes"),
    "duration-0": (SOON, 0, None, "duration_minutes"),
    "duration-negative": (SOON, -30, None, "duration_minutes"),
    "duration-huge": (SOON, 10**12, None, "duration_minutes"),
    "naive": ("2030-03-04T10:00:00", 30, None, "starts_at"),
    "date-only": ("2030-03-04", 30, None, "starts_at"),
    "garbage": ("tomorrow at ten", 30, None, "starts_at"),
    "empty": ("", 30, None, "starts_at"),
}


async def test_bad_slot_is_422_and_books_nothing(client, pair, subtests):
    doctor, patient = pair
    for name, (starts_at, duration, code, field) in BAD_SLOTS.items():
        with subtests.test(name):
            response = await client.post(URL, json=body_for(patient, starts_at, duration),
                                         headers=doctor.headers)
            error = assert_error(response, 422, code or "validation_error")
            assert any(field in d["loc"] for d in error["details"]), error
    with subtests.test("both-problems-at-once"):
        response = await client.post(URL, json=body_for(patient, START - timedelta(hours=1), 500),
                                     headers=doctor.headers)
        error = assert_error(response, 422, "invalid_slot")
        assert {d["loc"][-1] for d in error["details"]} == {"starts_at", "duration_minutes"}
    assert await list_all(client, doctor) == []
    assert await list_all(client, patient) == []


BAD_BODIES = {
    "reason-501": {"reason": "r" * 501},
    "reason-int": {"reason": 42},
    "reason-list": {"reason": ["a"]},
    "duration-str": {"duration_minutes": "thirty"},
    "duration-float": {"duration_minutes": 30.5},
    "duration-null": {"duration_minutes": None},
    "patient-bad-uuid": {"patient_id": "not-a-uuid"},
    "patient-int": {"patient_id": 7},
    "patient-null": {"patient_id": None},
    "starts-null": {"starts_at": None},
    "starts-unix-ms": {"starts_at": 1900000000000},  # not read as a Unix timestamp
    "starts-unix-s": {"starts_at": 1900000000},
    "reason-nul": {"reason": "chest\x00pain"},  # PostgreSQL cannot store NUL
    "reason-control": {"reason": "bell\x07"},
    "unknown-status": {"status": "completed"},
    "unknown-doctor_id": {"doctor_id": str(uuid.uuid4())},
    "unknown-id": {"id": str(uuid.uuid4())},
}


async def test_bad_body_is_422_and_books_nothing(client, pair, subtests):
    doctor, patient = pair
    for name, patch in BAD_BODIES.items():
        with subtests.test(name):
            response = await client.post(URL, json={**body_for(patient), **patch},
                                         headers=doctor.headers)
            error = assert_error(response, 422, "validation_error")
            assert error["details"], error
    for missing in ("patient_id", "starts_at", "duration_minutes"):
        with subtests.test(f"missing-{missing}"):
            body = body_for(patient)
            del body[missing]
            response = await client.post(URL, json=body, headers=doctor.headers)
            error = assert_error(response, 422, "validation_error")
            assert any(missing in d["loc"] for d in error["details"]), error
    raw = {"malformed": (b"{not json", 400), "array": (b"[]", 422), "null": (b"null", 422),
           "empty": (b"", 422), "string": (b'"hi"', 422)}
    for name, (content, status) in raw.items():
        with subtests.test(f"raw-{name}"):
            response = await client.post(
                URL, content=content, headers={**doctor.headers, "Content-Type": "application/json"}
            )
            assert_error(response, status)
    assert await list_all(client, doctor) == []
    assert await list_all(client, patient) == []


async def test_patient_must_be_an_active_patient(client, app, factory, pair, subtests):
    doctor, patient = pair
    others = {
        "deactivated-patient": await _deactivated_patient(app, factory),
        "unknown": uuid.uuid4(),
        "nil-uuid": uuid.UUID(int=0),
        "another-doctor": (await factory.doctor(login=False)).id,
        "the-doctor-self": doctor.id,
        "an-admin": (await factory.admin(login=False)).id,
    }
    for name, patient_id in others.items():
        with subtests.test(name):
            body = {**body_for(patient), "patient_id": str(patient_id)}
            response = await client.post(URL, json=body, headers=doctor.headers)
            assert_error(response, 404, "patient_not_found")
    assert await list_all(client, doctor) == []


async def _deactivated_patient(app, factory) -> uuid.UUID:
    person = await factory.patient(login=False)
    async with session_scope(runtime_of(app).sessionmaker) as session:
        await session.execute(update(User).where(User.id == person.id).values(is_active=False))
    return person.id


async def test_only_doctors_book(client, factory, pair, subtests):
    doctor, patient = pair
    for name, caller in {"patient": patient, "admin": await factory.admin()}.items():
        with subtests.test(name):
            response = await client.post(URL, json=body_for(patient), headers=caller.headers)
            assert_error(response, 403, "forbidden_role")
    assert await list_all(client, patient) == []
    assert await list_all(client, doctor) == []


async def test_unauthenticated_is_401(client, pair, subtests):
    doctor, patient = pair
    variants = {
        "no-header": {},
        "unknown-token": {"Authorization": "Bearer nope"},
        "empty-bearer": {"Authorization": "Bearer "},
        "basic-auth": {"Authorization": "Basic dXNlcjpwYXNz"},
        "huge-token": {"Authorization": "Bearer " + "x" * 5000},
    }
    for name, headers in variants.items():
        with subtests.test(name):
            response = await client.post(URL, json=body_for(patient), headers=headers)
            assert_error(response, 401)
            assert response.headers.get("www-authenticate", "").lower().startswith("bearer")
    with subtests.test("logged-out"):
        assert (await client.post("/api/v1/auth/logout", headers=doctor.headers)).status_code == 204
        assert_error(await client.post(URL, json=body_for(patient), headers=doctor.headers), 401)
    await factory_login(client, doctor)
    assert await list_all(client, doctor) == []


async def factory_login(client, person) -> None:
    response = await client.post("/api/v1/auth/login",
                                 json={"email": person.email, "password": person.password})
    assert response.status_code == 200, response.text
    person.headers = {"Authorization": f"Bearer {response.json()['access_token']}"}


class TestOverlap:
    """A doctor and a patient are each in one visit at a time; cancelled visits free the slot."""

    async def test_same_doctor_overlap_is_409(self, client, factory, subtests):
        doctor = await factory.doctor()
        first, second = await factory.patient(), await factory.patient()
        booked = await factory.appointment(doctor, first, starts_in=timedelta(hours=2))  # 11:00-11:30
        cases = {"same": (0, 30), "starts-inside": (15, 30), "ends-inside": (-15, 30),
                 "encloses": (-60, 240), "inside": (10, 5), "one-minute-overlap": (29, 30),
                 "other-offset": ("2030-03-04T06:20:00-04:40", 30)}
        for name, (offset, duration) in cases.items():
            with subtests.test(name):
                starts = offset if isinstance(offset, str) else (
                    START + timedelta(hours=2, minutes=offset))
                response = await client.post(URL, json=body_for(second, starts, duration),
                                             headers=doctor.headers)
                assert_error(response, 409, "appointment_overlap")
        assert ids(await list_all(client, doctor)) == [booked["id"]]
        assert await list_all(client, second) == []

    async def test_same_patient_with_another_doctor_is_409(self, client, factory):
        first_doctor, second_doctor = await factory.doctor(), await factory.doctor()
        patient = await factory.patient()
        booked = await factory.appointment(first_doctor, patient, starts_in=timedelta(hours=2))
        response = await client.post(
            URL, json=body_for(patient, START + timedelta(hours=2, minutes=10)),
            headers=second_doctor.headers,
        )
        assert_error(response, 409, "appointment_overlap")
        assert ids(await list_all(client, patient)) == [booked["id"]]
        assert await list_all(client, second_doctor) == []

    async def test_back_to_back_visits_are_allowed(self, client, factory):
        doctor = await factory.doctor()
        first, second = await factory.patient(), await factory.patient()
        booked = await factory.appointment(doctor, first, starts_in=timedelta(hours=2))
        after = await client.post(URL, json=body_for(second, START + timedelta(hours=2, minutes=30)),
                                  headers=doctor.headers)
        assert after.status_code == 201, after.text
        before = await client.post(URL, json=body_for(second, START + timedelta(hours=1, minutes=30)),
                                   headers=doctor.headers)
        assert before.status_code == 201, before.text
        assert ids(await list_all(client, doctor)) == [
            before.json()["id"], booked["id"], after.json()["id"]
        ]

        # Other doctors with other patients are not affected.
        other_doctor, other_patient = await factory.doctor(), await factory.patient(login=False)
        response = await client.post(URL, json=body_for(other_patient, START + timedelta(hours=2)),
                                     headers=other_doctor.headers)
        assert response.status_code == 201, response.text

    async def test_cancelled_and_missed_visits_free_their_slot(self, client, factory, clock):
        doctor = await factory.doctor()
        first, second = await factory.patient(), await factory.patient(login=False)
        booked = await factory.appointment(doctor, first, starts_in=timedelta(hours=2))
        cancel = await client.post(f"{URL}/{booked['id']}/cancel", headers=first.headers)
        assert cancel.status_code == 200, cancel.text
        response = await client.post(URL, json=body_for(second, START + timedelta(hours=2)),
                                     headers=doctor.headers)
        assert response.status_code == 201, response.text
        statuses = sorted(a["status"] for a in await list_all(client, doctor))
        assert statuses == ["cancelled", "scheduled"]
        # A visit that ran over unattended (missed) does not block the next one either.
        clock.advance(hours=2, minutes=31)
        response = await client.post(URL, json=body_for(second, clock.now() + timedelta(minutes=5)),
                                     headers=doctor.headers)
        assert response.status_code == 201, response.text
        statuses = sorted(a["status"] for a in await list_all(client, doctor))
        assert statuses == ["cancelled", "missed", "scheduled"]
