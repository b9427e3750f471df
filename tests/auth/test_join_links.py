"""The link in a visit's emails opens that visit without a password, and nothing else: the token
is taken from the email the real SMTP server received, as the patient would take it."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from televisit.audit.models import Action, AuditEvent, Outcome
from televisit.auth.links import token_for
from televisit.auth.models import AuthSession, JoinLink
from televisit.mail.models import OutboxMessage
from televisit.runtime import runtime_of
from tests.auth.helpers import ADMIN_USERS, ME, PATIENTS, bearer
from tests.fixtures.assertions import assert_error
from tests.fixtures.live import WSClient
from tests.fixtures.logs import captured_logs
from tests.mail.conftest import mail_settings, smtp  # noqa: F401 - the real SMTP server fixture
from tests.mail.helpers import JOIN_LINK, emailed_join_token, messages_to, open_join_link, text_of
from tests.signaling.helpers import closed_with

URL = "/api/v1/appointments"
JOIN = "/api/v1/auth/join"


@pytest.fixture
def extra_settings() -> dict[str, Any]:
    return {}


@pytest.fixture
def settings_overrides(smtp, extra_settings):  # noqa: F811 - the fixture imported above
    return mail_settings(smtp.url, **extra_settings)


async def joined_with(client, token: str) -> dict[str, Any]:
    response = await open_join_link(client, token)
    assert response.status_code == 200, response.text
    return response.json()


async def book_two(factory):
    """A patient with two visits (the first one startable now), from one doctor."""
    doctor = await factory.doctor(name="Dr. Rosa Pinheiro")
    patient = await factory.patient(name="Ines Duarte")
    first = await factory.appointment(doctor, patient, starts_in=timedelta(minutes=10))
    second = await factory.appointment(doctor, patient, starts_in=timedelta(hours=3))
    return doctor, patient, first, second


async def links_by_visit(app, smtp, address: str) -> dict[str, str]:  # noqa: F811
    """The newest join link emailed to ``address`` for each visit (emailed tokens are matched to
    the visits they belong to without opening them, which would record a sign-in)."""
    await emailed_join_token(app, smtp.inbox, address)
    tokens = {t for m in messages_to(smtp.inbox, address) for _, t in JOIN_LINK.findall(text_of(m))}
    found, known = {}, set()
    async with runtime_of(app).sessionmaker() as session:
        for link in (await session.scalars(select(JoinLink).order_by(JoinLink.created_at))).all():
            token = token_for(runtime_of(app).settings, link.id)
            if token in tokens:
                found[str(link.appointment_id)] = token
                known.add(token)
    assert known == tokens, "every emailed token belongs to a link"
    return found


async def scoped_session(app, client, factory, smtp):  # noqa: F811
    """Two visits of one patient; a session opened from the first one's emailed link."""
    doctor, patient, first, second = await book_two(factory)
    tokens = await links_by_visit(app, smtp, patient.email)
    joined = await joined_with(client, tokens[first["id"]])
    assert joined["appointment_id"] == first["id"]
    return doctor, patient, first, second, joined


async def test_the_invitation_link_opens_the_visit_without_a_password(app, client, factory, smtp):  # noqa: F811
    doctor = await factory.doctor(name="Dr. Rosa Pinheiro")
    patient = await factory.patient(name="Ines Duarte")
    visit = await factory.appointment(doctor, patient, starts_in=timedelta(minutes=5))
    token = await emailed_join_token(app, smtp.inbox, patient.email)

    joined = await joined_with(client, token)
    assert joined["appointment_id"] == visit["id"]
    assert joined["user"]["id"] == str(patient.id) and joined["token_type"] == "bearer"
    assert joined["password_set"] is True and 0 < joined["expires_in"]
    headers = bearer(joined["access_token"])

    # Read it, chat in it, start its call: all without a password.
    assert (await client.get(f"{URL}/{visit['id']}", headers=headers)).status_code == 200
    assert (await client.get(ME, headers=headers)).json()["id"] == str(patient.id)
    sent = await client.post(f"{URL}/{visit['id']}/messages", headers=headers,
                             json={"client_msg_id": "m1", "body": "I am on my phone"})
    assert sent.status_code == 201, sent.text
    history = await client.get(f"{URL}/{visit['id']}/messages", headers=doctor.headers)
    assert [m["body"] for m in history.json()["items"]] == ["I am on my phone"]
    call = await client.post(f"{URL}/{visit['id']}/call", headers=headers)
    assert call.status_code == 201, call.text
    room = await client.get(f"/api/v1/rooms/{call.json()['room']['id']}", headers=headers)
    assert room.status_code == 200
    assert (await client.get(f"{URL}/{visit['id']}/fhir", headers=headers)).status_code == 200

    # Any number of devices: the same link again is another session, and both work.
    second = await joined_with(client, token)
    assert second["access_token"] != joined["access_token"]
    for h in (headers, bearer(second["access_token"])):
        assert (await client.get(f"{URL}/{visit['id']}", headers=h)).status_code == 200
    async with runtime_of(app).sessionmaker() as session:
        opened = (await session.scalars(select(AuditEvent).where(
            AuditEvent.action == Action.join_link_open))).all()
    assert [(r.outcome, r.actor_id, str(r.object_id)) for r in opened] == \
        [(Outcome.success, patient.id, visit["id"])] * 2


async def test_each_visit_has_its_own_link(app, client, factory, smtp):  # noqa: F811
    _doctor, patient, first, second = await book_two(factory)
    tokens = await links_by_visit(app, smtp, patient.email)
    assert set(tokens) == {first["id"], second["id"]}
    for visit_id, token in tokens.items():
        assert (await joined_with(client, token))["appointment_id"] == visit_id


async def test_a_link_session_reaches_its_visit_only(app, client, factory, smtp):  # noqa: F811
    doctor, patient, first, second, joined = await scoped_session(app, client, factory, smtp)
    headers = bearer(joined["access_token"])
    # The other visit, its conversation, its call, its export: as if they did not exist.
    for method, path in (("GET", f"{URL}/{second['id']}"), ("GET", f"{URL}/{second['id']}/messages"),
                         ("POST", f"{URL}/{second['id']}/messages"),
                         ("POST", f"{URL}/{second['id']}/call"), ("GET", f"{URL}/{second['id']}/fhir")):
        body = {"client_msg_id": "x", "body": "hi"} if path.endswith("messages") else None
        response = await client.request(method, path, headers=headers, json=body)
        assert_error(response, 404, "appointment_not_found")
    # Rooms: its visit's call is reachable, another visit's is not.
    own_call = await client.post(f"{URL}/{first['id']}/call", headers=doctor.headers)
    own_room = own_call.json()["room"]["id"]
    await client.post(f"/api/v1/rooms/{own_room}/end", headers=doctor.headers)
    assert (await client.get(f"/api/v1/rooms/{own_room}", headers=headers)).status_code == 200
    other_room = await _room_of_second_visit(app, client, doctor, second)
    for method in ("GET", "POST"):
        path = f"/api/v1/rooms/{other_room}" + ("/end" if method == "POST" else "")
        assert_error(await client.request(method, path, headers=headers), 404, "room_not_found")

    # The list holds its one visit, whatever the filters.
    listed = await client.get(URL, headers=headers)
    assert [a["id"] for a in listed.json()["items"]] == [first["id"]]
    # Everything else waits for a password sign-in.
    for method, path, body in (
        ("GET", PATIENTS, None), ("PATCH", ME, {"time_zone": "Europe/Lisbon"}),
        ("GET", "/api/v1/auth/mfa", None), ("POST", "/api/v1/auth/mfa/enroll", None),
        ("GET", ADMIN_USERS, None), ("GET", "/api/v1/admin/audit", None),
        ("POST", f"{URL}/{first['id']}/cancel", {}), ("POST", URL, {}),
    ):
        response = await client.request(method, path, headers=headers, json=body)
        error = assert_error(response, 403, "scope_limited")
        assert "Sign in with your password" in error["message"]
    # The patient's password session is not limited.
    assert len((await client.get(URL, headers=patient.headers)).json()["items"]) == 2
    async with runtime_of(app).sessionmaker() as session:
        refused = (await session.scalars(select(AuditEvent).where(
            AuditEvent.action == Action.scope_limited))).all()
    assert len(refused) == 5 + 2 + 8 and {r.outcome for r in refused} == {Outcome.denied}
    assert {r.actor_id for r in refused} == {patient.id}
    # Signing out ends the link's session like any other.
    assert (await client.post("/api/v1/auth/logout", headers=headers)).status_code == 204
    assert_error(await client.get(f"{URL}/{first['id']}", headers=headers), 401, "invalid_token")


async def _room_of_second_visit(app, client, doctor, second) -> str:
    """A live room of the second visit: moved to a minute from now (before the first), then called."""
    soon = runtime_of(app).clock.now() + timedelta(minutes=1)
    moved = await client.patch(f"{URL}/{second['id']}", headers=doctor.headers,
                               json={"starts_at": soon.isoformat(), "duration_minutes": 5})
    assert moved.status_code == 200, moved.text
    call = await client.post(f"{URL}/{second['id']}/call", headers=doctor.headers)
    assert call.status_code == 201, call.text
    return str(call.json()["room"]["id"])


async def test_its_socket_hears_and_acts_on_its_visit_only(app, client, factory, smtp, live):  # noqa: F811
    doctor, patient, first, second, joined = await scoped_session(app, client, factory, smtp)
    scoped = await WSClient.connect(live.ws_url, joined["access_token"])
    full = await WSClient.connect(live.ws_url, patient.token)
    try:
        # Chat: its visit yes, another no.
        await scoped.send({"type": "chat.send", "appointment_id": first["id"], "client_msg_id": "a",
                           "body": "here", "ref": "mine"})
        await scoped.expect("chat.ack", ref="mine")
        for frame in ({"type": "chat.send", "appointment_id": second["id"], "client_msg_id": "b",
                       "body": "there"}, {"type": "chat.sync", "appointment_id": second["id"]}):
            await scoped.send({**frame, "ref": frame["type"]})
            error = await scoped.expect("error", ref=frame["type"])
            assert error["code"] == "appointment_not_found"
        # Ringing: only for its visit. The second visit's call rings the full session alone.
        room = await _room_of_second_visit(app, client, doctor, second)
        await full.expect("call.incoming", room_id=room)
        await scoped.send({"type": "room.join", "room_id": room, "ref": "join-other"})
        assert (await scoped.expect("error", ref="join-other"))["code"] == "room_not_found"
        await client.post(f"/api/v1/rooms/{room}/end", headers=doctor.headers)
        await client.post(f"{URL}/{second['id']}/messages", headers=doctor.headers,
                          json={"client_msg_id": "d1", "body": "for the second visit"})
        await full.expect("chat.message")
        mine = await client.post(f"{URL}/{first['id']}/call", headers=doctor.headers)
        ringing = await scoped.expect("call.incoming")
        assert ringing["appointment_id"] == first["id"]
        await scoped.send({"type": "room.join", "room_id": mine.json()["room"]["id"], "ref": "join"})
        await scoped.expect("room.joined", ref="join")
        # Nothing of the second visit reached the link's socket.
        await scoped.send({"type": "ping", "ref": "last"})
        await scoped.expect("pong", ref="last")
        about_second = [f for f in scoped.seen if second["id"] in str(f) or room in str(f)]
        assert about_second == [], about_second
    finally:
        await scoped.close()
        await full.close()


async def test_bad_and_expired_links_say_what_to_do(app, client, clock, factory, smtp):  # noqa: F811
    doctor = await factory.doctor()
    patient = await factory.patient()
    visit = await factory.appointment(doctor, patient, starts_in=timedelta(hours=2))
    token = await emailed_join_token(app, smtp.inbox, patient.email)
    for bad in ("x", token[:-2] + ("AA" if token[-2:] != "AA" else "BB"), token + "A"):
        error = assert_error(await open_join_link(client, bad), 404, "join_link_invalid")
        assert "sign in" in error["message"]
    assert_error(await client.post(JOIN, json={}), 422)
    assert_error(await client.post(JOIN, json={"token": "t" * 257}), 422)
    assert_error(await client.post(f"{JOIN}?token={token}", json={}), 422)  # never from a URL

    # It works until the visit's end plus the messaging window (14 days), then it has expired.
    ends = clock.now() + timedelta(hours=2, minutes=30)
    clock.advance(hours=2, minutes=30, days=14, seconds=-1)
    late = await joined_with(client, token)
    assert late["appointment_id"] == visit["id"]
    assert late["expires_in"] <= 1  # never outlives the link
    clock.advance(seconds=1)
    assert clock.now() == ends + timedelta(days=14)
    error = assert_error(await open_join_link(client, token), 410, "join_link_expired")
    assert "expired" in error["message"]


async def test_cancelling_revokes_the_link_and_ends_its_sessions(app, client, factory, smtp, live):  # noqa: F811
    doctor, patient, first, second, joined = await scoped_session(app, client, factory, smtp)
    socket = await WSClient.connect(live.ws_url, joined["access_token"])
    try:
        cancel = await client.post(f"{URL}/{first['id']}/cancel", headers=doctor.headers, json={})
        assert cancel.status_code == 200
        assert await closed_with(socket) == 4401
        assert {"type": "session.ended", "reason": "revoked"} in socket.seen
    finally:
        await socket.close()
    headers = bearer(joined["access_token"])
    assert_error(await client.get(f"{URL}/{first['id']}", headers=headers), 401, "invalid_token")
    tokens = await links_by_visit(app, smtp, patient.email)
    error = assert_error(await open_join_link(client, tokens[first["id"]]), 410, "join_link_revoked")
    assert error["details"] == {"reason": "cancelled"}
    # The other visit's link and the patient's password session are untouched.
    assert (await joined_with(client, tokens[second["id"]]))["appointment_id"] == second["id"]
    assert (await client.get(f"{URL}/{first['id']}", headers=patient.headers)).status_code == 200


async def test_moving_revokes_the_link_but_keeps_the_open_page(app, client, factory, smtp):  # noqa: F811
    doctor, patient, first, _, joined = await scoped_session(app, client, factory, smtp)
    old = (await links_by_visit(app, smtp, patient.email))[first["id"]]
    moved = await client.patch(f"{URL}/{first['id']}", headers=doctor.headers, json={"duration_minutes": 45})
    assert moved.status_code == 200
    # The patient waiting on the visit's page stays; the old link is withdrawn, a new one comes.
    still = await client.get(f"{URL}/{first['id']}", headers=bearer(joined["access_token"]))
    assert still.status_code == 200
    error = assert_error(await open_join_link(client, old), 410, "join_link_revoked")
    assert error["details"] == {"reason": "moved"}
    new = (await links_by_visit(app, smtp, patient.email))[first["id"]]
    assert new != old and (await joined_with(client, new))["appointment_id"] == first["id"]


@pytest.mark.parametrize("extra_settings", [{"log_sql": True}])  # every statement with its parameters
async def test_the_token_is_stored_nowhere_and_logged_nowhere(app, client, factory, settings, smtp):  # noqa: F811
    doctor = await factory.doctor()
    patient = await factory.patient()
    await factory.appointment(doctor, patient, starts_in=timedelta(hours=2))
    token = await emailed_join_token(app, smtp.inbox, patient.email)
    with captured_logs(settings.model_copy(update={"log_level": "DEBUG", "log_sql": True})) as logs:
        joined = await joined_with(client, token)
        await client.get(f"{URL}/{joined['appointment_id']}", headers=bearer(joined["access_token"]))
    text = logs.getvalue()
    assert "/api/v1/auth/join" in text and "FROM join_links" in text  # the request and its SQL...
    assert token not in text and joined["access_token"] not in text  # ...and neither token
    async with runtime_of(app).sessionmaker() as session:
        rows = [*(await session.scalars(select(JoinLink))).all(),
                *(await session.scalars(select(OutboxMessage))).all(),
                *(await session.scalars(select(AuthSession))).all(),
                *(await session.scalars(select(AuditEvent))).all()]
    dumped = " ".join(repr(vars(r)) for r in rows)
    assert token not in dumped and joined["access_token"] not in dumped
    assert uuid.UUID(joined["appointment_id"])  # what the page opens next
