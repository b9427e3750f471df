"""Twilio's room timers, driven by the fake clock and run by hand, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from televisit.core.db import session_scope
from televisit.rooms.models import Instance, RoomParticipant
from televisit.runtime import runtime_of
from tests.signaling.helpers import (
    abort,
    assert_error,
    connect,
    get_appointment,
    get_room,
    join,
    make_visit,
    of_type,
    roundtrip,
    settle,
    start_call,
)

UNUSED = EMPTY = 300  # the defaults, seconds
MAX_DURATION = 4 * 3600


async def sweep(app) -> list[str]:
    return [str(room_id) for room_id in await runtime_of(app).room_timers.run_once()]


async def test_unused_room_fails_and_stops_the_ringing(factory, client, live, clock):
    v = await make_visit(factory)
    ringing = await connect(live.ws_url, v.patient)
    caller = await connect(live.ws_url, v.doctor)
    room = await start_call(client, v, v.doctor)
    await ringing.expect("call.incoming")

    clock.advance(seconds=UNUSED - 1)
    assert await sweep(live.app) == []
    assert (await get_room(client, room["id"], v.doctor))["status"] == "in-progress"

    clock.advance(seconds=2)
    assert await sweep(live.app) == [room["id"]]
    assert await sweep(live.app) == []  # once
    current = await get_room(client, room["id"], v.patient)
    assert current["status"] == "failed" and current["end_reason"] == "unused-timeout"
    assert current["ended_at"] is not None
    appointment = await get_appointment(client, v, v.doctor)
    assert appointment["status"] == "scheduled"

    cancelled = await ringing.expect("call.cancelled")
    assert cancelled == {"type": "call.cancelled", "room_id": room["id"], "appointment_id": v.id,
                         "reason": "unused-timeout"}
    for ws, person in ((ringing, v.patient), (caller, v.doctor)):
        frames = await settle(ws, live.app, person.id)
        assert of_type(frames, "room.ended") == [{"type": "room.ended", "room_id": room["id"],
                                                  "reason": "unused-timeout", "status": "failed"}]
        assert of_type(frames, "appointment.updated")[-1]["appointment"]["status"] == "scheduled"

    # An ended room refuses joins; starting the call again makes a new room.
    await ringing.send({"type": "room.join", "room_id": room["id"], "ref": "late"})
    assert (await ringing.expect("error", ref="late"))["code"] == "room_ended"
    await ringing.send({"type": "signal", "room_id": room["id"], "data": {}, "ref": "sig"})
    assert (await ringing.expect("error", ref="sig"))["code"] == "not_in_room"
    fresh = await start_call(client, v, v.patient)
    assert fresh["id"] != room["id"] and fresh["status"] == "in-progress"
    assert (await caller.expect("call.incoming"))["room_id"] == fresh["id"]
    await ringing.close()
    await caller.close()


async def test_empty_room_completes_after_both_leave(factory, client, live, clock):
    v = await make_visit(factory)
    d, p = await connect(live.ws_url, v.doctor), await connect(live.ws_url, v.patient)
    room = await start_call(client, v, v.doctor)
    await join(d, room["id"])
    await join(p, room["id"])
    clock.advance(seconds=UNUSED + 60)  # joined in time: the unused timer no longer applies
    assert await sweep(live.app) == []

    await p.send({"type": "room.leave", "room_id": room["id"]})
    await p.expect("room.left")
    abort(d)  # the doctor's network drops: that is leaving too
    await d.ws.wait_closed()
    await roundtrip(p)
    for _ in range(100):  # the server notices the drop on its own schedule (bounded)
        current = await get_room(client, room["id"], v.patient)
        if all(x["left_at"] for x in current["participants"]):
            break
    assert all(x["left_at"] for x in current["participants"]), current

    clock.advance(seconds=EMPTY - 1)
    assert await sweep(live.app) == []
    clock.advance(seconds=2)
    assert await sweep(live.app) == [room["id"]]
    current = await get_room(client, room["id"], v.doctor)
    assert current["status"] == "completed" and current["end_reason"] == "empty-timeout"
    assert (await get_appointment(client, v, v.patient))["status"] == "completed"
    frames = await settle(p, live.app, v.patient.id)
    assert [f["reason"] for f in of_type(frames, "room.ended")] == ["empty-timeout"]
    assert of_type(frames, "call.cancelled") == []  # the patient had answered
    await p.close()


async def test_a_rejoin_inside_the_empty_window_keeps_the_room(factory, client, live, clock):
    v = await make_visit(factory)
    d, p = await connect(live.ws_url, v.doctor), await connect(live.ws_url, v.patient)
    room = await start_call(client, v, v.doctor)
    await join(d, room["id"])
    await join(p, room["id"])
    for ws in (d, p):
        await ws.send({"type": "room.leave", "room_id": room["id"]})
        await ws.expect("room.left")

    clock.advance(seconds=EMPTY - 60)
    assert await sweep(live.app) == []
    rejoined = await join(p, room["id"])  # the patient's app reconnects
    assert rejoined["room"]["status"] == "in-progress"
    clock.advance(seconds=EMPTY)  # well past the first window
    assert await sweep(live.app) == []
    current = await get_room(client, room["id"], v.doctor)
    patient = next(x for x in current["participants"] if x["user_id"] == str(v.patient.id))
    assert current["status"] == "in-progress" and patient["left_at"] is None, current

    await join(d, room["id"])
    assert (await p.expect("participant.joined"))["participant"]["user_id"] == str(v.doctor.id)
    await d.send({"type": "signal", "room_id": room["id"], "data": {"n": 1}})
    assert (await p.expect("signal"))["data"] == {"n": 1}

    # Leaving again starts a new window, measured from the last leave.
    for ws in (d, p):
        await ws.send({"type": "room.leave", "room_id": room["id"]})
        await ws.expect("room.left")
    clock.advance(seconds=EMPTY - 1)
    assert await sweep(live.app) == []
    clock.advance(seconds=1)
    assert await sweep(live.app) == [room["id"]]
    await d.close()
    await p.close()


async def test_maximum_duration_ends_a_live_call(factory, client, live, clock):
    v = await make_visit(factory)
    d, p = await connect(live.ws_url, v.doctor), await connect(live.ws_url, v.patient)
    room = await start_call(client, v, v.doctor)
    await join(d, room["id"])
    await join(p, room["id"])

    clock.advance(seconds=MAX_DURATION - 1)
    assert await sweep(live.app) == []
    clock.advance(seconds=1)
    assert await sweep(live.app) == [room["id"]]
    for ws, person in ((d, v.doctor), (p, v.patient)):
        frames = await settle(ws, live.app, person.id)
        assert of_type(frames, "room.ended") == [{"type": "room.ended", "room_id": room["id"],
                                                  "reason": "max-duration", "status": "completed"}]
        assert of_type(frames, "participant.left") == []
    # Four hours on, the REST tokens went idle; the sockets stay signed in.
    await factory.login(v.doctor)
    current = await get_room(client, room["id"], v.doctor)
    assert current["status"] == "completed" and current["end_reason"] == "max-duration"
    assert all(x["left_at"] for x in current["participants"])

    # The ended room refuses joins and signals; the sockets themselves keep working.
    await p.send({"type": "signal", "room_id": room["id"], "data": {}, "ref": 1})
    assert (await p.expect("error", ref=1))["code"] == "not_in_room"
    await d.send({"type": "room.join", "room_id": room["id"], "ref": 2})
    assert (await d.expect("error", ref=2))["code"] == "room_ended"
    await roundtrip(d)
    assert_error(await client.post(f"/api/v1/rooms/{room['id']}/end", headers=v.doctor.headers),
                 409, "room_ended")
    await d.close()
    await p.close()


async def test_participants_of_a_crashed_instance_are_released(factory, client, live, clock):
    """An instance that stops beating cannot keep its participants (and so the room) alive."""
    v = await make_visit(factory)
    d, p = await connect(live.ws_url, v.doctor), await connect(live.ws_url, v.patient)
    room = await start_call(client, v, v.doctor)
    await join(d, room["id"])
    await join(p, room["id"])
    await sweep(live.app)  # this instance beats
    # Pretend the patient's socket lived on another instance that beat once and then died.
    async with session_scope(runtime_of(live.app).sessionmaker) as session:
        session.add(Instance(id="crashed-1", started_at=clock.now(), heartbeat_at=clock.now()))
        await session.flush()
        await session.execute(update(RoomParticipant).where(RoomParticipant.user_id == v.patient.id)
                              .values(instance_id="crashed-1"))
    clock.advance(seconds=10)
    await sweep(live.app)
    assert all(x["left_at"] is None for x in (await get_room(client, room["id"], v.doctor))["participants"])

    clock.advance(seconds=30)  # well past four missed beats
    assert await sweep(live.app) == []
    left = await d.expect("participant.left")
    assert left["participant"]["user_id"] == str(v.patient.id)
    by_user = {x["user_id"]: x for x in (await get_room(client, room["id"], v.doctor))["participants"]}
    assert by_user[str(v.patient.id)]["left_at"] and by_user[str(v.doctor.id)]["left_at"] is None
    await d.close()
    await p.close()


@pytest.mark.parametrize("settings_overrides", [{"room_timers_enabled": True, "room_sweep_interval": 0.05}])
async def test_the_background_loop_ends_rooms_by_itself(factory, client, live, clock):
    v = await make_visit(factory)
    ringing = await connect(live.ws_url, v.patient)
    room = await start_call(client, v, v.doctor)
    await ringing.expect("call.incoming")
    clock.advance(seconds=UNUSED + 1)
    cancelled = await ringing.expect("call.cancelled")  # nobody ran the timers by hand
    assert cancelled["room_id"] == room["id"] and cancelled["reason"] == "unused-timeout"
    await ringing.close()
