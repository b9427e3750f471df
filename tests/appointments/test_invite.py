"""A doctor books a visit for someone who has no account yet, by name and email: an invited
account is made, she comes in with her invitation's link, and may choose a password later from an
emailed link. An address that already has an account books that patient."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from televisit.appointments.models import Appointment
from televisit.audit.models import Action, AuditEvent
from televisit.runtime import runtime_of
from televisit.users.models import User
from tests.auth.helpers import bearer, login
from tests.fixtures.assertions import assert_error
from tests.mail.conftest import mail_settings, smtp  # noqa: F401 - the real SMTP server fixture
from tests.mail.helpers import (
    emailed_join_token,
    emailed_reset_token,
    messages_to,
    open_join_link,
    text_of,
)

URL = "/api/v1/appointments"
PASSWORD = "saffron-pebble-harbour-64"


@pytest.fixture
def settings_overrides(smtp):  # noqa: F811 - the fixture imported above
    return mail_settings(smtp.url)


def body(patient: dict[str, str], starts_in: timedelta, clock) -> dict[str, object]:
    return {"patient": patient, "starts_at": (clock.now() + starts_in).isoformat(), "duration_minutes": 30}


async def users_with(app, email: str) -> list[User]:
    async with runtime_of(app).sessionmaker() as session:
        return list((await session.scalars(select(User).where(User.email == email))).all())


async def test_booking_a_new_patient_by_email_invites_her(app, client, clock, factory, smtp):  # noqa: F811
    doctor = await factory.doctor(name="Dr. Omar Haddad")
    booked = await client.post(URL, headers=doctor.headers, json=body(
        {"full_name": "Lena Vogt", "email": "Lena.Vogt@Example.org"}, timedelta(hours=1), clock))
    assert booked.status_code == 201, booked.text
    visit = booked.json()
    assert visit["patient"]["full_name"] == "Lena Vogt"
    [lena] = await users_with(app, "lena.vogt@example.org")
    assert lena.role == "patient" and lena.invited and lena.password_hash is None and lena.is_active

    # Her invitation is how she comes in: no password exists, so none can be guessed.
    token = await emailed_join_token(app, smtp.inbox, "lena.vogt@example.org")
    joined = await open_join_link(client, token)
    assert joined.status_code == 200
    assert joined.json()["appointment_id"] == visit["id"] and joined.json()["password_set"] is False
    assert_error(await login(client, "lena.vogt@example.org", "anything-at-all-123"), 401,
                 "invalid_credentials")
    # The admin area shows the state.
    admin = await factory.admin()
    shown = await client.get(f"/api/v1/admin/users/{lena.id}", headers=admin.headers)
    assert shown.json()["invited"] is True
    async with runtime_of(app).sessionmaker() as session:
        [invite] = (await session.scalars(select(AuditEvent).where(
            AuditEvent.action == Action.account_invite))).all()
    assert (invite.actor_id, invite.object_id) == (doctor.id, lena.id)

    # Later, from the visit she opened with the link, she asks for a password and chooses one.
    setup = await client.post("/api/v1/auth/password-setup", headers=bearer(joined.json()["access_token"]))
    assert setup.status_code == 202
    reset_token = await emailed_reset_token(app, smtp.inbox, "lena.vogt@example.org")
    [choose] = [m for m in messages_to(smtp.inbox, "lena.vogt@example.org")
                if "Choose a password" in str(m["Subject"])]
    assert "see all your visits" in text_of(choose)
    chosen = await client.post("/api/v1/auth/password-reset/confirm",
                               json={"token": reset_token, "password": PASSWORD})
    assert chosen.status_code == 204
    assert (await login(client, "lena.vogt@example.org", PASSWORD)).status_code == 200
    [lena] = await users_with(app, "lena.vogt@example.org")
    assert not lena.invited


async def test_forgot_password_for_an_invited_patient_sends_choose_a_password(app, client, clock, factory,
                                                                              smtp):  # noqa: F811
    doctor = await factory.doctor()
    await client.post(URL, headers=doctor.headers, json=body(
        {"full_name": "Mo Sato", "email": "mo@example.org"}, timedelta(hours=1), clock))
    asked = await client.post("/api/v1/auth/password-reset", json={"email": "mo@example.org"})
    assert asked.status_code == 202
    await emailed_reset_token(app, smtp.inbox, "mo@example.org")
    subjects = [str(m["Subject"]).strip() for m in messages_to(smtp.inbox, "mo@example.org")]
    assert "Choose a password for Sunrise Clinic" in subjects


async def test_an_address_with_an_account_books_that_patient(app, client, clock, factory, smtp):  # noqa: F811
    doctor = await factory.doctor()
    patient = await factory.patient(name="Ana Ruiz")
    booked = await client.post(URL, headers=doctor.headers, json=body(
        {"full_name": "Someone Else", "email": patient.email.upper()}, timedelta(hours=1), clock))
    assert booked.status_code == 201, booked.text
    assert booked.json()["patient"] == {"id": str(patient.id), "full_name": "Ana Ruiz"}
    [account] = await users_with(app, patient.email)
    assert not account.invited  # her password still works
    assert (await login(client, patient.email, patient.password)).status_code == 200
    # An invited account booked again is the same account.
    for _ in range(2):
        again = await client.post(URL, headers=doctor.headers, json=body(
            {"full_name": "New Person", "email": "new@example.org"}, timedelta(hours=3 + _ * 2), clock))
        assert again.status_code == 201, again.text
    assert len(await users_with(app, "new@example.org")) == 1


async def test_staff_and_deactivated_addresses_cannot_be_booked(app, client, clock, factory, smtp):  # noqa: F811
    doctor = await factory.doctor()
    colleague = await factory.doctor()
    gone = await factory.patient()
    admin = await factory.admin()
    deactivated = await client.post(f"/api/v1/admin/users/{gone.id}/deactivate", headers=admin.headers)
    assert deactivated.status_code == 200
    for email in (colleague.email, admin.email, gone.email, doctor.email):
        response = await client.post(URL, headers=doctor.headers, json=body(
            {"full_name": "X Y", "email": email}, timedelta(hours=1), clock))
        assert_error(response, 404, "patient_not_found")
    async with runtime_of(app).sessionmaker() as session:
        assert (await session.scalar(select(func.count()).select_from(Appointment))) == 0


async def test_a_refused_booking_invites_nobody(app, client, clock, factory, smtp):  # noqa: F811
    doctor = await factory.doctor()
    other = await factory.patient()
    await factory.appointment(doctor, other, starts_in=timedelta(hours=1))
    clash = await client.post(URL, headers=doctor.headers, json=body(
        {"full_name": "Pia Lund", "email": "pia@example.org"}, timedelta(hours=1), clock))
    assert_error(clash, 409, "appointment_overlap")
    too_early = await client.post(URL, headers=doctor.headers, json=body(
        {"full_name": "Pia Lund", "email": "pia@example.org"}, -timedelta(hours=1), clock))
    assert_error(too_early, 422, "invalid_slot")
    assert await users_with(app, "pia@example.org") == []


async def test_the_patient_is_named_one_way_only(client, clock, factory, smtp):  # noqa: F811
    doctor = await factory.doctor()
    patient = await factory.patient()
    when = {"starts_at": (clock.now() + timedelta(hours=1)).isoformat(), "duration_minutes": 30}
    for bad in (
        {},
        {"patient_id": str(patient.id), "patient": {"full_name": "A B", "email": "a@example.org"}},
        {"patient": {"full_name": "A B", "email": "not-an-email"}},
        {"patient": {"full_name": "", "email": "a@example.org"}},
        {"patient": {"full_name": "A\nB", "email": "a@example.org"}},
        {"patient": {"email": "a@example.org"}},
        {"patient": {"full_name": "A B", "email": "a@example.org", "role": "admin"}},
    ):
        response = await client.post(URL, headers=doctor.headers, json={**bad, **when})
        error = assert_error(response, 422, "validation_error")
        assert error["details"], error
    # A patient cannot book anyone.
    assert_error(await client.post(URL, headers=patient.headers, json=body(
        {"full_name": "A B", "email": "a@example.org"}, timedelta(hours=1), clock)), 403)
