"""The visit around the call over real sockets: presence follows the patient's connection, the
doctor admits a waiting patient without a ring, a busy doctor is never rung, bookings and read
markers arrive live, the conversation closes, and a visit longer than the idle timeout ends
cleanly for both."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from televisit.appointments.models import CheckIn, PatientPresence
from televisit.runtime import runtime_of
from tests.appointments.helpers import URL, assert_error
from tests.fixtures.factories import Person
from tests.fixtures.live import WSClient
from tests.signaling.helpers import (
    connect,
    end_call,
    get_appointment,
    join,
    make_visit,
    of_type,
    roundtrip,
    settle,
    start_call,
)

CHECKS: dict[str, Any] = {"camera": "ok", "microphone": "ok", "network": None}


async def check_in(client, visit_id: str, patient: Person) -> dict[str, Any]:
    response = await client.post(f"{URL}/{visit_id}/check-in", json={"checks": CHECKS},
                                 headers=patient.headers)
    assert response.status_code == 200, response.text
    return response.json()


async def until(predicate: Any, timeout: float = 5.0) -> None:
    """Poll an async predicate (the server's cleanup of a closed socket runs after the close)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


async def presence_rows(app: FastAPI) -> int:
    async with runtime_of(app).sessionmaker() as session:
        return len((await session.scalars(select(PatientPresence))).all())


async def updates(ws: WSClient, app: FastAPI, who: Person, visit_id: str) -> list[dict[str, Any]]:
    """The `appointment.updated` frames of this visit the socket got (after a delivery barrier)."""
    frames = await settle(ws, app, who.id)
    ws.seen.clear()
    return [f["appointment"] for f in of_type(frames, "appointment.updated")
            if f["appointment"]["id"] == visit_id]


async def test_presence_follows_the_patients_sockets(factory, client, live, clock):
    v = await make_visit(factory)
    app = live.app
    doctor_ws = await connect(live.ws_url, v.doctor)
    phone = await connect(live.ws_url, v.patient)
    await roundtrip(phone)
    await until(lambda: _rows(app, 1))

    await check_in(client, v.id, v.patient)
    seen = await updates(doctor_ws, app, v.doctor, v.id)
    assert [(a["check_in"]["present"], a["check_in"]["checks"]) for a in seen] == [(True, CHECKS)]

    # A reload: the socket closes and another opens within the grace; the doctor notices nothing.
    await phone.close()
    await until(lambda: _away(app, v.id, True))
    clock.advance(seconds=10)
    phone = await connect(live.ws_url, v.patient)
    await until(lambda: _away(app, v.id, False))
    clock.advance(seconds=60)
    assert await runtime_of(app).presence.run_once() == 0
    assert await updates(doctor_ws, app, v.doctor, v.id) == []

    # Gone longer than the grace: she is out of the waiting room, and both sides hear it.
    await phone.close()
    await until(lambda: _away(app, v.id, True))
    clock.advance(seconds=29)
    assert await runtime_of(app).presence.run_once() == 0
    clock.advance(seconds=2)
    assert await runtime_of(app).presence.run_once() == 1
    seen = await updates(doctor_ws, app, v.doctor, v.id)
    assert [a["check_in"]["present"] for a in seen] == [False]
    assert seen[0]["check_in"]["left_at"] is not None

    # Back: present again, announced.
    phone = await connect(live.ws_url, v.patient)
    await roundtrip(phone)
    await until(lambda: _present(app, v.id))
    seen = await updates(doctor_ws, app, v.doctor, v.id)
    assert [(a["check_in"]["present"], a["check_in"]["left_at"]) for a in seen] == [(True, None)]
    log = (await client.get(f"{URL}/{v.id}/events", headers=v.doctor.headers)).json()["items"]
    assert [(e["kind"], e["data"].get("reason")) for e in log] == [
        ("booked", None), ("checked_in", None), ("left_waiting_room", "disconnected"),
        ("checked_in", "reconnected")]

    # Leaving explicitly: a reconnect does not bring her back.
    assert (await client.delete(f"{URL}/{v.id}/check-in", headers=v.patient.headers)).status_code == 204
    await phone.close()
    await until(lambda: _rows(app, 0))
    phone = await connect(live.ws_url, v.patient)
    await roundtrip(phone)
    await until(lambda: _rows(app, 1))
    assert (await get_appointment(client, v, v.doctor))["check_in"]["present"] is False
    for ws in (phone, doctor_ws):
        await ws.close()


async def _rows(app: FastAPI, n: int) -> bool:
    return await presence_rows(app) == n


async def _away(app: FastAPI, visit_id: str, away: bool) -> bool:
    row = await _row(app, visit_id)
    return row is not None and (row.away_since is not None) == away


async def _present(app: FastAPI, visit_id: str) -> bool:
    row = await _row(app, visit_id)
    return row is not None and row.present


async def _row(app: FastAPI, visit_id: str) -> CheckIn | None:
    async with runtime_of(app).sessionmaker() as session:
        return await session.get(CheckIn, uuid.UUID(visit_id))


async def test_the_doctor_admits_a_waiting_patient_without_a_ring(factory, client, live):
    v = await make_visit(factory)
    phone = await connect(live.ws_url, v.patient)
    await roundtrip(phone)
    await check_in(client, v.id, v.patient)
    room = await start_call(client, v, v.doctor)
    ring = await phone.expect("call.incoming")
    assert (ring["room_id"], ring["auto_join"]) == (room["id"], True)

    # Not checked in: she is rung as before (Accept or Decline).
    other = await make_visit(factory)
    laptop = await connect(live.ws_url, other.patient)
    room2 = await start_call(client, other, other.doctor)
    ring = await laptop.expect("call.incoming")
    assert (ring["room_id"], ring["auto_join"]) == (room2["id"], False)
    for ws in (phone, laptop):
        await ws.close()


async def test_a_patient_never_rings_a_doctor_in_another_call(factory, client, live):
    first = await make_visit(factory)
    second_patient = await factory.patient()
    second = await factory.appointment(first.doctor, second_patient, starts_in=timedelta(minutes=40),
                                       duration_minutes=30)
    factory.clock.advance(minutes=30)  # both visits are in their join windows now
    doctor_ws = await connect(live.ws_url, first.doctor)
    room = await start_call(client, first, first.doctor)
    await join(doctor_ws, room["id"])

    waiting = await client.get(f"{URL}/{second['id']}", headers=second_patient.headers)
    assert waiting.json()["doctor_busy"] is True
    # The doctor reads his own visit: doctor_busy is the patient's to see.
    his = await client.get(f"{URL}/{second['id']}", headers=first.doctor.headers)
    assert his.json()["doctor_busy"] is False
    response = await client.post(f"{URL}/{second['id']}/call", headers=second_patient.headers)
    error = assert_error(response, 409, "doctor_busy")
    assert "waiting room" in error["message"]
    frames = await settle(doctor_ws, live.app, first.doctor.id)
    assert of_type(frames, "call.incoming") == []
    hers = await client.get(f"{URL}/{second['id']}", headers=second_patient.headers)
    assert hers.json()["status"] == "scheduled"

    # The doctor finishes: she is no longer told he is busy.
    await end_call(client, room["id"], first.doctor)
    hers = await client.get(f"{URL}/{second['id']}", headers=second_patient.headers)
    assert hers.json()["doctor_busy"] is False
    await doctor_ws.close()


async def test_a_booking_reaches_both_open_pages(factory, client, live):
    doctor, patient = await factory.doctor(), await factory.patient()
    doctor_ws, patient_ws = await connect(live.ws_url, doctor), await connect(live.ws_url, patient)
    booked = await factory.appointment(doctor, patient, starts_in=timedelta(days=1))
    for ws in (doctor_ws, patient_ws):
        frame = await ws.expect("appointment.created")
        assert frame["appointment"]["id"] == booked["id"]
        assert frame["appointment"]["check_in"] is None
    for ws in (doctor_ws, patient_ws):
        await ws.close()


async def test_read_markers_clear_unread_counts_everywhere(factory, client, live):
    v = await make_visit(factory)
    laptop, phone = await connect(live.ws_url, v.patient), await connect(live.ws_url, v.patient)
    doctor_ws = await connect(live.ws_url, v.doctor)
    for n in range(3):
        await doctor_ws.send({"type": "chat.send", "appointment_id": v.id, "client_msg_id": f"m{n}",
                              "body": f"hello {n}", "ref": n})
        await doctor_ws.expect("chat.ack", ref=n)
    mine = await get_appointment(client, v, v.patient)
    assert mine["unread_count"] == 3 and mine["last_message_at"] is not None
    assert (await get_appointment(client, v, v.doctor))["unread_count"] == 0  # his own messages

    response = await client.post(f"{URL}/{v.id}/messages/read", json={"seq": 2}, headers=v.patient.headers)
    assert response.status_code == 204, response.text
    expected = {"type": "chat.read", "appointment_id": v.id, "reader_id": str(v.patient.id), "seq": 2}
    for ws in (laptop, phone, doctor_ws):
        assert await ws.expect("chat.read") == expected
    listed = (await client.get(URL, headers=v.patient.headers)).json()["items"]
    assert [a["unread_count"] for a in listed] == [1]

    # Never back, and never past the last message.
    assert (await client.post(f"{URL}/{v.id}/messages/read", json={"seq": 1},
                              headers=v.patient.headers)).status_code == 204
    assert_error(await client.post(f"{URL}/{v.id}/messages/read", json={"seq": 4},
                                   headers=v.patient.headers), 422, "invalid_seq")
    for bad in ({"seq": -1}, {"seq": "2"}, {}, {"seq": 1, "x": 1}):
        assert_error(await client.post(f"{URL}/{v.id}/messages/read", json=bad,
                                       headers=v.patient.headers), 422)
    stranger = await factory.doctor()
    assert_error(await client.post(f"{URL}/{v.id}/messages/read", json={"seq": 1},
                                   headers=stranger.headers), 404, "appointment_not_found")
    assert (await get_appointment(client, v, v.patient))["unread_count"] == 1
    frames = await settle(laptop, live.app, v.patient.id)
    assert len(of_type(frames, "chat.read")) == 1
    for ws in (laptop, phone, doctor_ws):
        await ws.close()


@pytest.mark.parametrize("settings_overrides", [{"messaging_window": 3600, "session_idle_timeout": 7200}])
async def test_the_conversation_closes_after_the_messaging_window(factory, client, live, clock, settings):
    v = await make_visit(factory, duration_minutes=30)
    ws = await connect(live.ws_url, v.patient)
    read_until = (await get_appointment(client, v, v.patient))["messaging_until"]
    clock.advance(minutes=35, seconds=settings.messaging_window - 1)  # just before it closes
    body = {"client_msg_id": "late", "body": "One more question"}
    sent = await client.post(f"{URL}/{v.id}/messages", json=body, headers=v.patient.headers)
    assert sent.status_code == 201, sent.text
    clock.advance(seconds=1)
    assert (await get_appointment(client, v, v.patient))["messaging_until"] == read_until
    assert_error(await client.post(f"{URL}/{v.id}/messages", json={**body, "client_msg_id": "later"},
                                   headers=v.doctor.headers), 409, "conversation_closed")
    await ws.send({"type": "chat.send", "appointment_id": v.id, "client_msg_id": "ws", "body": "hi",
                   "ref": 7})
    error = await ws.expect("error", ref=7)
    assert error["code"] == "conversation_closed"
    await roundtrip(ws)  # the socket lives on
    history = await client.get(f"{URL}/{v.id}/messages", headers=v.doctor.headers)
    assert [m["body"] for m in history.json()["items"]] == ["One more question"]
    await ws.close()


@pytest.mark.parametrize("settings_overrides", [{"session_idle_timeout": 120}])
async def test_a_visit_longer_than_the_idle_timeout_ends_cleanly_for_both(factory, client, live, clock):
    """Check-in, admit, a call of ten idle timeouts with nobody touching REST, the hang-up: both
    still signed in, the room ended, the visit completed, and its log tells the story."""
    v = await make_visit(factory, duration_minutes=60)
    app = live.app
    d, p = await connect(live.ws_url, v.doctor), await connect(live.ws_url, v.patient)
    await roundtrip(p)
    await check_in(client, v.id, v.patient)
    room = await start_call(client, v, v.doctor)
    assert (await p.expect("call.incoming"))["auto_join"] is True
    await join(d, room["id"])
    await join(p, room["id"])
    for minute in range(20):  # 20 minutes, ten times the 2-minute idle timeout
        clock.advance(seconds=60)
        await d.send({"type": "signal", "room_id": room["id"], "data": {"candidate": f"c{minute}"}})
        await roundtrip(d)
        await roundtrip(p)
        assert await runtime_of(app).session_sweeper.run_once() == 0
        assert await runtime_of(app).presence.run_once() == 0
    ended = await end_call(client, room["id"], v.doctor)
    assert ended["status"] == "completed"
    for ws in (d, p):
        frame = await ws.expect("room.ended", room_id=room["id"])
        assert (frame["reason"], frame["status"]) == ("ended", "completed")
    for person in (v.doctor, v.patient):
        assert (await client.get("/api/v1/me", headers=person.headers)).status_code == 200
    visit = await get_appointment(client, v, v.patient)
    assert visit["status"] == "completed"
    assert visit["call"]["room_id"] == room["id"] and visit["call"]["duration_seconds"] == 20 * 60
    log = (await client.get(f"{URL}/{v.id}/events", headers=v.patient.headers)).json()["items"]
    assert [e["kind"] for e in log] == ["booked", "checked_in", "call_started", "joined", "joined",
                                        "call_ended"]
    assert log[-1]["data"]["reason"] == "ended" and log[-1]["actor"]["id"] == str(v.doctor.id)
    await roundtrip(d)
    await roundtrip(p)
    for ws in (d, p):
        await ws.close()
