from datetime import timedelta

from tests.fixtures.live import WSClient


async def test_call_ring_join_signal_chat(factory, client, live, clock):
    doctor, patient = await factory.doctor(), await factory.patient()
    appt = await factory.appointment(doctor, patient, starts_in=timedelta(minutes=5))
    d = await WSClient.connect(live.ws_url, doctor.token)
    p = await WSClient.connect(live.ws_url, patient.token)
    r = await client.post(f"/api/v1/appointments/{appt['id']}/call", headers=doctor.headers)
    assert r.status_code == 201, r.text
    room_id = r.json()["room"]["id"]
    ring = await p.expect("call.incoming")
    assert ring["room_id"] == room_id
    await d.send({"type": "room.join", "room_id": room_id, "ref": 1})
    joined = await d.expect("room.joined")
    assert joined["polite"] is False
    await p.send({"type": "room.join", "room_id": room_id})
    assert (await p.expect("room.joined"))["polite"] is True
    await d.expect("participant.joined")
    await d.send({"type": "signal", "room_id": room_id, "data": {"sdp": "x"}})
    sig = await p.expect("signal")
    assert sig["data"] == {"sdp": "x"} and sig["from"] == str(doctor.id)
    await p.send({"type": "chat.send", "appointment_id": appt["id"], "client_msg_id": "m1", "body": "hi"})
    ack = await p.expect("chat.ack")
    assert ack["seq"] == 1
    msg = await d.expect("chat.message")
    assert msg["message"]["body"] == "hi"
    await d.send({"type": "bogus"})
    err = await d.expect("error")
    assert err["code"] == "unknown_type"
    r = await client.post(f"/api/v1/rooms/{room_id}/end", headers=patient.headers)
    assert r.status_code == 200
    assert (await d.expect("room.ended"))["reason"] == "ended"
    await d.close()
    await p.close()
