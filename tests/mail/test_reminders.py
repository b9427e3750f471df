"""Reminders at the configured offsets: once each, across restarts, never for a cancelled visit,
and for a moved visit at its new time only."""

from __future__ import annotations

from datetime import timedelta

import pytest

from televisit.app import create_app
from televisit.mail.models import MailKind, MailStatus
from tests.fixtures.app import START
from tests.mail.conftest import mail_settings
from tests.mail.helpers import drain, outbox, text_of
from tests.mail.smtp import wait_for_mail

URL = "/api/v1/appointments"
VISIT_AT = START + timedelta(days=3)


@pytest.fixture
def settings_overrides(smtp):
    return mail_settings(smtp.url, reminder_offsets=[1440, 15])


def reminders(inbox) -> list:
    return [m for m in inbox.messages() if str(m["Subject"]).strip().startswith("Reminder")]


async def _book(factory, **kwargs):
    doctor, patient = await factory.doctor(name="Dr. Ada Lovelace"), await factory.patient()
    visit = await factory.appointment(doctor, patient, starts_at=VISIT_AT, **kwargs)
    return doctor, patient, visit


async def test_each_reminder_goes_once_at_its_time(app, client, clock, factory, smtp):
    _doctor, patient, _visit = await _book(factory)
    await drain(app)
    await wait_for_mail(smtp.inbox, 1)  # the invitation

    clock.advance(days=1, hours=23, minutes=59)  # a minute before the day-ahead reminder
    await drain(app)
    assert reminders(smtp.inbox) == []
    clock.advance(minutes=1)
    await drain(app)
    await drain(app)
    [day_ahead] = reminders(smtp.inbox)
    assert str(day_ahead["Subject"]).strip() == "Reminder: video visit with Dr. Ada Lovelace tomorrow"
    assert smtp.inbox.received[-1].rcpt_tos == [patient.email]
    assert "Sunrise Clinic" in text_of(day_ahead)

    clock.advance(hours=23, minutes=45)
    await drain(app)
    _day, soon = reminders(smtp.inbox)
    assert "in 15 minutes" in str(soon["Subject"])
    assert len(smtp.inbox.received) == 3


async def test_a_restarted_instance_does_not_send_a_reminder_again(app, client, clock, factory, smtp,
                                                                   settings):
    await _book(factory)
    clock.advance(days=2)
    await drain(app)
    await wait_for_mail(smtp.inbox, 2)  # invitation, day-ahead reminder
    restarted = create_app(settings, clock=clock, configure_logs=False)
    async with restarted.router.lifespan_context(restarted):
        assert await drain(restarted) == 0
        clock.advance(hours=23, minutes=50)
        await drain(restarted)
    await wait_for_mail(smtp.inbox, 3)
    assert len(reminders(smtp.inbox)) == 2


async def test_a_cancelled_visit_gets_no_reminders(app, client, clock, factory, smtp):
    doctor, _patient, visit = await _book(factory)
    await client.post(f"{URL}/{visit['id']}/cancel", headers=doctor.headers)
    clock.advance(days=3)
    await drain(app)
    await wait_for_mail(smtp.inbox, 2)  # invitation and cancellation
    assert reminders(smtp.inbox) == []
    assert {r.status for r in await outbox(app) if r.kind == MailKind.reminder} == {MailStatus.cancelled}


async def test_a_moved_visit_is_reminded_at_its_new_time_only(app, client, clock, factory, smtp):
    doctor, _patient, visit = await _book(factory)
    later = VISIT_AT + timedelta(days=2)
    response = await client.patch(f"{URL}/{visit['id']}", headers=doctor.headers,
                                  json={"starts_at": later.isoformat()})
    assert response.status_code == 200, response.text
    clock.advance(days=3)  # past the old visit: its reminders never go
    await drain(app)
    assert reminders(smtp.inbox) == []
    clock.advance(days=1)  # a day before the new time
    await drain(app)
    [reminder] = reminders(smtp.inbox)
    assert "Saturday 9 March 2030, 09:00 (UTC)" in text_of(reminder)


async def test_a_reminder_claimed_as_its_visit_is_cancelled_is_not_sent(app, client, clock, factory, smtp):
    """The cancel withdraws pending reminders; one already claimed is checked again when composed."""
    from televisit.mail import service
    from televisit.runtime import runtime_of

    doctor, _patient, visit = await _book(factory)
    await drain(app)
    clock.advance(days=2)
    runtime = runtime_of(app)
    async with runtime.session() as session:  # another instance claims the day-ahead reminder...
        [claimed] = await service.claim(session, token="t" * 32, settings=runtime.settings, now=clock.now())
    assert claimed.kind == MailKind.reminder
    await client.post(f"{URL}/{visit['id']}/cancel", headers=doctor.headers)  # ...and then this
    clock.advance(minutes=2)  # its lease runs out
    await drain(app)
    assert reminders(smtp.inbox) == []
    row = next(r for r in await outbox(app) if r.id == claimed.id)
    assert row.status == MailStatus.skipped and row.last_error == "visit cancelled"


async def test_offsets_already_past_at_booking_are_skipped(app, client, clock, factory, smtp):
    doctor, patient = await factory.doctor(), await factory.patient()
    await factory.appointment(doctor, patient, starts_in=timedelta(hours=2))
    kinds = sorted(r.kind for r in await outbox(app))
    assert kinds == [MailKind.invitation, MailKind.reminder]  # the 15-minute one only
