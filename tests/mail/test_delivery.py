"""Delivery against a real SMTP server: retries with backoff while it refuses or is down, giving
up after the limits, claims that expire when an instance dies, and each message received once
when two instances send from one database."""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from televisit.app import create_app
from televisit.core.clock import FakeClock
from televisit.mail import service
from televisit.mail.models import MailKind, MailStatus, OutboxMessage
from televisit.mail.schemas import InvitationMail
from televisit.runtime import runtime_of
from tests.fixtures.app import client_for, make_settings
from tests.fixtures.factories import Factory
from tests.fixtures.logs import captured_logs
from tests.fixtures.nginx import free_port
from tests.mail.conftest import mail_settings
from tests.mail.helpers import drain, outbox
from tests.mail.smtp import smtp_server, wait_for_mail


def invitation(rows: list[OutboxMessage]) -> OutboxMessage:
    return next(r for r in rows if r.kind == MailKind.invitation)


def metric(app, name: str, **labels: str) -> float:
    value = runtime_of(app).metrics.registry.get_sample_value(name, labels)
    return value or 0.0


async def test_retries_with_backoff_while_the_server_answers_451(app, clock, factory, smtp):
    smtp.inbox.refuse_next = 2
    doctor, patient = await factory.doctor(), await factory.patient()
    await factory.appointment(doctor, patient, starts_in=timedelta(hours=1))

    await drain(app)
    row = invitation(await outbox(app))
    assert (row.status, row.attempts, row.last_error) == (MailStatus.pending, 1, "SMTPDataError 451")
    assert row.not_before == clock.now() + timedelta(seconds=30)
    await drain(app)  # not due again yet
    assert smtp.inbox.refused == 1
    clock.advance(seconds=30)
    await drain(app)
    row = invitation(await outbox(app))
    assert (row.attempts, row.not_before) == (2, clock.now() + timedelta(seconds=60))  # doubled
    clock.advance(seconds=60)
    await drain(app)

    [message] = await wait_for_mail(smtp.inbox, 1)
    assert message["To"].addresses[0].addr_spec == patient.email
    assert invitation(await outbox(app)).status == MailStatus.sent
    assert metric(app, "televisit_mail_failures_total", outcome="retry") == 2
    assert metric(app, "televisit_mail_sent_total", kind="invitation") == 1
    assert metric(app, "televisit_mail_send_duration_seconds_count") == 1


@pytest.fixture
def dead_port() -> int:
    return free_port()


@pytest.fixture
def settings_overrides(request, smtp):
    if "dead_port" in request.fixturenames:
        return mail_settings(f"smtp://127.0.0.1:{request.getfixturevalue('dead_port')}")
    return mail_settings(smtp.url, mail_max_attempts=3)


async def test_nothing_is_lost_while_the_server_is_down(app, clock, factory, dead_port):
    doctor, patient = await factory.doctor(), await factory.patient()
    await factory.appointment(doctor, patient, starts_in=timedelta(hours=5))
    await drain(app)
    clock.advance(seconds=30)
    await drain(app)
    row = invitation(await outbox(app))
    assert (row.status, row.attempts) == (MailStatus.pending, 2)
    assert row.last_error in {"SMTPConnectError", "ConnectionRefusedError"}

    with smtp_server(port=dead_port) as server:  # the relay comes back
        clock.advance(seconds=60)
        await drain(app)
        [message] = await wait_for_mail(server.inbox, 1)
    assert message["To"].addresses[0].addr_spec == patient.email
    assert invitation(await outbox(app)).status == MailStatus.sent


async def test_gives_up_after_the_attempt_limit_and_logs_no_address(app, clock, factory, smtp, settings):
    smtp.inbox.refuse_next = 100
    doctor, patient = await factory.doctor(), await factory.patient(name="Private Person")
    await factory.appointment(doctor, patient, starts_in=timedelta(hours=5), reason="Confidential")
    with captured_logs(settings.model_copy(update={"log_level": "INFO", "log_sql": False})) as logs:
        for _ in range(3):
            await drain(app)
            clock.advance(hours=1)
    row = invitation(await outbox(app))
    assert (row.status, row.attempts) == (MailStatus.failed, 3)
    assert smtp.inbox.refused == 3
    # Ours only: the test's SMTP server (aiosmtpd, logger `mail.log`) logs what it receives.
    text = "\n".join(line for line in logs.getvalue().splitlines() if "[mail.log]" not in line)
    assert "mail_failed" in text and str(row.id) in text
    for secret in (patient.email, "Private Person", "Confidential", doctor.email):
        assert secret not in text
    assert metric(app, "televisit_mail_failures_total", outcome="failed") == 1


async def test_a_permanent_refusal_fails_at_once(app, clock, factory, smtp):
    smtp.inbox.refuse_next, smtp.inbox.refuse_with = 1, "554 5.7.1 Message rejected"
    doctor, patient = await factory.doctor(), await factory.patient()
    await factory.appointment(doctor, patient, starts_in=timedelta(hours=5))
    await drain(app)
    row = invitation(await outbox(app))
    assert (row.status, row.attempts, row.last_error) == (MailStatus.failed, 1, "SMTPDataError 554")


async def test_a_message_past_its_age_limit_is_given_up(app, clock, factory, dead_port):
    doctor, patient = await factory.doctor(), await factory.patient()
    await factory.appointment(doctor, patient, starts_in=timedelta(days=5))
    for _ in range(8):  # the relay stays down for two days: tries every six hours
        await drain(app)
        clock.advance(hours=6)
    assert invitation(await outbox(app)).status == MailStatus.pending
    await drain(app)  # 48 hours after it was due
    row = invitation(await outbox(app))
    assert (row.status, row.attempts) == (MailStatus.failed, 9)


async def test_a_claim_that_dies_with_its_instance_is_taken_over_after_the_lease(app, clock, factory, smtp):
    doctor, patient = await factory.doctor(), await factory.patient()
    await factory.appointment(doctor, patient, starts_in=timedelta(hours=5))
    runtime = runtime_of(app)
    async with runtime.session() as session:  # an instance claims it, then dies mid-send
        [claimed] = await service.claim(session, token="d" * 32, settings=runtime.settings, now=clock.now())
    await drain(app)
    assert smtp.inbox.received == []  # leased to the dead instance
    clock.advance(seconds=60)  # mail_lease
    await drain(app)
    await wait_for_mail(smtp.inbox, 1)
    async with runtime.session() as session:  # the dead instance's late word changes nothing
        assert not await service.mark_sent(session, message=claimed, token="d" * 32, now=clock.now())
    row = invitation(await outbox(app))
    assert row.status == MailStatus.sent and row.attempts == 2
    await drain(app)
    assert len(smtp.inbox.received) == 1


@contextlib.asynccontextmanager
async def running(settings, clock):
    application = create_app(settings, clock=clock, configure_logs=False)
    async with application.router.lifespan_context(application):
        yield application


async def test_two_instances_send_each_message_exactly_once(database_url, clock, smtp, backend):
    """N messages, two instances with their senders running on one database: each arrives once."""
    settings = make_settings(database_url, **mail_settings(
        smtp.url, mail_sender_enabled=True, mail_poll_interval=0.02, mail_batch_size=3))
    quiet = settings.model_copy(update={"mail_sender_enabled": False})
    count = 40
    smtp.inbox.delay = 0.005  # a server that takes its time, so the two senders overlap
    async with running(quiet, FakeClock(clock.now())) as setup:
        async with client_for(setup) as http:
            factory = Factory(setup, http, clock)
            doctor, patient = await factory.doctor(), await factory.patient()
            visit = await factory.appointment(doctor, patient, starts_in=timedelta(hours=3))
        async with runtime_of(setup).session() as session:
            for row in await session.scalars(select(OutboxMessage)):
                await session.delete(row)
            for _ in range(count):
                await service.enqueue(
                    session, kind=MailKind.invitation, recipient_id=patient.id, now=clock.now(),
                    appointment_id=uuid.UUID(visit["id"]),
                    payload=InvitationMail(sequence=0, starts_at=clock.now() + timedelta(hours=3),
                                           duration_minutes=30))
    async with running(settings, clock) as a, running(settings, clock) as b:
        messages = await wait_for_mail(smtp.inbox, count, timeout=60)
        await asyncio.sleep(0.5)  # anything sent twice would arrive by now
        sent_a = metric(a, "televisit_mail_sent_total", kind="invitation")
        sent_b = metric(b, "televisit_mail_sent_total", kind="invitation")
    assert len(smtp.inbox.received) == count
    ids = [m["Message-ID"] for m in messages]
    assert len(set(ids)) == count
    async with running(quiet, clock) as after:
        rows = await outbox(after)
    assert {f"<{r.id}@clinic.example>" for r in rows} == set(ids)
    assert {r.status for r in rows} == {MailStatus.sent}
    assert sent_a + sent_b == count
    assert sent_a > 0 and sent_b > 0  # both really sent, side by side


async def test_queue_depth_is_a_metric_read_at_scrape_time(app, client, clock, factory, smtp):
    doctor, patient = await factory.doctor(), await factory.patient()
    await factory.appointment(doctor, patient, starts_in=timedelta(days=3))
    text = (await client.get("/metrics")).text
    assert re.search(r'^televisit_mail_queue\{state="due"\} 1\.0$', text, re.M)
    assert re.search(r'^televisit_mail_queue\{state="scheduled"\} 2\.0$', text, re.M)  # reminders
    await drain(app)
    text = (await client.get("/metrics")).text
    assert re.search(r'^televisit_mail_queue\{state="due"\} 0\.0$', text, re.M)
    assert re.search(r'^televisit_mail_sent_total\{kind="invitation"\} 1\.0$', text, re.M)
