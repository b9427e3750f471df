"""Chat over the WebSocket: stored before acked, fanned out to every device, never lost."""

from __future__ import annotations

import uuid

import pytest

from televisit.runtime import runtime_of
from televisit.signaling.frames import ChatMessage
from tests.chat.streaming import stream_through_drops
from tests.fixtures.live import WSClient
from tests.signaling.helpers import connect, make_visit, of_type, settle


def chat(visit, client_msg_id: str, body: str, **extra) -> dict:
    return {"type": "chat.send", "appointment_id": visit.id, "client_msg_id": client_msg_id,
            "body": body, **extra}


async def test_send_is_stored_before_the_ack_and_reaches_every_device(factory, client, live):
    v = await make_visit(factory)
    doctor_phone = await WSClient.connect(live.ws_url, await factory.login(v.doctor))
    doctor_laptop = await connect(live.ws_url, v.doctor)
    patient_phone = await WSClient.connect(live.ws_url, await factory.login(v.patient))
    patient_laptop = await connect(live.ws_url, v.patient)

    await patient_laptop.send(chat(v, "k1", "I have a fever", ref="r1"))
    ack = await patient_laptop.expect("chat.ack", ref="r1")
    # The ack means stored: the history already has it.
    history = (await client.get(f"/api/v1/appointments/{v.id}/messages",
                                headers=v.doctor.headers)).json()["items"]
    assert [(m["seq"], m["id"], m["body"]) for m in history] == [(1, ack["id"], "I have a fever")]
    assert ack == {"type": "chat.ack", "ref": "r1", "client_msg_id": "k1", "seq": 1, "id": ack["id"],
                   "appointment_id": v.id}

    for ws in (doctor_phone, doctor_laptop, patient_phone):
        frame = await ws.expect("chat.message")
        assert frame["message"] == history[0]
    # The sending socket hears it too (the server does not know which device shows what).
    assert of_type(patient_laptop.seen, "chat.message") == [{"type": "chat.message",
                                                            "message": history[0]}]

    # A retry is acked with the stored message and not delivered twice.
    await patient_laptop.send(chat(v, "k1", "I have a fever", ref="r2"))
    again = await patient_laptop.expect("chat.ack", ref="r2")
    assert (again["seq"], again["id"]) == (1, ack["id"])
    for ws, person in ((doctor_phone, v.doctor), (patient_phone, v.patient)):
        assert len(of_type(await settle(ws, live.app, person.id), "chat.message")) == 1

    # The doctor answers from the phone; the doctor's laptop shows it too.
    await doctor_phone.send(chat(v, "k1", "Since when?"))
    assert (await doctor_phone.expect("chat.ack"))["seq"] == 2
    assert (await doctor_laptop.expect("chat.message"))["message"]["body"] == "Since when?"
    assert (await patient_phone.expect("chat.message"))["message"]["sender_id"] == str(v.doctor.id)
    for ws in (doctor_phone, doctor_laptop, patient_phone, patient_laptop):
        await ws.close()


@pytest.mark.parametrize("settings_overrides", [{"chat_max_length": 10}])
async def test_refused_chat_frames_get_an_error_and_the_socket_stays(factory, live):
    v = await make_visit(factory)
    stranger = await factory.patient()
    ws = await connect(live.ws_url, v.patient)
    outsider = await connect(live.ws_url, stranger)

    cases = [
        (outsider, chat(v, "a", "hi"), "appointment_not_found"),
        (outsider, {"type": "chat.sync", "appointment_id": v.id, "after_seq": 0}, "appointment_not_found"),
        (ws, {"type": "chat.sync", "appointment_id": str(uuid.uuid4())}, "appointment_not_found"),
        (ws, chat(v, "b", "x" * 11), "message_too_long"),
        (ws, chat(v, "c", " \t "), "empty_message"),
        (ws, chat(v, "d", ""), "invalid_frame"),
        (ws, chat(v, "bad id!", "hi"), "invalid_frame"),
        (ws, chat(v, "e", 42), "invalid_frame"),
        (ws, chat(v, "f", "nul\x00byte"), "invalid_frame"),
        (ws, {"type": "chat.sync", "appointment_id": v.id, "after_seq": -1}, "invalid_frame"),
    ]
    for i, (sock, frame, code) in enumerate(cases):
        await sock.send({**frame, "ref": i})
        err = await sock.expect("error", ref=i)
        assert err["code"] == code, (frame, err)
    await ws.send(chat(v, "ok", "fine"))
    assert (await ws.expect("chat.ack"))["seq"] == 1  # no seq was spent on refusals
    assert of_type(await settle(outsider, live.app, stranger.id), "chat.message") == []
    await ws.close()
    await outsider.close()


async def test_no_loss_and_no_duplicate_across_forced_disconnects(factory, live):
    v = await make_visit(factory)
    await stream_through_drops(v, sender_url=live.ws_url, receiver_url=live.ws_url)


async def test_chat_survives_lost_pub_sub_messages(factory, live, monkeypatch):
    v = await make_visit(factory)
    receiver = await connect(live.ws_url, v.patient)
    sender = await connect(live.ws_url, v.doctor)
    broker = runtime_of(live.app).broker
    real_publish = broker.publish
    lost: list[int] = []

    async def flaky_publish(channel: str, event: object) -> None:
        if isinstance(event, ChatMessage) and channel.endswith(str(v.patient.id)):
            seq = event.message.seq
            if seq % 3 == 0:
                lost.append(seq)
                return  # dropped on the floor
            if seq % 3 == 1 and seq > 1:
                lost.append(seq)
                raise ConnectionError("redis went away")
        await real_publish(channel, event)

    monkeypatch.setattr(broker, "publish", flaky_publish)
    n = 20
    for i in range(n):
        await sender.send(chat(v, f"m{i}", f"body {i}"))
        assert (await sender.expect("chat.ack"))["seq"] == i + 1  # storing never depends on pub/sub
    live_seqs = {f["message"]["seq"] for f in of_type(await settle(receiver, live.app, v.patient.id),
                                                        "chat.message")}
    assert live_seqs == set(range(1, n + 1)) - set(lost) and lost  # some really were lost

    # What the client does after any hiccup (or on seeing a gap): sync from what it holds.
    held = {s: None for s in live_seqs}
    await receiver.send({"type": "chat.sync", "appointment_id": v.id, "after_seq": 0, "ref": "s"})
    synced = await receiver.expect("chat.synced", ref="s")
    assert synced == {"type": "chat.synced", "ref": "s", "appointment_id": v.id, "last_seq": n}
    replay = [f["message"] for f in receiver.seen if f.get("type") == "chat.message"]
    for message in replay:
        held[message["seq"]] = message["body"]
    assert sorted(held) == list(range(1, n + 1))
    assert [held[s] for s in sorted(held)] == [f"body {i}" for i in range(n)]
    await receiver.close()
    await sender.close()


@pytest.mark.parametrize("settings_overrides", [{"ws_send_queue": 10}])
async def test_a_long_replay_does_not_overflow_the_socket(factory, client, live):
    v = await make_visit(factory)
    n = 60
    for i in range(n):
        r = await client.post(f"/api/v1/appointments/{v.id}/messages",
                              json={"client_msg_id": f"m{i}", "body": f"{i}"}, headers=v.doctor.headers)
        assert r.status_code == 201
    ws = await connect(live.ws_url, v.patient)
    await ws.send({"type": "chat.sync", "appointment_id": v.id, "after_seq": 5})
    synced = await ws.expect("chat.synced")
    assert synced["last_seq"] == n
    replay = [f["message"]["seq"] for f in of_type(ws.seen, "chat.message")]
    assert replay == list(range(6, n + 1))
    await ws.send({"type": "ping", "ref": "still"})
    await ws.expect("pong", ref="still")
    await ws.close()


@pytest.mark.parametrize("settings_overrides", [{"ws_db_concurrency": 1}])
async def test_a_frame_waits_for_a_database_slot_in_memory_while_http_is_served(factory, client, live):
    """TELEVISIT_WS_DB_CONCURRENCY: sockets take at most that many database sessions at once; a
    frame beyond it waits its turn (it does not fail, nor wait in the connection pool), and HTTP
    requests do not queue behind it."""
    v = await make_visit(factory)
    ws = await connect(live.ws_url, v.patient)
    slots = runtime_of(live.app).ws_handlers._db_slots
    await slots.acquire()  # another socket's frame holds the instance's only slot
    try:
        await ws.send(chat(v, "k1", "Are you there?", ref="r1"))
        with pytest.raises(TimeoutError):  # no ack: nothing at all comes within half a second
            await ws.recv(timeout=0.5)
        history = await client.get(f"/api/v1/appointments/{v.id}/messages", headers=v.doctor.headers)
        assert history.status_code == 200 and history.json()["items"] == []  # not stored yet
    finally:
        slots.release()
    ack = await ws.expect("chat.ack", ref="r1")
    assert ack["seq"] == 1 and of_type(ws.seen, "error") == []
    history = await client.get(f"/api/v1/appointments/{v.id}/messages", headers=v.doctor.headers)
    assert [m["body"] for m in history.json()["items"]] == ["Are you there?"]
    await ws.close()
