"""Starting, ringing, answering, declining and ending a call, as the two people see it."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from tests.fixtures.live import WSClient
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

ROOM_KEYS = {"id", "appointment_id", "status", "created_at", "ended_at", "end_reason", "participants"}


async def test_start_call_creates_the_room_once_and_moves_the_visit_in_progress(factory, client, clock):
    v = await make_visit(factory)
    response = await client.post(f"/api/v1/appointments/{v.id}/call", headers=v.doctor.headers)
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"room", "ice_servers", "ice_transport_policy"}
    assert body["ice_transport_policy"] == "all"  # the default: direct paths allowed
    room = body["room"]
    assert set(room) == ROOM_KEYS
    assert room["appointment_id"] == v.id and room["status"] == "in-progress"
    assert room["ended_at"] is None and room["end_reason"] is None and room["participants"] == []
    assert body["ice_servers"] == []  # nothing configured: host candidates only

    # Again, by either side: the same live room, 200.
    for person in (v.doctor, v.patient):
        again = await client.post(f"/api/v1/appointments/{v.id}/call", headers=person.headers)
        assert again.status_code == 200, again.text
        assert again.json()["room"]["id"] == room["id"]

    appointment = await get_appointment(client, v, v.patient)
    assert appointment["status"] == "in_progress" and appointment["room_id"] == room["id"]
    for person in (v.doctor, v.patient):
        assert (await get_room(client, room["id"], person))["id"] == room["id"]


async def test_call_incoming_rings_every_device_of_the_other_party_only(factory, client, live):
    v = await make_visit(factory)
    second_token = await factory.login(v.patient)  # a second sign-in: the phone
    laptop = await connect(live.ws_url, v.patient)
    phone = await WSClient.connect(live.ws_url, second_token)
    tab = await connect(live.ws_url, v.patient)  # the same token in another tab
    caller = await connect(live.ws_url, v.doctor)

    room = await start_call(client, v, v.doctor)

    for ws in (laptop, phone, tab):
        ring = await ws.expect("call.incoming")
        assert ring == {"type": "call.incoming", "room_id": room["id"], "appointment_id": v.id,
                        "from": {"id": str(v.doctor.id), "full_name": v.doctor.full_name,
                                 "role": "doctor"}, "auto_join": False}
        update = await ws.expect("appointment.updated")
        assert update["appointment"]["status"] == "in_progress"
    frames = await settle(caller, live.app, v.doctor.id)
    assert of_type(frames, "call.incoming") == []  # the caller does not ring
    assert of_type(frames, "appointment.updated")[0]["appointment"]["room_id"] == room["id"]

    # Answering on the laptop stops the ringing on the phone and the tab, not on the laptop.
    await join(laptop, room["id"])
    for ws in (phone, tab):
        assert (await ws.expect("call.answered"))["room_id"] == room["id"]
    assert of_type(await settle(laptop, live.app, v.patient.id), "call.answered") == []
    for ws in (laptop, phone, tab, caller):
        await ws.close()


async def test_a_stranger_cannot_see_end_or_start_the_call(factory, client):
    v = await make_visit(factory)
    room = await start_call(client, v, v.doctor)
    stranger_doctor, stranger_patient, admin = (
        await factory.doctor(), await factory.patient(), await factory.admin())
    for stranger in (stranger_doctor, stranger_patient, admin):
        h = stranger.headers
        assert_error(await client.get(f"/api/v1/rooms/{room['id']}", headers=h), 404, "room_not_found")
        assert_error(await client.post(f"/api/v1/rooms/{room['id']}/end", headers=h), 404,
                     "room_not_found")
        assert_error(await client.post(f"/api/v1/appointments/{v.id}/call", headers=h), 404,
                     "appointment_not_found")
    # A room that does not exist looks the same as someone else's.
    assert_error(await client.get(f"/api/v1/rooms/{uuid.uuid4()}", headers=v.doctor.headers), 404,
                 "room_not_found")
    assert_error(await client.get("/api/v1/rooms/not-a-uuid", headers=v.doctor.headers), 422,
                 "validation_error")
    assert_error(await client.get(f"/api/v1/rooms/{room['id']}"), 401, "not_authenticated")
    assert_error(await client.post(f"/api/v1/appointments/{v.id}/call"), 401, "not_authenticated")
    # Nothing changed for the real participants.
    assert (await get_room(client, room["id"], v.patient))["status"] == "in-progress"


async def test_cancelled_past_and_too_early_visits_cannot_start(factory, client, clock):
    doctor, patient = await factory.doctor(), await factory.patient()
    cancelled = await factory.appointment(doctor, patient, starts_in=timedelta(minutes=5))
    r = await client.post(f"/api/v1/appointments/{cancelled['id']}/cancel", json={},
                          headers=patient.headers)
    assert r.status_code == 200, r.text
    assert_error(await client.post(f"/api/v1/appointments/{cancelled['id']}/call",
                                   headers=doctor.headers), 409, "appointment_not_startable")

    early = await factory.appointment(doctor, patient, starts_in=timedelta(hours=2))
    assert_error(await client.post(f"/api/v1/appointments/{early['id']}/call",
                                   headers=patient.headers), 409, "appointment_too_early")
    clock.advance(minutes=105)  # 15 minutes before: the waiting room opens
    await factory.login(patient)  # (the old tokens went idle)
    await factory.login(doctor)
    r = await client.post(f"/api/v1/appointments/{early['id']}/call", headers=patient.headers)
    assert r.status_code == 201, r.text

    over = await factory.appointment(doctor, patient, starts_in=timedelta(hours=5))
    clock.advance(hours=6)  # the visit's whole slot went by
    await factory.login(doctor)
    assert_error(await client.post(f"/api/v1/appointments/{over['id']}/call",
                                   headers=doctor.headers), 409, "appointment_not_startable")
    r = await client.get(f"/api/v1/appointments/{over['id']}", headers=doctor.headers)
    assert r.json()["status"] == "missed" and r.json()["room_id"] is None


async def test_join_answer_signal_and_hang_up(factory, client, live):
    v = await make_visit(factory)
    d, p = await connect(live.ws_url, v.doctor), await connect(live.ws_url, v.patient)
    room = await start_call(client, v, v.doctor)
    await p.expect("call.incoming")

    joined_d = await join(d, room["id"])
    assert joined_d["polite"] is False and joined_d["ice_servers"] == []
    assert joined_d["room"]["id"] == room["id"]
    assert [x["user_id"] for x in joined_d["participants"]] == [str(v.doctor.id)]
    joined_p = await join(p, room["id"])
    assert joined_p["polite"] is True
    assert {x["user_id"] for x in joined_p["participants"]} == {str(v.doctor.id), str(v.patient.id)}
    seen = await d.expect("participant.joined")
    assert seen["participant"]["user_id"] == str(v.patient.id) and seen["participant"]["role"] == "patient"
    assert "connection_id" not in seen  # routing hints stay on the server

    await d.send({"type": "signal", "room_id": room["id"], "data": {"description": {"type": "offer"}}})
    got = await p.expect("signal")
    assert got == {"type": "signal", "room_id": room["id"], "from": str(v.doctor.id),
                   "data": {"description": {"type": "offer"}}}
    await p.send({"type": "media.state", "room_id": room["id"], "audio": False, "video": True})
    state = await d.expect("media.state")
    # A client that predates screen share and audio-only still sends a valid frame: they read false.
    assert state == {"type": "media.state", "room_id": room["id"], "from": str(v.patient.id),
                     "audio": False, "video": True, "screen": False, "audio_only": False,
                     "audio_only_reason": None}
    await roundtrip(d)
    await roundtrip(p)
    # Relayed to the other participant only, never echoed.
    assert of_type(await settle(d, live.app, v.doctor.id), "signal") == []
    assert of_type(await settle(p, live.app, v.patient.id), "media.state") == []
    await d.send({"type": "media.state", "room_id": room["id"], "audio": True, "video": True,
                  "screen": True, "audio_only": True, "audio_only_reason": "network"})
    state = await p.expect("media.state")
    assert (state["screen"], state["audio_only"], state["audio_only_reason"]) == (True, True, "network")
    # A reason without audio-only means nothing: the relay does not pass it on.
    await d.send({"type": "media.state", "room_id": room["id"], "audio": True, "video": True,
                  "audio_only": False, "audio_only_reason": "manual"})
    state = await p.expect("media.state")
    assert (state["audio_only"], state["audio_only_reason"]) == (False, None)

    r = await client.post(f"/api/v1/rooms/{room['id']}/end", headers=v.patient.headers)
    assert r.status_code == 200, r.text
    ended = r.json()
    assert ended["status"] == "completed" and ended["end_reason"] == "ended"
    assert ended["ended_at"] is not None
    assert all(x["left_at"] is not None for x in ended["participants"]), ended
    for ws, person in ((d, v.doctor), (p, v.patient)):
        frames = await settle(ws, live.app, person.id)
        assert of_type(frames, "room.ended") == [
            {"type": "room.ended", "room_id": room["id"], "reason": "ended", "status": "completed"}]
        assert of_type(frames, "call.cancelled") == []
    assert (await get_appointment(client, v, v.doctor))["status"] == "completed"
    assert_error(await client.post(f"/api/v1/rooms/{room['id']}/end", headers=v.doctor.headers),
                 409, "room_ended")
    await d.close()
    await p.close()


async def test_the_callee_declines(factory, client, live):
    v = await make_visit(factory)
    d, p = await connect(live.ws_url, v.doctor), await connect(live.ws_url, v.patient)
    room = await start_call(client, v, v.doctor)
    await join(d, room["id"])
    await p.expect("call.incoming")

    # The caller cannot decline their own call.
    await d.send({"type": "call.decline", "room_id": room["id"], "ref": "x"})
    err = await d.expect("error", ref="x")
    assert err["code"] == "not_callee"

    await p.send({"type": "call.decline", "room_id": room["id"], "ref": 7})
    assert (await p.expect("call.declined.ok"))["ref"] == 7
    declined = await d.expect("call.declined")
    assert declined == {"type": "call.declined", "room_id": room["id"], "appointment_id": v.id,
                        "by": str(v.patient.id)}
    frames = await settle(d, live.app, v.doctor.id)
    assert [f["reason"] for f in of_type(frames, "room.ended")] == ["declined"]
    frames = await settle(p, live.app, v.patient.id)
    assert of_type(frames, "call.cancelled") == []  # they declined; nothing to stop ringing

    r = await get_room(client, room["id"], v.doctor)
    assert r["status"] == "completed" and r["end_reason"] == "declined"
    # The visit did not happen: it can be called again.
    appointment = await get_appointment(client, v, v.doctor)
    assert appointment["status"] == "scheduled", appointment
    again = await start_call(client, v, v.doctor)
    assert again["id"] != room["id"]
    await d.close()
    await p.close()


async def test_the_caller_hangs_up_before_an_answer(factory, client, live):
    v = await make_visit(factory)
    second = await factory.login(v.patient)
    d = await connect(live.ws_url, v.doctor)
    p1 = await connect(live.ws_url, v.patient)
    p2 = await WSClient.connect(live.ws_url, second)
    room = await start_call(client, v, v.doctor)
    await join(d, room["id"])
    r = await client.post(f"/api/v1/rooms/{room['id']}/end", headers=v.doctor.headers)
    assert r.status_code == 200, r.text
    for ws in (p1, p2):
        await ws.expect("call.incoming")
        cancelled = await ws.expect("call.cancelled")
        assert cancelled == {"type": "call.cancelled", "room_id": room["id"], "appointment_id": v.id,
                             "reason": "ended"}
    for ws, person in ((d, v.doctor), (p1, v.patient)):
        assert len(of_type(await settle(ws, live.app, person.id), "room.ended")) == 1
    # Nobody answered: the visit is still to be held.
    assert (await get_appointment(client, v, v.patient))["status"] == "scheduled"
    for ws in (d, p1, p2):
        await ws.close()


async def test_the_same_identity_joining_again_replaces_the_older_socket(factory, client, live):
    v = await make_visit(factory)
    d = await connect(live.ws_url, v.doctor)
    old = await connect(live.ws_url, v.patient)
    room = await start_call(client, v, v.doctor)
    await join(d, room["id"])
    await join(old, room["id"])
    await d.expect("participant.joined")

    new = await connect(live.ws_url, v.patient)
    await join(new, room["id"])
    replaced = await old.expect("room.replaced")
    assert replaced == {"type": "room.replaced", "room_id": room["id"], "reason": "duplicate-identity"}
    rejoined = await d.expect("participant.joined")
    assert rejoined["participant"]["user_id"] == str(v.patient.id)

    await d.send({"type": "signal", "room_id": room["id"], "data": {"candidate": "c1"}})
    assert (await new.expect("signal"))["data"] == {"candidate": "c1"}
    await roundtrip(d)
    assert of_type(await settle(old, live.app, v.patient.id), "signal") == []
    # The older socket is out of the room but still open (chat keeps working there).
    await old.send({"type": "signal", "room_id": room["id"], "data": {}, "ref": "o"})
    assert (await old.expect("error", ref="o"))["code"] == "not_in_room"
    await roundtrip(old)

    # When the replaced socket goes away the identity stays in the room.
    abort(old)
    await roundtrip(new)
    await old.ws.wait_closed()
    await new.send({"type": "signal", "room_id": room["id"], "data": {"candidate": "c2"}})
    assert (await d.expect("signal"))["data"] == {"candidate": "c2"}
    frames = await settle(d, live.app, v.doctor.id)
    assert of_type(frames, "participant.left") == []
    current = await get_room(client, room["id"], v.doctor)
    assert all(x["left_at"] is None for x in current["participants"]), current
    await d.close()
    await new.close()


async def test_a_dropped_socket_counts_as_leaving(factory, client, live):
    v = await make_visit(factory)
    d, p = await connect(live.ws_url, v.doctor), await connect(live.ws_url, v.patient)
    room = await start_call(client, v, v.doctor)
    await join(d, room["id"])
    await join(p, room["id"])
    abort(p)
    left = await d.expect("participant.left")
    assert left["participant"]["user_id"] == str(v.patient.id) and left["participant"]["left_at"]
    current = await get_room(client, room["id"], v.doctor)
    by_user = {x["user_id"]: x for x in current["participants"]}
    assert by_user[str(v.patient.id)]["left_at"] is not None
    assert by_user[str(v.doctor.id)]["left_at"] is None

    # A clean room.leave is the same, and the leaver hears room.left.
    await d.send({"type": "room.leave", "room_id": room["id"], "ref": "bye"})
    assert (await d.expect("room.left", ref="bye"))["room_id"] == room["id"]
    current = await get_room(client, room["id"], v.doctor)
    assert all(x["left_at"] is not None for x in current["participants"])
    assert current["status"] == "in-progress"  # until the empty timeout
    await d.close()


async def test_both_starting_at_once_get_the_same_room(factory, client, live):
    v = await make_visit(factory)
    d, p = await connect(live.ws_url, v.doctor), await connect(live.ws_url, v.patient)
    responses = await asyncio.gather(*(
        client.post(f"/api/v1/appointments/{v.id}/call", headers=person.headers)
        for person in (v.doctor, v.patient)))
    assert sorted(r.status_code for r in responses) == [200, 201], [r.text for r in responses]
    assert len({r.json()["room"]["id"] for r in responses}) == 1
    # Only the one who created it rings the other.
    creator = v.doctor if responses[0].status_code == 201 else v.patient
    other = v.patient if creator is v.doctor else v.doctor
    sockets = {v.doctor.id: d, v.patient.id: p}
    assert len(of_type(await settle(sockets[other.id], live.app, other.id), "call.incoming")) == 1
    assert of_type(await settle(sockets[creator.id], live.app, creator.id), "call.incoming") == []
    await d.close()
    await p.close()
