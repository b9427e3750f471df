""""You have a new message": one email per burst, only to someone who was not connected to see it,
without the message's text; presence is known across instances (Redis)."""

from __future__ import annotations

import itertools
from datetime import timedelta

import httpx

from televisit.mail.models import MailKind, MailStatus
from televisit.runtime import runtime_of
from tests.fixtures.cluster import start_cluster
from tests.fixtures.databases import truncate_all
from tests.fixtures.factories import Factory
from tests.fixtures.live import WSClient
from tests.mail.conftest import PUBLIC_URL, mail_settings
from tests.mail.helpers import drain, html_of, outbox, text_of

_ids = itertools.count(1)


async def say(client, person, visit_id: str, body: str) -> None:
    response = await client.post(f"/api/v1/appointments/{visit_id}/messages", headers=person.headers,
                                 json={"client_msg_id": f"m{next(_ids)}", "body": body})
    assert response.status_code == 201, response.text


def notices(inbox) -> list:
    return [m for m in inbox.messages() if "new message" in str(m["Subject"])]


async def _visit(factory):
    doctor = await factory.doctor(name="Dr. Ada Lovelace")
    patient = await factory.patient(name="Bob Patient")
    visit = await factory.appointment(doctor, patient, starts_in=timedelta(days=1))
    return doctor, patient, visit


async def test_a_burst_makes_one_email_without_the_text(app, client, clock, factory, smtp):
    doctor, patient, visit = await _visit(factory)
    await say(client, doctor, visit["id"], "Please bring your blood pressure readings")
    clock.advance(minutes=2)
    await say(client, doctor, visit["id"], "And the list of your medicines")
    await drain(app)
    assert notices(smtp.inbox) == []  # still inside the five minutes
    clock.advance(minutes=3)
    await drain(app)
    clock.advance(hours=1)
    await drain(app)

    [notice] = notices(smtp.inbox)
    assert str(notice["Subject"]).strip() == "You have a new message from Dr. Ada Lovelace"
    assert notice["To"].addresses[0].addr_spec == patient.email
    text, html = text_of(notice), html_of(notice)
    for body in (text, html):
        assert "blood pressure" not in body and "medicines" not in body
        # The patient's notice opens the conversation with the visit's join link (no password).
        assert f"{PUBLIC_URL}/join#" in body and "/visits/" not in body
        assert "Sunrise Clinic" in body
    assert [r.kind for r in await outbox(app)].count(MailKind.message_notice) == 1


async def test_a_new_burst_after_the_email_makes_another(app, client, clock, factory, smtp):
    doctor, patient, visit = await _visit(factory)
    await say(client, patient, visit["id"], "Is tomorrow still fine?")
    clock.advance(minutes=5)
    await drain(app)
    await say(client, patient, visit["id"], "Hello?")
    clock.advance(minutes=5)
    await drain(app)
    sent = notices(smtp.inbox)
    assert len(sent) == 2
    assert {m["To"].addresses[0].addr_spec for m in sent} == {doctor.email}
    assert str(sent[0]["Subject"]).strip() == "You have a new message from Bob Patient"
    # The doctor signs in as always: the visit's page, never the patient's join link.
    assert f"{PUBLIC_URL}/visits/{visit['id']}" in text_of(sent[0]) and "/join#" not in text_of(sent[0])


async def test_no_email_to_someone_connected_when_the_message_came(app, client, clock, factory, smtp, live):
    doctor, patient, visit = await _visit(factory)
    await drain(app)  # the invitation
    socket = await WSClient.connect(live.ws_url, patient.token)
    try:
        await say(client, doctor, visit["id"], "See you tomorrow")
        await socket.expect("chat.message")
        clock.advance(minutes=5)
        await drain(app)
    finally:
        await socket.close()
    assert notices(smtp.inbox) == []
    [row] = [r for r in await outbox(app) if r.kind == MailKind.message_notice]
    assert row.status == MailStatus.skipped


async def test_someone_who_left_before_the_next_message_is_emailed(app, client, clock, factory, smtp, live):
    doctor, patient, visit = await _visit(factory)
    socket = await WSClient.connect(live.ws_url, patient.token)
    await say(client, doctor, visit["id"], "First")
    await socket.expect("chat.message")
    await runtime_of(app).mail.refresh_presence(clock.now(), force=True)  # seen after "First"
    await socket.close()
    clock.advance(minutes=1)
    await say(client, doctor, visit["id"], "Second, while you were away")
    clock.advance(minutes=5)
    await drain(app)
    assert len(notices(smtp.inbox)) == 1


async def test_presence_on_another_instance_counts(pg_database, redis_url, clock, smtp):
    """Patient connected to A, the message posted and the notice due on B: no email."""
    settings = mail_settings(smtp.url, mail_sender_enabled=False)
    try:
        async with start_cluster(pg_database, redis_url, clock, **settings) as cluster, \
                httpx.AsyncClient(base_url=cluster.b.http_url) as http:
            factory = Factory(cluster.b.app, http, clock)
            doctor, patient, visit = await _visit(factory)
            away = await factory.patient(name="Carol Away")
            other = await factory.appointment(doctor, away, starts_in=timedelta(days=2))
            socket = await WSClient.connect(cluster.a.ws_url, patient.token)
            try:
                await say(http, doctor, visit["id"], "Hello from B")
                await say(http, doctor, other["id"], "Hello to someone offline")
                await socket.expect("chat.message")
                clock.advance(minutes=5)
                await runtime_of(cluster.a.app).mail.refresh_presence(clock.now(), force=True)
                await drain(cluster.b.app)
            finally:
                await socket.close()
            [notice] = notices(smtp.inbox)
            assert notice["To"].addresses[0].addr_spec == away.email
    finally:
        await truncate_all(pg_database)
