"""Room rules (Twilio's): two identities only, duplicate identity, an ended room, and the timers."""

from __future__ import annotations

import asyncio
import time

from conformance.client import expect_error, expect_status, require
from conformance.runner import Check, Context, Options

SWEEP_MARGIN = 5.0  # seconds a server may take past a deadline to end the room (it sweeps timers)


def _needs_unused(options: Options) -> str | None:
    if options.room_unused_timeout is None:
        return "needs a server started with a short room unused timeout: pass --room-unused-timeout"
    return None


def _needs_empty(options: Options) -> str | None:
    if options.room_empty_timeout is None:
        return "needs a server started with a short room empty timeout: pass --room-empty-timeout"
    return None


async def strangers(ctx: Context) -> None:
    """Only the visit's doctor and patient: anyone else is told the room does not exist."""
    doctor, patient, other_patient, other_doctor = await ctx.people("doctor", "patient", "patient", "doctor")
    visit = await ctx.book(doctor, patient)
    room = await ctx.call(doctor, visit)
    for person in (other_patient, other_doctor):
        socket = await ctx.socket(person, f"{person.role} stranger socket")
        await socket.send({"type": "room.join", "room_id": room["id"], "ref": "intruder"})
        refused = await socket.expect("error", ref="intruder")
        require(refused["code"] == "room_not_found", f"a stranger's room.join got {refused['code']!r}")
        expect_error(await ctx.api.get(f"/api/v1/rooms/{room['id']}", token=person.token), 404)
        expect_error(await ctx.api.post(f"/api/v1/rooms/{room['id']}/end", token=person.token), 404)
        expect_error(await ctx.api.post(f"/api/v1/appointments/{visit['id']}/call", token=person.token), 404)
    require((await ctx.room(doctor, room["id"]))["status"] == "in-progress", "a stranger ended the room")


async def replaced(ctx: Context) -> None:
    """The same identity joining again replaces its older connection (`room.replaced`), which
    stays open but is out of the room."""
    doctor, patient = await ctx.people("doctor", "patient")
    visit = await ctx.book(doctor, patient)
    room = await ctx.call(doctor, visit)
    old = await ctx.socket(doctor, "doctor's first tab")
    await old.request({"type": "room.join", "room_id": room["id"]}, "room.joined")
    new = await ctx.socket(doctor, "doctor's second tab")
    await new.request({"type": "room.join", "room_id": room["id"]}, "room.joined")
    told = await old.expect("room.replaced", room_id=room["id"])
    require(told["reason"] == "duplicate-identity", f"room.replaced says {told['reason']!r}")
    await old.request({"type": "ping"}, "pong")
    await old.send({"type": "signal", "room_id": room["id"], "data": {"probe": 1}, "ref": "stale"})
    stale = await old.expect("error", ref="stale")
    require(stale["code"] == "not_in_room", f"a signal from the replaced connection got {stale['code']!r}")
    seen = await ctx.room(doctor, room["id"])
    mine = [p for p in seen["participants"] if p["user_id"] == doctor.id]
    require(len(mine) == 1 and mine[0]["left_at"] is None, f"the doctor is in the room as {mine}")


async def ended(ctx: Context) -> None:
    """An ended room refuses joins (`room_ended`) and signals (`not_in_room`); calling again makes
    a new room."""
    doctor, patient = await ctx.people("doctor", "patient")
    visit = await ctx.book(doctor, patient)
    room = await ctx.call(doctor, visit)
    desk = await ctx.socket(doctor, "doctor socket")
    await desk.request({"type": "room.join", "room_id": room["id"]}, "room.joined")
    expect_status(await ctx.api.post(f"/api/v1/rooms/{room['id']}/end", token=doctor.token), 200)
    await desk.expect("room.ended", room_id=room["id"], reason="ended")
    expect_error(await ctx.api.post(f"/api/v1/rooms/{room['id']}/end", token=doctor.token), 409)
    phone = await ctx.socket(patient, "patient socket")
    await phone.send({"type": "room.join", "room_id": room["id"], "ref": "late"})
    late = await phone.expect("error", ref="late")
    require(late["code"] == "room_ended", f"joining an ended room got {late['code']!r}")
    await desk.send({"type": "signal", "room_id": room["id"], "data": {"probe": 1}, "ref": "after"})
    after = await desk.expect("error", ref="after")
    require(after["code"] == "not_in_room", f"a signal in an ended room got {after['code']!r}")
    new = await ctx.call(patient, visit)
    require(new["id"] != room["id"] and new["status"] == "in-progress",
            "calling again did not make a new room")


async def unused_timeout(ctx: Context) -> None:
    """Nobody joins: the room ends `failed`/`unused-timeout` after the timeout; the callee's
    ringing stops (`call.cancelled`); the visit is scheduled again."""
    limit = float(ctx.options.room_unused_timeout or 0)
    doctor, patient = await ctx.people("doctor", "patient")
    visit = await ctx.book(doctor, patient)
    phone = await ctx.socket(patient, "patient phone")
    started = time.monotonic()
    room = await ctx.call(doctor, visit)
    gone = await phone.expect("call.cancelled", within=limit + SWEEP_MARGIN, room_id=room["id"])
    waited = time.monotonic() - started
    require(gone["reason"] == "unused-timeout", f"call.cancelled says {gone['reason']!r}")
    require(waited >= limit - 1, f"the room ended after {waited:.1f} s, before the {limit:g} s timeout")
    after = await ctx.room(doctor, room["id"])
    require((after["status"], after["end_reason"]) == ("failed", "unused-timeout"), f"the room is {after}")
    require((await ctx.appointment(doctor, visit["id"]))["status"] == "scheduled",
            "an unused room must leave the visit scheduled")


async def empty_timeout(ctx: Context) -> None:
    """The last participant leaves: the room ends `completed`/`empty-timeout` after the timeout."""
    limit = float(ctx.options.room_empty_timeout or 0)
    doctor, patient = await ctx.people("doctor", "patient")
    visit = await ctx.book(doctor, patient)
    room = await ctx.call(doctor, visit)
    desk = await ctx.socket(doctor, "doctor socket")
    await desk.request({"type": "room.join", "room_id": room["id"]}, "room.joined")
    # Timed from the leave's sending, the earliest the server can have emptied the room: from
    # its answer, a `room.left` slow to arrive (a busy machine) shortened the wait seen here.
    left = time.monotonic()
    await desk.request({"type": "room.leave", "room_id": room["id"]}, "room.left")
    over = await desk.expect("room.ended", within=limit + SWEEP_MARGIN, room_id=room["id"])
    waited = time.monotonic() - left
    require(over["reason"] == "empty-timeout", f"room.ended says {over['reason']!r}")
    require(waited >= limit - 1,
            f"the room ended {waited:.1f} s after it emptied, before the {limit:g} s timeout")
    after = await ctx.room(doctor, room["id"])
    require((after["status"], after["end_reason"]) == ("completed", "empty-timeout"), f"the room is {after}")


async def rejoin(ctx: Context) -> None:
    """A rejoin inside the empty timeout keeps the room past the first deadline."""
    limit = float(ctx.options.room_empty_timeout or 0)
    doctor, patient = await ctx.people("doctor", "patient")
    visit = await ctx.book(doctor, patient)
    room = await ctx.call(doctor, visit)
    desk = await ctx.socket(doctor, "doctor socket")
    await desk.request({"type": "room.join", "room_id": room["id"]}, "room.joined")
    # The server emptied the room between the leave's sending and its answer: the rejoin goes out
    # half the timeout after the first (a slow answer must not push it past the deadline), the
    # room is looked at well after the second (the latest the first deadline can be).
    sent = time.monotonic()
    await desk.request({"type": "room.leave", "room_id": room["id"]}, "room.left")
    left = time.monotonic()
    await asyncio.sleep(max(0.0, sent + limit / 2 - time.monotonic()))
    back = await desk.request({"type": "room.join", "room_id": room["id"]}, "room.joined")
    require(back["room"]["id"] == room["id"], "the rejoin landed in another room")
    await asyncio.sleep(max(0.0, left + limit + SWEEP_MARGIN / 2 - time.monotonic()))
    kept = await ctx.room(doctor, room["id"])
    require(kept["status"] == "in-progress", f"the room ended ({kept['end_reason']}) although the doctor "
                                             "rejoined inside the empty timeout")
    require(not [f for f in desk.frames if f.get("type") == "room.ended"], "room.ended after a rejoin")
    expect_status(await ctx.api.post(f"/api/v1/rooms/{room['id']}/end", token=doctor.token), 200)


CHECKS = (
    Check("rooms.strangers", strangers, "only the visit's two people: others get room_not_found / 404"),
    Check("rooms.replaced", replaced, "the same identity again → room.replaced on the older connection"),
    Check("rooms.ended", ended, "an ended room refuses joins and signals; calling again makes a new room"),
    Check("rooms.unused-timeout", unused_timeout, "nobody joins → failed, unused-timeout", _needs_unused),
    Check("rooms.empty-timeout", empty_timeout, "everyone left → completed, empty-timeout", _needs_empty),
    Check("rooms.rejoin", rejoin, "a rejoin inside the empty timeout keeps the room", _needs_empty),
)
