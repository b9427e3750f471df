"""A socket lives no longer than its session: idle and absolute expiry close it (4401 after
`session.ended`), use of the socket in a call keeps the session alive, and `last_seen_at` is
written sparingly. The clock is fake and the sweeper is driven by hand, as the room timers are."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import event, select

from televisit.auth.models import AuthSession
from televisit.runtime import runtime_of
from tests.auth.helpers import ME, assert_unauthorized
from tests.fixtures.live import WSClient
from tests.signaling.helpers import (
    closed_with,
    connect,
    end_call,
    get_appointment,
    get_room,
    join,
    make_visit,
    roundtrip,
    start_call,
)

IDLE = 600  # ten minutes: last_seen_at is written at most every 150 s


async def sweep(app: FastAPI) -> int:
    return await runtime_of(app).session_sweeper.run_once()


async def assert_session_ended(ws: WSClient, reason: str) -> None:
    assert await closed_with(ws) == 4401
    assert {"type": "session.ended", "reason": reason} in ws.seen


async def assert_signed_in(client: Any, headers: dict[str, str]) -> None:
    response = await client.get(ME, headers=headers)
    assert response.status_code == 200, response.text


async def chat(ws: WSClient, appointment_id: str, n: int) -> None:
    ref = f"chat-{n}"
    await ws.send({"type": "chat.send", "appointment_id": appointment_id, "client_msg_id": ref,
                   "body": f"message {n}", "ref": ref})
    await ws.expect("chat.ack", ref=ref)


async def signal(ws: WSClient, room_id: str, n: int) -> None:
    await ws.send({"type": "signal", "room_id": room_id, "data": {"candidate": f"c{n}"}})
    await roundtrip(ws)  # handled


@pytest.mark.parametrize("settings_overrides", [{"session_idle_timeout": IDLE}])
async def test_an_idle_socket_closes_at_the_idle_timeout_though_it_pings(factory, client, live, clock):
    patient = await factory.patient()
    ws = await connect(live.ws_url, patient)
    for _ in range(9):
        clock.advance(seconds=60)
        await roundtrip(ws)  # its own pings, and the server's protocol pings, are not use
        assert await sweep(live.app) == 0
    clock.advance(seconds=60)
    assert await sweep(live.app) == 1
    await assert_session_ended(ws, "expired")
    assert_unauthorized(await client.get(ME, headers=patient.headers), "session_expired")


@pytest.mark.parametrize("settings_overrides", [{"session_idle_timeout": IDLE}])
async def test_outside_a_call_what_a_person_does_keeps_the_session(factory, client, live, clock):
    v = await make_visit(factory)
    ws = await connect(live.ws_url, v.patient)
    for n in range(6):  # a message every 5 minutes for half an hour: three idle timeouts
        clock.advance(seconds=300)
        await chat(ws, v.id, n)
        assert await sweep(live.app) == 0
    await assert_signed_in(client, v.patient.headers)
    clock.advance(seconds=IDLE - 1)
    assert await sweep(live.app) == 0
    clock.advance(seconds=1)  # then nothing for the whole timeout
    assert await sweep(live.app) == 1
    await assert_session_ended(ws, "expired")


@pytest.mark.parametrize("settings_overrides", [{"session_idle_timeout": IDLE}])
async def test_use_on_another_device_keeps_the_socket_open(factory, client, live, clock):
    """The sweeper re-reads the session before closing: REST use elsewhere counts."""
    patient = await factory.patient()
    ws = await connect(live.ws_url, patient)
    clock.advance(seconds=500)
    await assert_signed_in(client, patient.headers)  # writes last_seen_at (500 s > 150 s)
    clock.advance(seconds=100)  # the socket's own deadline passed; the session's did not
    assert await sweep(live.app) == 0
    await roundtrip(ws)
    clock.advance(seconds=IDLE - 100)
    assert await sweep(live.app) == 1
    await assert_session_ended(ws, "expired")


async def test_a_visit_longer_than_the_idle_timeout_ends_with_everyone_signed_in(
        factory, client, live, clock, settings):
    """45 minutes of call with the default 30-minute idle timeout: nobody touches REST meanwhile,
    the socket's signaling keeps both sessions alive, and the hang-up works."""
    assert settings.session_idle_timeout == 30 * 60
    v = await make_visit(factory, duration_minutes=60)
    room_id = (await start_call(client, v, v.doctor))["id"]
    d, p = await connect(live.ws_url, v.doctor), await connect(live.ws_url, v.patient)
    await join(d, room_id)
    await join(p, room_id)
    for minute in range(45):
        clock.advance(seconds=60)
        await signal(d, room_id, minute)  # ICE consent, stats, renegotiation: the call is in use
        await roundtrip(p)  # the patient only pings: in a call that is use too
        assert await sweep(live.app) == 0
    await end_call(client, room_id, v.doctor)
    for ws in (d, p):
        ended = await ws.expect("room.ended", room_id=room_id)
        assert (ended["reason"], ended["status"]) == ("ended", "completed")
    await assert_signed_in(client, v.doctor.headers)
    await assert_signed_in(client, v.patient.headers)
    assert (await get_room(client, room_id, v.patient))["status"] == "completed"
    assert (await get_appointment(client, v, v.patient))["status"] == "completed"
    await roundtrip(d)
    await roundtrip(p)
    # Left alone after the call, the page times out like any other.
    clock.advance(seconds=30 * 60)
    assert await sweep(live.app) == 2
    await assert_session_ended(d, "expired")
    await assert_session_ended(p, "expired")


@pytest.mark.parametrize("settings_overrides", [{"session_idle_timeout": IDLE,
                                                 "session_absolute_lifetime": 900}])
async def test_the_absolute_lifetime_closes_any_socket(factory, client, live, clock):
    v = await make_visit(factory)
    room_id = (await start_call(client, v, v.doctor))["id"]
    d, p = await connect(live.ws_url, v.doctor), await connect(live.ws_url, v.patient)
    await join(d, room_id)
    await join(p, room_id)
    for minute in range(14):
        clock.advance(seconds=60)
        await signal(d, room_id, minute)
        await signal(p, room_id, minute)
        assert await sweep(live.app) == 0
    clock.advance(seconds=60)  # 900 s after sign-in, however busy
    assert await sweep(live.app) == 2
    await assert_session_ended(d, "expired")
    await assert_session_ended(p, "expired")
    assert_unauthorized(await client.get(ME, headers=v.doctor.headers), "session_expired")
    # Their sockets left the room (its empty timer runs, as after any drop). The server records
    # the leave as it cleans the closed socket up, just after the client saw the close.
    await factory.login(v.doctor)
    for _ in range(50):
        room = await get_room(client, room_id, v.doctor)
        if all(person["left_at"] is not None for person in room["participants"]):
            break
        await asyncio.sleep(0.05)
    assert all(person["left_at"] is not None for person in room["participants"])


@contextmanager
def session_writes(app: FastAPI) -> Iterator[list[Any]]:
    """The parameters of every UPDATE of `auth_sessions` the app sends to the database meanwhile."""
    writes: list[Any] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE AUTH_SESSIONS"):
            writes.append(parameters)

    engine = runtime_of(app).engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield writes
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def session_id_of(app: FastAPI, user_id: uuid.UUID) -> uuid.UUID:
    async with runtime_of(app).session() as session:
        rows = await session.execute(select(AuthSession.id).where(AuthSession.user_id == user_id))
        return rows.scalar_one()


def writes_of(writes: list[Any], session_id: uuid.UUID) -> int:
    """How many of the UPDATEs were of this session (its id is among the bound parameters)."""
    keys = {str(session_id), session_id.hex}
    values = lambda p: p.values() if isinstance(p, dict) else p  # noqa: E731
    return sum(1 for p in writes if keys & {str(v) for v in values(p)}
               or session_id in set(values(p)))


@pytest.mark.parametrize(("settings_overrides", "interval"), [
    ({"session_idle_timeout": 1800, "ws_rate_per_second": 1000}, 450),
    ({"session_idle_timeout": IDLE, "ws_rate_per_second": 1000}, 150),
    ({"session_idle_timeout": 120, "ws_rate_per_second": 1000}, 60),
])
async def test_last_seen_is_written_at_most_every_quarter_timeout_and_minute(
        factory, client, live, clock, interval):
    """Sessions used every 10 s for 30 minutes, one over REST and one in a call: each is written
    once per max(idle / 4, 60 s), never more, and never comes near its expiry."""
    v = await make_visit(factory, duration_minutes=60)
    room_id = (await start_call(client, v, v.doctor))["id"]
    d = await connect(live.ws_url, v.doctor)
    await join(d, room_id)
    rest = await session_id_of(live.app, v.patient.id)
    socket = await session_id_of(live.app, v.doctor.id)
    minutes = 30
    with session_writes(live.app) as writes:
        for n in range(minutes * 6):
            clock.advance(seconds=10)
            await assert_signed_in(client, v.patient.headers)  # REST
            await signal(d, room_id, n)  # the socket
            assert await sweep(live.app) == 0
    expected = minutes * 60 // interval
    assert writes_of(writes, rest) == expected, writes
    # The socket's use is written by the sweeper, on its first pass after each interval.
    assert writes_of(writes, socket) == expected, writes
    assert len(writes) == 2 * expected
    await assert_signed_in(client, v.doctor.headers)


CHECKS = {"camera": "ok", "microphone": "ok", "network": None}


@pytest.mark.parametrize("settings_overrides", [{"session_idle_timeout": IDLE}])
async def test_a_patient_waiting_in_the_waiting_room_stays_signed_in_until_she_leaves(
        factory, client, live, clock):
    """A doctor running late never signs out the patient who waits for him; once she has left
    the waiting room, her open page times out like any other."""
    v = await make_visit(factory, starts_in=timedelta(minutes=10), duration_minutes=120)
    url = f"/api/v1/appointments/{v.id}/check-in"
    response = await client.post(url, json={"checks": CHECKS}, headers=v.patient.headers)
    assert response.status_code == 200, response.text
    ws = await connect(live.ws_url, v.patient)
    for _ in range(30):  # half an hour of waiting, three idle timeouts: only the page's pings
        clock.advance(seconds=60)
        await roundtrip(ws)
        assert await sweep(live.app) == 0
    await assert_signed_in(client, v.patient.headers)
    response = await client.delete(url, headers=v.patient.headers)
    assert response.status_code == 204, response.text
    for _ in range(9):
        clock.advance(seconds=60)
        await roundtrip(ws)
        assert await sweep(live.app) == 0
    clock.advance(seconds=61)
    assert await sweep(live.app) == 1
    await assert_session_ended(ws, "expired")
