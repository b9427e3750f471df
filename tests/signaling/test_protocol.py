"""Bad input on the WebSocket: refused with the documented error or close code, never a crash,
and never felt by anyone else (a bystander keeps talking to the server throughout)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import websockets
from websockets.exceptions import InvalidStatus

from televisit.runtime import runtime_of
from televisit.signaling.frames import Ping
from tests.fixtures.live import WSClient
from tests.signaling.helpers import closed_with, connect, end_call, make_visit, roundtrip, start_call

ALLOWED = "https://app.example"
SETTINGS = {"ws_auth_timeout": 1.0, "allowed_origins": [ALLOWED]}


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return dict(SETTINGS)


@pytest.fixture
async def bystander(factory, live) -> AsyncIterator[WSClient]:
    """Someone else's healthy connection; it must not notice anything."""
    ws = await connect(live.ws_url, await factory.doctor())
    yield ws
    await roundtrip(ws)
    await ws.close()


async def raw(live) -> WSClient:
    return await WSClient.connect(live.ws_url)


# -- authentication ----------------------------------------------------------------------------
async def test_no_auth_frame_in_time_closes_4401(live, bystander):
    ws = await raw(live)
    assert await closed_with(ws) == 4401
    assert [f["code"] for f in ws.seen] == ["auth_timeout"]


async def test_a_bad_first_frame_gets_an_error_then_4401(factory, client, live, bystander):
    person = await factory.patient()
    cases: list[tuple[str, str]] = [
        (json.dumps({"type": "auth", "token": "made-up"}), "invalid_token"),
        (json.dumps({"type": "auth", "token": "x" * 257}), "invalid_frame"),
        (json.dumps({"type": "auth", "token": ""}), "invalid_frame"),
        (json.dumps({"type": "auth"}), "invalid_frame"),
        (json.dumps({"type": "ping"}), "not_authenticated"),
        (json.dumps({"type": "room.join", "room_id": str(uuid.uuid4())}), "not_authenticated"),
        (json.dumps({"type": "nope", "ref": 1}), "unknown_type"),
        ("{not json", "malformed_json"),
        (json.dumps(["auth", person.token]), "invalid_frame"),
    ]
    for text, code in cases:
        ws = await raw(live)
        await ws.ws.send(text)
        assert await closed_with(ws) == 4401, text
        assert [f["code"] for f in ws.seen if f["type"] == "error"] == [code], (text, ws.seen)
        await roundtrip(bystander)
    # The token in the URL is not a way in either.
    ws = await WSClient.connect(f"{live.ws_url}?token={person.token}")
    assert await closed_with(ws) == 4401


async def test_expired_and_revoked_tokens_are_refused(factory, client, live, clock):
    person = await factory.patient()
    clock.advance(minutes=31)  # past the 30-minute idle timeout
    ws = await raw(live)
    await ws.send({"type": "auth", "token": person.token})
    assert await closed_with(ws) == 4401
    assert ws.seen[0]["code"] == "session_expired"

    await factory.login(person)
    assert (await client.post("/api/v1/auth/logout", headers=person.headers)).status_code == 204
    ws = await raw(live)
    await ws.send({"type": "auth", "token": person.token, "ref": "a"})
    assert await closed_with(ws) == 4401
    assert ws.seen[0] == {"type": "error", "code": "invalid_token", "ref": None,
                          "message": ws.seen[0]["message"], "details": None}


async def test_auth_answers_ready(factory, live):
    person = await factory.doctor()
    ws = await raw(live)
    await ws.send({"type": "auth", "token": person.token, "ref": "hello"})
    ready = await ws.expect("ready")
    assert ready["ref"] == "hello" and ready["user_id"] == str(person.id) and ready["connection_id"]
    await ws.send({"type": "auth", "token": person.token, "ref": "again"})
    assert (await ws.expect("error", ref="again"))["code"] == "already_authenticated"
    await roundtrip(ws)
    await ws.close()


# -- origin --------------------------------------------------------------------------------------
async def test_foreign_origins_are_refused_at_the_handshake(factory, live, bystander):
    person = await factory.patient()
    port = live.port
    for origin in ("http://evil.example", f"http://127.0.0.1:{port + 1}", "null",
                   "https://app.example.evil.example"):
        with pytest.raises(InvalidStatus) as info:
            await websockets.connect(live.ws_url, origin=origin)  # type: ignore[arg-type]
        assert info.value.response.status_code == 403, origin
    for origin in (f"http://127.0.0.1:{port}", ALLOWED, None):
        ws = await WSClient.connect(live.ws_url, person.token, origin=origin)
        await roundtrip(ws)
        await ws.close()


# -- bad frames after auth -------------------------------------------------------------------------
async def test_bad_frames_get_an_error_and_the_connection_stays(factory, live, bystander):
    v = await make_visit(factory)
    ws = await connect(live.ws_url, v.patient)
    room_id = str(uuid.uuid4())
    cases: list[tuple[str | bytes, str, Any]] = [
        ("{not json", "malformed_json", None),
        ("", "malformed_json", None),
        ("[1, 2]", "invalid_frame", None),
        ('"auth"', "invalid_frame", None),
        ("null", "invalid_frame", None),
        (json.dumps({"type": "dance", "ref": "r1"}), "unknown_type", "r1"),
        (json.dumps({"ref": 5}), "unknown_type", 5),
        (json.dumps({"type": 7}), "unknown_type", None),
        (json.dumps({"type": "room.join", "room_id": 123, "ref": 2}), "invalid_frame", 2),
        (json.dumps({"type": "room.join", "room_id": "not-a-uuid"}), "invalid_frame", None),
        (json.dumps({"type": "room.join"}), "invalid_frame", None),
        (json.dumps({"type": "media.state", "room_id": room_id, "audio": "loud", "video": True}),
         "invalid_frame", None),
        (json.dumps({"type": "signal", "room_id": room_id, "data": "sdp"}), "invalid_frame", None),
        (json.dumps({"type": "ping", "extra": True, "ref": "x"}), "invalid_frame", "x"),
        (json.dumps({"type": "ping", "ref": "r" * 65}), "invalid_frame", None),
        (json.dumps({"type": "ping", "ref": {"a": 1}}), "invalid_frame", None),
        (json.dumps({"type": "chat.sync", "appointment_id": v.id, "after_seq": 2**40}),
         "invalid_frame", None),
        (b"\x00\x01binary", "binary_not_supported", None),
    ]
    for payload, code, ref in cases:
        await ws.ws.send(payload)
        err = await ws.expect("error")
        assert (err["code"], err["ref"]) == (code, ref), (payload, err)
        assert set(err) == {"type", "code", "message", "ref", "details"}
        await roundtrip(ws)
        await roundtrip(bystander)
    details = next(f for f in ws.seen if f.get("code") == "invalid_frame" and f["ref"] == 2)["details"]
    assert details[0]["loc"][-1] == "room_id"
    await ws.close()


async def test_room_frames_outside_a_room_are_refused(factory, client, live, bystander):
    v = await make_visit(factory)
    other = await make_visit(factory)
    ws = await connect(live.ws_url, v.patient)
    mine = await start_call(client, v, v.doctor)
    theirs = await start_call(client, other, other.doctor)
    cases = [
        ({"type": "signal", "room_id": mine["id"], "data": {"sdp": "x"}}, "not_in_room"),
        ({"type": "media.state", "room_id": mine["id"], "audio": True, "video": False}, "not_in_room"),
        ({"type": "room.leave", "room_id": mine["id"]}, "not_in_room"),
        ({"type": "signal", "room_id": theirs["id"], "data": {}}, "not_in_room"),
        ({"type": "room.join", "room_id": str(uuid.uuid4())}, "room_not_found"),
        ({"type": "room.join", "room_id": theirs["id"]}, "room_not_found"),
        ({"type": "call.decline", "room_id": theirs["id"]}, "room_not_found"),
    ]
    for i, (frame, code) in enumerate(cases):
        await ws.send({**frame, "ref": i})
        assert (await ws.expect("error", ref=i))["code"] == code, frame
    # A stranger's join attempt left no trace in their room.
    r = await client.get(f"/api/v1/rooms/{theirs['id']}", headers=other.doctor.headers)
    assert r.json()["participants"] == []

    await end_call(client, mine["id"], v.doctor)
    await ws.send({"type": "room.join", "room_id": mine["id"], "ref": "late"})
    assert (await ws.expect("error", ref="late"))["code"] == "room_ended"
    await ws.send({"type": "call.decline", "room_id": mine["id"], "ref": "late2"})
    assert (await ws.expect("error", ref="late2"))["code"] == "room_ended"
    await roundtrip(ws)
    await ws.close()


# -- limits ----------------------------------------------------------------------------------------
async def test_an_oversized_frame_closes_with_1009(factory, live, bystander):
    v = await make_visit(factory)
    ws = await connect(live.ws_url, v.patient)
    # Big but within the limit: handled like any frame (refused here), the socket stays.
    await ws.send({"type": "signal", "room_id": str(uuid.uuid4()), "data": {"sdp": "x" * 65_000},
                   "ref": "big"})
    assert (await ws.expect("error", ref="big"))["code"] == "not_in_room"
    await roundtrip(ws)

    await ws.ws.send("x" * (64 * 1024 + 1))
    assert await closed_with(ws) == 1009
    assert ws.seen[-1]["code"] == "frame_too_large"
    # Multi-byte text is measured in bytes.
    ws = await connect(live.ws_url, v.patient)
    await ws.ws.send(json.dumps({"type": "ping", "ref": "é" * 33_000}, ensure_ascii=False))
    assert await closed_with(ws) == 1009


@pytest.mark.parametrize("settings_overrides", [{**SETTINGS, "ws_rate_per_second": 10,
                                                 "ws_rate_burst": 40}])
async def test_a_flood_closes_with_1008(factory, live, bystander):
    for payload in ('{"type": "ping"}', b"\x00"):  # binary frames count too
        ws = await connect(live.ws_url, await factory.patient())
        try:
            for _ in range(400):
                await ws.ws.send(payload)
        except websockets.ConnectionClosed:
            pass  # closed while still sending: fine
        assert await closed_with(ws) == 1008
        assert ws.seen[-1]["code"] == "rate_limited"
        await roundtrip(bystander)
    # The limit is per connection: a fresh one from the same user is fine.
    ws = await connect(live.ws_url, await factory.patient())
    await roundtrip(ws)
    await ws.close()


# -- logout ----------------------------------------------------------------------------------------
async def test_logout_closes_that_tokens_sockets_with_4401(factory, client, live, bystander):
    person = await factory.patient()
    doomed_token = person.token
    assert doomed_token
    tab1 = await WSClient.connect(live.ws_url, doomed_token)
    tab2 = await WSClient.connect(live.ws_url, doomed_token)
    other_sign_in = await WSClient.connect(live.ws_url, await factory.login(person))

    r = await client.post("/api/v1/auth/logout", headers={"Authorization": f"Bearer {doomed_token}"})
    assert r.status_code == 204
    for ws in (tab1, tab2):
        assert await closed_with(ws) == 4401
        assert {"type": "session.ended", "reason": "logged-out"} in ws.seen
    await roundtrip(other_sign_in)
    await other_sign_in.close()
    assert (await client.get("/livez")).status_code == 200


async def test_a_server_bug_is_an_internal_error_and_the_socket_stays(factory, live, bystander,
                                                                    monkeypatch):
    ws = await connect(live.ws_url, await factory.patient())

    async def broken(conn, frame):
        raise RuntimeError("a bug")

    monkeypatch.setitem(runtime_of(live.app).ws_handlers.table, Ping, broken)
    await ws.send({"type": "ping", "ref": "boom"})
    err = await ws.expect("error", ref="boom")
    assert err["code"] == "internal_error" and "bug" not in err["message"]
    monkeypatch.undo()
    await roundtrip(ws)
    await ws.close()


async def test_a_draining_instance_sends_new_sockets_elsewhere(factory, live, bystander):
    runtime_of(live.app).draining = True
    try:
        ws = await raw(live)
        assert await closed_with(ws) == 1012
        assert ws.seen == [{"type": "server.draining"}]
    finally:
        runtime_of(live.app).draining = False


async def test_the_server_survives_all_of_it(client, live, bystander):
    """Runs last in this module: after everything above, the same server still answers."""
    await roundtrip(bystander)
    r = await client.get("/livez")
    assert r.status_code == 200


async def test_a_join_sent_right_behind_auth_is_answered_after_ready(factory, client, live):
    """A call page opened from nothing sends `room.join` right behind `auth`, without waiting for
    `ready` (web/src/boot/earlyCall.ts): the server reads a socket's frames in order, so the join
    is answered after `ready` and she is in the room."""
    v = await make_visit(factory)
    room = await start_call(client, v, v.doctor)
    ws = await WSClient.connect(live.ws_url)
    await ws.send({"type": "auth", "token": v.patient.token})
    await ws.send({"type": "room.join", "room_id": room["id"], "ref": "early"})
    ready = await ws.expect("ready")
    joined = await ws.expect("room.joined", ref="early")
    assert ws.seen.index(ready) < ws.seen.index(joined)
    assert not [f for f in ws.seen if f["type"] == "error"], ws.seen
    r = await client.get(f"/api/v1/rooms/{room['id']}", headers=v.doctor.headers)
    assert [p["user_id"] for p in r.json()["participants"]] == [str(v.patient.id)]
    await ws.close()
