"""Chat and calls leave records over REST and over the WebSocket (with the frame's request id);
relayed signals and media state, the hot path, leave none."""

from __future__ import annotations

from tests.audit.helpers import CLIENT_IP, audit_rows, one_row
from tests.signaling.helpers import connect, end_call, join, make_visit, roundtrip, start_call


async def test_chat_over_rest_is_recorded_without_its_text(factory, client, app):
    v = await make_visit(factory)
    url = f"/api/v1/appointments/{v.id}/messages"
    sent = await client.post(url, json={"client_msg_id": "m1", "body": "my chest hurts"},
                             headers={**v.patient.headers, "X-Request-ID": "chat-rest-1"})
    assert sent.status_code == 201
    row = await one_row(app, action="chat.send")
    assert (row.actor_id, row.actor_role, str(row.object_id)) == (v.patient.id, "patient", v.id)
    assert (row.request_id, row.client_ip, row.outcome) == ("chat-rest-1", CLIENT_IP, "success")
    assert row.data == {"message_id": sent.json()["id"], "new": True}
    assert "chest" not in str(row.data)

    assert (await client.get(url, params={"after_seq": 0}, headers=v.doctor.headers)).status_code == 200
    read = await one_row(app, action="chat.read")
    assert (read.actor_id, str(read.object_id)) == (v.doctor.id, v.id)
    assert read.data == {"after_seq": 0, "count": 1}

    stranger = await factory.patient()
    refused = await client.post(url, json={"client_msg_id": "m2", "body": "hello?"}, headers=stranger.headers)
    assert refused.status_code == 404
    denied = await one_row(app, action="chat.send", outcome="denied")
    assert (denied.actor_id, str(denied.object_id)) == (stranger.id, v.id)


async def test_chat_over_the_websocket_is_recorded_with_the_frames_request_id(factory, live, app):
    v = await make_visit(factory)
    ws = await connect(live.ws_url, v.patient)
    await ws.send({"type": "chat.send", "appointment_id": v.id, "client_msg_id": "w1", "body": "hi",
                   "ref": "s1"})
    ack = await ws.expect("chat.ack", ref="s1")
    await ws.send({"type": "chat.sync", "appointment_id": v.id, "after_seq": 0, "ref": "y1"})
    await ws.expect("chat.synced", ref="y1")
    await ws.close()

    sent = await one_row(app, action="chat.send")
    assert (sent.actor_id, str(sent.object_id), sent.data) == (v.patient.id, v.id,
                                                               {"message_id": ack["id"], "new": True})
    assert sent.client_ip == "127.0.0.1" and sent.user_agent and "websockets" in sent.user_agent.lower()
    assert sent.request_id and sent.request_id.startswith("ws-")
    synced = await one_row(app, action="chat.read")
    assert synced.request_id.startswith("ws-") and synced.request_id != sent.request_id


async def test_a_call_start_join_leave_end_and_decline_are_recorded(factory, client, live, app):
    v = await make_visit(factory)
    room = await start_call(client, v, v.doctor)
    started = await one_row(app, action="call.start")
    assert (started.actor_id, str(started.object_id)) == (v.doctor.id, v.id)
    assert started.data == {"room_id": room["id"], "new": True}

    doctor_ws, patient_ws = await connect(live.ws_url, v.doctor), await connect(live.ws_url, v.patient)
    await join(doctor_ws, room["id"])
    await join(patient_ws, room["id"])
    for _ in range(20):  # the hot path: relayed, never recorded
        await doctor_ws.send({"type": "signal", "room_id": room["id"], "data": {"candidate": {}}})
        await doctor_ws.send({"type": "media.state", "room_id": room["id"], "audio": True, "video": False})
    await roundtrip(doctor_ws)
    await patient_ws.send({"type": "room.leave", "room_id": room["id"], "ref": "bye"})
    await patient_ws.expect("room.left", ref="bye")
    await end_call(client, room["id"], v.doctor)

    joins = await audit_rows(app, action="call.join")
    assert {(r.actor_id, r.actor_role) for r in joins} == {(v.doctor.id, "doctor"), (v.patient.id, "patient")}
    assert all(str(r.object_id) == v.id and r.data["room_id"] == room["id"] for r in joins)
    assert all(r.request_id.startswith("ws-") for r in joins)
    left = await one_row(app, action="call.leave", actor_id=v.patient.id)
    assert (left.actor_role, str(left.object_id), left.data) == ("patient", v.id, {"room_id": room["id"]})
    ended = await one_row(app, action="call.end")
    assert (ended.actor_id, ended.data) == (v.doctor.id, {"room_id": room["id"], "reason": "ended"})
    recorded = {r.action for r in await audit_rows(app)}
    assert not any(a.startswith(("signal", "media")) for a in recorded)

    second = await start_call(client, v, v.doctor)
    await patient_ws.send({"type": "call.decline", "room_id": second["id"], "ref": "no"})
    await patient_ws.expect("call.declined.ok", ref="no")
    declined = await one_row(app, action="call.decline")
    assert (declined.actor_id, declined.data) == (v.patient.id, {"room_id": second["id"]})
    assert (await one_row(app, action="call.end", actor_id=v.patient.id)).data["reason"] == "declined"
    for ws in (doctor_ws, patient_ws):
        await ws.close()


async def test_joining_another_visits_room_is_a_recorded_denial(factory, client, live, app):
    v = await make_visit(factory)
    room = await start_call(client, v, v.doctor)
    stranger = await factory.doctor()
    ws = await connect(live.ws_url, stranger)
    await ws.send({"type": "room.join", "room_id": room["id"], "ref": "j"})
    error = await ws.expect("error", ref="j")
    assert error["code"] == "room_not_found"
    await ws.close()

    denied = await one_row(app, action="call.join", outcome="denied")
    assert (denied.actor_id, denied.actor_role, str(denied.object_id)) == (stranger.id, "doctor", v.id)
    assert denied.data == {"room_id": room["id"]} and denied.request_id.startswith("ws-")
