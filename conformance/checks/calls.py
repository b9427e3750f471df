"""Calls: ringing on every device, answer elsewhere, decline, hang-up before answer, and a real
WebRTC call between two aiortc peers through the server's signaling."""

from __future__ import annotations

from typing import Any

from conformance.client import Person, Socket, expect_status, require
from conformance.runner import Check, Context

VIDEO_FRAMES = 10


async def _ringing(ctx: Context, doctor: Person, room: dict[str, Any], appointment: dict[str, Any],
                   *devices: Socket) -> None:
    for device in devices:
        ring = await device.expect("call.incoming", room_id=room["id"])
        require(ring["appointment_id"] == appointment["id"] and ring["from"]["id"] == doctor.id,
                f"{device.name}: call.incoming is {ring}")


async def ringing(ctx: Context) -> None:
    """`call.incoming` on every device of the callee; the one that joins answers, the others get
    `call.answered`; calling again returns the live room (200)."""
    doctor, patient = await ctx.people("doctor", "patient")
    visit = await ctx.book(doctor, patient)
    phone = await ctx.socket(patient, "patient phone")
    laptop = await ctx.socket(patient, "patient laptop")
    desk = await ctx.socket(doctor, "doctor socket")
    call = expect_status(await ctx.api.post(f"/api/v1/appointments/{visit['id']}/call", token=doctor.token),
                         201)
    room = call["room"]
    require(room["appointment_id"] == visit["id"] and room["status"] == "in-progress",
            f"the new room is {room}")
    require(isinstance(call["ice_servers"], list), "the call has no ice_servers list")
    await _ringing(ctx, doctor, room, visit, phone, laptop)
    live = await ctx.call(patient, visit, status=200)
    require(live["id"] == room["id"], "calling a live visit again made another room")
    started = await ctx.appointment(patient, visit["id"])
    require(started["status"] == "in_progress" and started["room_id"] == room["id"],
            f"the visit during the call is {started['status']} with room {started['room_id']}")
    joined = await desk.request({"type": "room.join", "room_id": room["id"]}, "room.joined")
    require(joined["polite"] is False, "the doctor must be the impolite peer (polite: false)")
    answer = await phone.request({"type": "room.join", "room_id": room["id"]}, "room.joined")
    require(answer["polite"] is True, "the patient must be the polite peer (polite: true)")
    await laptop.expect("call.answered", room_id=room["id"])
    arrived = await desk.expect("participant.joined", room_id=room["id"])
    require(arrived["participant"]["user_id"] == patient.id, f"participant.joined is {arrived}")
    ended = expect_status(await ctx.api.post(f"/api/v1/rooms/{room['id']}/end", token=patient.token), 200)
    require(ended["status"] == "completed" and ended["end_reason"] == "ended", f"the ended room is {ended}")
    for socket in (desk, phone):
        await socket.expect("room.ended", room_id=room["id"], reason="ended")
    done = await ctx.appointment(doctor, visit["id"])
    require(done["status"] == "completed", f"a call both joined leaves the visit {done['status']}")


async def decline(ctx: Context) -> None:
    """The callee declines: the caller gets `call.declined`, the room ends as `declined`, the visit
    is scheduled again; the caller cannot decline its own call."""
    doctor, patient = await ctx.people("doctor", "patient")
    visit = await ctx.book(doctor, patient)
    desk = await ctx.socket(doctor, "doctor socket")
    phone = await ctx.socket(patient, "patient phone")
    room = await ctx.call(doctor, visit)
    await _ringing(ctx, doctor, room, visit, phone)
    await desk.send({"type": "call.decline", "room_id": room["id"], "ref": "own"})
    own = await desk.expect("error", ref="own")
    require(own["code"] == "not_callee", f"the caller's own decline got {own['code']!r}")
    await phone.request({"type": "call.decline", "room_id": room["id"]}, "call.declined.ok")
    declined = await desk.expect("call.declined", room_id=room["id"])
    require(declined["by"] == patient.id and declined["appointment_id"] == visit["id"],
            f"call.declined is {declined}")
    after = await ctx.room(doctor, room["id"])
    require(after["status"] != "in-progress" and after["end_reason"] == "declined", f"the room is {after}")
    again = await ctx.appointment(doctor, visit["id"])
    require(again["status"] == "scheduled", f"a declined call leaves the visit {again['status']}")


async def cancelled(ctx: Context) -> None:
    """The caller hangs up before an answer: every device of the callee gets `call.cancelled`."""
    doctor, patient = await ctx.people("doctor", "patient")
    visit = await ctx.book(doctor, patient)
    phone = await ctx.socket(patient, "patient phone")
    laptop = await ctx.socket(patient, "patient laptop")
    room = await ctx.call(doctor, visit)
    await _ringing(ctx, doctor, room, visit, phone, laptop)
    expect_status(await ctx.api.post(f"/api/v1/rooms/{room['id']}/end", token=doctor.token), 200)
    for device in (phone, laptop):
        gone = await device.expect("call.cancelled", room_id=room["id"])
        require(gone["appointment_id"] == visit["id"], f"{device.name}: call.cancelled is {gone}")
    again = await ctx.appointment(patient, visit["id"])
    require(again["status"] == "scheduled",
            f"a call hung up while ringing leaves the visit {again['status']}")


async def video(ctx: Context) -> None:
    """Two aiortc peers complete a real call through `signal` frames: each decodes the other's video;
    `media.state` and `signal` are relayed with `from`; hanging up ends it for both."""
    from conformance.media import Camera, VideoPeer  # aiortc loads in a second: only for this check

    # Different sizes and brightness, so each side can tell it sees the *other* side's picture.
    doctor_camera, patient_camera = Camera(192, 144, 200), Camera(160, 120, 60)
    doctor, patient = await ctx.people("doctor", "patient")
    visit = await ctx.book(doctor, patient)
    d_socket = await ctx.socket(doctor, "doctor socket")
    p_socket = await ctx.socket(patient, "patient socket")
    d, p = VideoPeer(d_socket, doctor_camera), VideoPeer(p_socket, patient_camera)
    ctx.on_close(d.close)
    ctx.on_close(p.close)
    room = await ctx.call(doctor, visit)
    await p_socket.expect("call.incoming", room_id=room["id"])
    await d.join(room["id"], doctor.id)
    await p.join(room["id"], patient.id)
    await d.sees(patient_camera, VIDEO_FRAMES, within=30)
    await p.sees(doctor_camera, VIDEO_FRAMES, within=30)
    offer = await p_socket.expect("signal", room_id=room["id"])
    require(offer["from"] == doctor.id, f"a relayed signal says from {offer['from']!r}, not the doctor")
    await d_socket.send({"type": "media.state", "room_id": room["id"], "audio": False, "video": True})
    muted = await p_socket.expect("media.state", room_id=room["id"])
    require((muted["from"], muted["audio"], muted["video"]) == (doctor.id, False, True),
            f"the relayed media.state is {muted}")
    # The optional fields (screen share, audio only) are relayed too, and default to off.
    require((muted.get("screen"), muted.get("audio_only")) == (False, False),
            f"a media.state without screen/audio_only is relayed as {muted}, not with both false")
    await d_socket.send({"type": "media.state", "room_id": room["id"], "audio": True, "video": True,
                         "screen": True, "audio_only": True, "audio_only_reason": "network"})
    sharing = await p_socket.expect("media.state", room_id=room["id"])
    require((sharing.get("screen"), sharing.get("audio_only"), sharing.get("audio_only_reason"))
            == (True, True, "network"), f"the relayed media.state is {sharing}")
    expect_status(await ctx.api.post(f"/api/v1/rooms/{room['id']}/end", token=doctor.token), 200)
    for socket in (d_socket, p_socket):
        await socket.expect("room.ended", room_id=room["id"])
    held = await ctx.room(patient, room["id"])
    require({x["user_id"] for x in held["participants"]} == {doctor.id, patient.id},
            f"the room's participants are {held['participants']}")


CHECKS = (
    Check("calls.ringing", ringing, "call.incoming on every device, call.answered on the others"),
    Check("calls.decline", decline, "decline → call.declined, room ends declined"),
    Check("calls.cancel", cancelled, "hang-up before answer → call.cancelled on every device"),
    Check("calls.video", video, "two aiortc peers complete a call through the server's signaling"),
)
