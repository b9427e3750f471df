"""The waiting room over REST: check-in (who, when, bad input), leaving it, the visit's events,
presence after the grace, and the appointment's new fields, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from televisit.appointments.models import AppointmentEvent, CheckIn, PatientPresence
from televisit.audit.models import Action, AuditEvent, Outcome
from televisit.auth.links import token_for
from televisit.auth.models import JoinLink
from televisit.rooms.models import Instance
from televisit.runtime import runtime_of
from tests.appointments.helpers import URL, assert_error
from tests.fixtures.factories import Factory, Person

CHECKS: dict[str, Any] = {"camera": "ok", "microphone": "failed",
                          "network": {"rtt_ms": 42, "bitrate_kbps": 1800, "turn": "ok",
                                      "signaling_rtt_ms": 18}}


async def check_in(client: httpx.AsyncClient, visit: dict[str, Any], who: Person,
                   checks: Any = None) -> httpx.Response:
    body = {"checks": CHECKS if checks is None else checks}
    return await client.post(f"{URL}/{visit['id']}/check-in", json=body, headers=who.headers)


async def events(client: httpx.AsyncClient, visit: dict[str, Any], who: Person, **params: Any) -> list[dict]:
    response = await client.get(f"{URL}/{visit['id']}/events", params=params, headers=who.headers)
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def read(client: httpx.AsyncClient, visit: dict[str, Any], who: Person) -> dict[str, Any]:
    response = await client.get(f"{URL}/{visit['id']}", headers=who.headers)
    assert response.status_code == 200, response.text
    return response.json()


async def count(app, model: Any, *where: Any) -> int:
    async with runtime_of(app).sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def audit_actions(app, action: Action) -> list[AuditEvent]:
    async with runtime_of(app).sessionmaker() as session:
        return list((await session.scalars(select(AuditEvent).where(AuditEvent.action == action)
                                           .order_by(AuditEvent.occurred_at))).all())


async def visit_of(factory: Factory, *, starts_in: timedelta = timedelta(minutes=10),
                   duration_minutes: int = 30) -> tuple[Person, Person, dict[str, Any]]:
    doctor, patient = await factory.doctor(), await factory.patient()
    visit = await factory.appointment(doctor, patient, starts_in=starts_in, duration_minutes=duration_minutes)
    return doctor, patient, visit


async def test_a_new_visit_carries_the_new_fields(client, factory):
    doctor, patient, visit = await visit_of(factory)
    for who in (doctor, patient):
        data = await read(client, visit, who)
        assert data["check_in"] is None and data["call"] is None
        assert data["unread_count"] == 0 and data["last_message_at"] is None
        assert data["doctor_busy"] is False
        ends_at = datetime.fromisoformat(data["starts_at"]) + timedelta(minutes=30)
        assert datetime.fromisoformat(data["messaging_until"]) == ends_at + timedelta(days=14)
    assert visit["check_in"] is None  # the booking's answer has them too


async def test_the_patient_checks_in_and_both_read_it(app, client, factory):
    doctor, patient, visit = await visit_of(factory)
    response = await check_in(client, visit, patient)
    assert response.status_code == 200, response.text
    mine = response.json()
    assert mine["id"] == visit["id"]
    assert mine["check_in"] == {"at": "2030-03-04T09:00:00Z", "present": True, "left_at": None,
                                "checks": CHECKS}
    # The doctor's list and read show her waiting, with her results (a failed microphone).
    listed = (await client.get(URL, headers=doctor.headers)).json()["items"]
    assert [v["check_in"]["checks"]["microphone"] for v in listed] == ["failed"]
    assert (await read(client, visit, doctor))["check_in"] == mine["check_in"]

    # Again, later: the results are updated; she is still waiting since the first time.
    factory.clock.advance(minutes=2)
    quiet = {"camera": "ok", "microphone": "ok", "network": None}
    again = await check_in(client, visit, patient, checks=quiet)
    assert again.status_code == 200, again.text
    assert again.json()["check_in"] == {"at": "2030-03-04T09:00:00Z", "present": True, "left_at": None,
                                        "checks": {"camera": "ok", "microphone": "ok", "network": None}}

    kinds = [(e["kind"], e["actor"]) for e in await events(client, visit, doctor)]
    me = {"id": str(patient.id), "full_name": patient.full_name}
    assert kinds == [("booked", {"id": str(doctor.id), "full_name": doctor.full_name}),
                     ("checked_in", me), ("checked_in", me)]
    assert [a.actor_id for a in await audit_actions(app, Action.appointment_check_in)] == [patient.id] * 2


async def test_leaving_the_waiting_room(client, factory):
    doctor, patient, visit = await visit_of(factory)
    assert_error(await client.delete(f"{URL}/{visit['id']}/check-in", headers=patient.headers),
                 409, "not_checked_in")
    assert (await check_in(client, visit, patient)).status_code == 200
    factory.clock.advance(minutes=1)
    response = await client.delete(f"{URL}/{visit['id']}/check-in", headers=patient.headers)
    assert response.status_code == 204, response.text
    assert (await read(client, visit, doctor))["check_in"] == {
        "at": "2030-03-04T09:00:00Z", "present": False, "left_at": "2030-03-04T09:01:00Z", "checks": CHECKS}
    # Twice: nothing more happens.
    assert (await client.delete(f"{URL}/{visit['id']}/check-in", headers=patient.headers)).status_code == 204
    log = await events(client, visit, patient)
    assert [e["kind"] for e in log] == ["booked", "checked_in", "left_waiting_room"]
    assert log[-1]["data"] == {"reason": "left"}
    # Back again: present, since now.
    factory.clock.advance(minutes=1)
    back = (await check_in(client, visit, patient)).json()["check_in"]
    assert (back["present"], back["at"], back["left_at"]) == (True, "2030-03-04T09:02:00Z", None)


async def test_who_may_check_in(app, client, factory):
    doctor, patient, visit = await visit_of(factory)
    other_patient, other_doctor = await factory.patient(), await factory.doctor()
    admin = await factory.admin()
    assert_error(await check_in(client, visit, doctor), 403, "patient_only")
    assert_error(await client.delete(f"{URL}/{visit['id']}/check-in", headers=doctor.headers),
                 403, "patient_only")
    for stranger in (other_patient, other_doctor, admin):
        assert_error(await check_in(client, visit, stranger), 404, "appointment_not_found")
        assert_error(await client.delete(f"{URL}/{visit['id']}/check-in", headers=stranger.headers),
                     404, "appointment_not_found")
        assert_error(await client.get(f"{URL}/{visit['id']}/events", headers=stranger.headers),
                     404, "appointment_not_found")
    assert_error(await check_in(client, {"id": str(uuid.uuid4())}, patient), 404, "appointment_not_found")
    assert_error(await client.post(f"{URL}/{visit['id']}/check-in", json={"checks": CHECKS}), 401)
    assert await count(app, CheckIn) == 0
    denied = await audit_actions(app, Action.appointment_check_in)
    assert {(a.actor_id, a.outcome) for a in denied} == {(s.id, Outcome.denied)
                                                         for s in (other_patient, other_doctor, admin)}
    assert [e["kind"] for e in await events(client, visit, doctor)] == ["booked"]


async def test_the_join_window(app, client, factory):
    doctor, patient, visit = await visit_of(factory, starts_in=timedelta(minutes=30))
    # 30 minutes ahead: the window opens 15 minutes before the start.
    error = assert_error(await check_in(client, visit, patient), 409, "outside_join_window")
    assert error["details"] == {"opens_at": "2030-03-04T09:15:00+00:00",
                                "closes_at": "2030-03-04T10:00:00+00:00"}
    factory.clock.advance(minutes=15)
    assert (await check_in(client, visit, patient)).status_code == 200
    # At the end it closes (the visit is then missed: not active any more).
    factory.clock.advance(minutes=45)
    assert_error(await check_in(client, visit, patient), 409, "appointment_not_active")

    cancelled = await factory.appointment(doctor, patient, starts_in=timedelta(minutes=5))
    assert (await client.post(f"{URL}/{cancelled['id']}/cancel", headers=patient.headers)).status_code == 200
    assert_error(await check_in(client, cancelled, patient), 409, "appointment_not_active")
    assert await count(app, CheckIn) == 1


async def test_a_check_in_from_a_page_older_than_the_signaling_round_trip_still_counts(client, factory):
    _doctor, patient, visit = await visit_of(factory)
    network = {"rtt_ms": 42, "bitrate_kbps": None, "turn": "skipped"}
    checks = {"camera": "ok", "microphone": "ok", "network": network}
    response = await check_in(client, visit, patient, checks)
    assert response.status_code == 200, response.text
    assert response.json()["check_in"]["checks"]["network"] == {**network, "signaling_rtt_ms": None}


@pytest.mark.parametrize("checks", [
    None,
    {},
    {"camera": "ok"},
    {"camera": "ok", "microphone": "ok", "network": None, "speaker": "ok"},
    {"camera": "fine", "microphone": "ok", "network": None},
    {"camera": "ok", "microphone": "ok", "network": {"rtt_ms": -1, "bitrate_kbps": None, "turn": "ok"}},
    {"camera": "ok", "microphone": "ok", "network": {"rtt_ms": "fast", "bitrate_kbps": None, "turn": "ok"}},
    {"camera": "ok", "microphone": "ok", "network": {"rtt_ms": "12", "bitrate_kbps": None, "turn": "ok"}},
    {"camera": "ok", "microphone": "ok", "network": {"rtt_ms": 1, "bitrate_kbps": False, "turn": "ok"}},
    {"camera": "ok", "microphone": "ok", "network": {"rtt_ms": 1.5, "bitrate_kbps": None, "turn": "ok"}},
    {"camera": "ok", "microphone": "ok", "network": {"rtt_ms": 1, "bitrate_kbps": 1}},
    {"camera": "ok", "microphone": "ok", "network": {"rtt_ms": 1, "bitrate_kbps": 1, "turn": "ok", "x": 1}},
])
async def test_bad_check_ins_change_nothing(app, client, factory, checks):
    doctor, patient, visit = await visit_of(factory)
    body = {} if checks is None else {"checks": checks}
    response = await client.post(f"{URL}/{visit['id']}/check-in", json=body, headers=patient.headers)
    assert_error(response, 422, "validation_error")
    assert await count(app, CheckIn) == 0
    assert (await read(client, visit, doctor))["check_in"] is None
    assert [e["kind"] for e in await events(client, visit, patient)] == ["booked"]


async def test_presence_ends_after_the_grace_without_a_connection(app, client, factory):
    """Checked in over REST with no socket open: she counts as there for the grace, then not."""
    doctor, patient, visit = await visit_of(factory)
    assert (await check_in(client, visit, patient)).status_code == 200
    presence = runtime_of(app).presence
    factory.clock.advance(seconds=29)
    assert await presence.run_once() == 0
    assert (await read(client, visit, doctor))["check_in"]["present"] is True
    factory.clock.advance(seconds=2)
    assert await presence.run_once() == 1
    seen = (await read(client, visit, doctor))["check_in"]
    assert (seen["present"], seen["left_at"]) == (False, "2030-03-04T09:00:00Z")
    assert await presence.run_once() == 0  # once
    log = await events(client, visit, doctor)
    assert [e["kind"] for e in log] == ["booked", "checked_in", "left_waiting_room"]
    assert log[-1]["data"]["reason"] == "disconnected"
    outs = await audit_actions(app, Action.appointment_check_out)
    assert [(a.actor_id, a.data["reason"]) for a in outs] == [(None, "disconnected")]


async def test_events_page_by_cursor_and_are_insert_only(app, client, factory):
    doctor, patient, visit = await visit_of(factory)
    for _ in range(3):
        factory.clock.advance(seconds=10)
        assert (await check_in(client, visit, patient)).status_code == 200
    first = await client.get(f"{URL}/{visit['id']}/events", params={"limit": 2}, headers=doctor.headers)
    page = first.json()
    assert [e["kind"] for e in page["items"]] == ["booked", "checked_in"]
    second = (await client.get(f"{URL}/{visit['id']}/events",
                               params={"limit": 2, "cursor": page["next_cursor"]},
                               headers=doctor.headers)).json()
    assert [e["kind"] for e in second["items"]] == ["checked_in", "checked_in"]
    assert second["next_cursor"] is None
    assert_error(await client.get(f"{URL}/{visit['id']}/events", params={"cursor": "bm9wZQ"},
                                  headers=doctor.headers), 400, "invalid_cursor")
    assert_error(await client.get(f"{URL}/{visit['id']}/events", params={"limit": 0},
                                  headers=doctor.headers), 422)
    async with runtime_of(app).sessionmaker() as session:
        row = (await session.scalars(select(AppointmentEvent).limit(1))).one()
        row.kind = "cancelled"
        with pytest.raises(RuntimeError, match="never changed"):
            await session.flush()
    reads = await audit_actions(app, Action.appointment_events_read)
    assert [(a.actor_id, a.outcome) for a in reads][:2] == [(doctor.id, Outcome.success)] * 2


async def test_a_join_link_session_checks_in_to_its_visit_only(app, client, factory):
    doctor, patient, visit = await visit_of(factory)
    other = await factory.appointment(doctor, patient, starts_in=timedelta(hours=3))
    async with runtime_of(app).sessionmaker() as session:
        link = (await session.scalars(select(JoinLink).where(
            JoinLink.appointment_id == uuid.UUID(visit["id"])))).one()
    token = token_for(runtime_of(app).settings, link.id)
    joined = await client.post("/api/v1/auth/join", json={"token": token})
    assert joined.status_code == 200, joined.text
    scoped = Person(id=patient.id, email=patient.email, full_name=patient.full_name, role=patient.role,
                    headers={"Authorization": f"Bearer {joined.json()['access_token']}"})
    assert (await check_in(client, visit, scoped)).status_code == 200
    assert [e["kind"] for e in await events(client, visit, scoped)] == ["booked", "checked_in"]
    assert_error(await check_in(client, other, scoped), 404, "appointment_not_found")
    assert_error(await client.get(f"{URL}/{other['id']}/events", headers=scoped.headers),
                 404, "appointment_not_found")
    read_marker = await client.post(f"{URL}/{visit['id']}/messages/read", json={"seq": 0},
                                    headers=scoped.headers)
    assert read_marker.status_code == 204, read_marker.text



async def test_a_crashed_instance_does_not_keep_her_present(app, client, factory):
    """Her socket was on an instance that stopped beating: it counts for nothing, and its row goes."""
    doctor, patient, visit = await visit_of(factory)
    now = factory.clock.now()
    async with runtime_of(app).sessionmaker() as session, session.begin():
        session.add_all([Instance(id="alive", started_at=now, heartbeat_at=now),
                         Instance(id="crashed", started_at=now, heartbeat_at=now - timedelta(minutes=5))])
        session.add(PatientPresence(user_id=patient.id, instance_id="crashed", since=now))
    assert (await check_in(client, visit, patient)).status_code == 200
    factory.clock.advance(seconds=31)
    assert await runtime_of(app).presence.run_once() == 1
    assert (await read(client, visit, doctor))["check_in"]["present"] is False
    assert await count(app, PatientPresence) == 0

    # A row of a live instance keeps her there however long.
    async with runtime_of(app).sessionmaker() as session, session.begin():
        session.add(PatientPresence(user_id=patient.id, instance_id="alive", since=now))
        (await session.get(Instance, "alive")).heartbeat_at = factory.clock.now()
    assert (await check_in(client, visit, patient)).status_code == 200
    factory.clock.advance(seconds=15)
    assert await runtime_of(app).presence.run_once() == 0
    assert (await read(client, visit, doctor))["check_in"]["present"] is True
