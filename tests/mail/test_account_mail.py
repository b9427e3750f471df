"""The messages about getting in, end to end over the real SMTP server: reminders carry the visit's
current join link, and someone registering with a taken address makes one email to its owner a day
(the API's answer says nothing)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from televisit.mail.models import MailKind
from tests.auth.helpers import REGISTER, STRONG_PASSWORD
from tests.fixtures.app import START
from tests.mail.conftest import PUBLIC_URL, mail_settings
from tests.mail.helpers import (
    drain,
    html_of,
    join_link,
    messages_to,
    open_join_link,
    outbox,
    text_of,
)

URL = "/api/v1/appointments"
VISIT_AT = START + timedelta(days=3)


@pytest.fixture
def settings_overrides(smtp):
    return mail_settings(smtp.url, reminder_offsets=[1440])


def subjects(messages) -> list[str]:
    return [str(m["Subject"]).strip() for m in messages]


async def test_reminders_carry_the_link_of_the_visit_as_it_is_then(app, client, clock, factory, smtp):
    doctor, patient = await factory.doctor(name="Dr. Ada Lovelace"), await factory.patient()
    visit = await factory.appointment(doctor, patient, starts_at=VISIT_AT)
    await drain(app)
    [invitation] = messages_to(smtp.inbox, patient.email)
    _, first = join_link(text_of(invitation))
    moved = await client.patch(f"{URL}/{visit['id']}", headers=doctor.headers,
                               json={"starts_at": (VISIT_AT + timedelta(hours=2)).isoformat()})
    assert moved.status_code == 200
    clock.advance(days=2, hours=2)  # the day-ahead reminder of the new time
    await drain(app)
    change, reminder = messages_to(smtp.inbox, patient.email)[1:]
    assert subjects([reminder]) == ["Reminder: video visit with Dr. Ada Lovelace tomorrow"]
    link, token = join_link(text_of(reminder))
    assert link in html_of(reminder) and token == join_link(text_of(change))[1] != first
    opened = await open_join_link(client, token)
    assert opened.status_code == 200 and opened.json()["appointment_id"] == visit["id"]


async def test_registering_with_a_taken_address_tells_its_owner_once_a_day(app, client, clock, factory, smtp):
    owner = await factory.patient(name="Rui Costa")
    attempt = {"email": owner.email.upper(), "password": STRONG_PASSWORD, "full_name": "Mallory"}
    new = {"email": "brand-new@example.org", "password": STRONG_PASSWORD, "full_name": "Nina New"}
    taken_answer = await client.post(REGISTER, json=attempt)
    new_answer = await client.post(REGISTER, json=new)
    # The API's answer is the same: nothing tells the caller the address had an account.
    assert (taken_answer.status_code, taken_answer.json()) == (new_answer.status_code, new_answer.json())
    await client.post(REGISTER, json=attempt)  # again the same day: no second email
    await drain(app)

    [notice] = messages_to(smtp.inbox, owner.email)
    assert subjects([notice]) == ["Someone tried to create a Sunrise Clinic account with your address"]
    text = text_of(notice)
    assert "Hello Rui Costa" in text and "Mallory" not in text + html_of(notice)
    assert f"Sign in: {PUBLIC_URL}/sign-in" in text and "Forgot your" in text
    assert messages_to(smtp.inbox, "brand-new@example.org") == []  # a new account gets nothing
    assert [r.kind for r in await outbox(app)].count(MailKind.registration_attempt) == 1

    clock.advance(days=1, seconds=1)
    await client.post(REGISTER, json=attempt)
    await drain(app)
    assert len(messages_to(smtp.inbox, owner.email)) == 2
