"""ICE servers: STUN always, TURN with coturn `use-auth-secret` credentials for participants only."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid

import pytest

from televisit.rooms.ice import turn_credentials
from televisit.runtime import runtime_of
from tests.signaling.helpers import (
    assert_error,
    closed_with,
    connect,
    end_call,
    join,
    make_visit,
    roundtrip,
    start_call,
)

SECRET = "coturn-shared-secret"
TURN = {"stun_urls": ["stun:stun.example.org:3478"],
        "turn_urls": ["turn:turn.example.org:3478?transport=udp", "turns:turn.example.org:5349"],
        "turn_secret": SECRET, "turn_credential_ttl": 600}
NOW = 1898845200  # 2030-03-04T09:00Z, the fake clock's start


def test_turn_credentials_follow_coturn_rest_api():
    username, credential = turn_credentials(SECRET, "u-1", 1700000000)
    assert username == "1700000000:u-1"
    expected = base64.b64encode(hmac.new(SECRET.encode(), username.encode(), hashlib.sha1).digest())
    assert credential == expected.decode()


@pytest.mark.parametrize("settings_overrides", [TURN])
async def test_participants_get_time_limited_turn_credentials(factory, client, live):
    v = await make_visit(factory)
    response = await client.post(f"/api/v1/appointments/{v.id}/call", headers=v.doctor.headers)
    servers = response.json()["ice_servers"]
    assert servers[0] == {"urls": TURN["stun_urls"], "username": None, "credential": None}
    turn = servers[1]
    assert turn["urls"] == TURN["turn_urls"]
    assert turn["username"] == f"{NOW + 600}:{v.doctor.id}"
    assert turn["credential"] == turn_credentials(SECRET, v.doctor.id, NOW + 600)[1]

    ws = await connect(live.ws_url, v.patient)
    joined = await join(ws, response.json()["room"]["id"])
    turn = joined["ice_servers"][1]
    assert turn["username"] == f"{NOW + 600}:{v.patient.id}"  # each gets their own
    assert turn["credential"] == turn_credentials(SECRET, v.patient.id, NOW + 600)[1]
    await ws.close()

    # Nobody else gets any (the call endpoint is a 404 for them).
    stranger = await factory.doctor()
    r = await client.post(f"/api/v1/appointments/{v.id}/call", headers=stranger.headers)
    assert_error(r, 404, "appointment_not_found")
    assert "ice_servers" not in r.text


async def test_without_turn_configured_there_are_no_relay_credentials(factory, client):
    v = await make_visit(factory)
    room = await start_call(client, v, v.doctor)
    again = await client.post(f"/api/v1/appointments/{v.id}/call", headers=v.patient.headers)
    assert again.json()["room"]["id"] == room["id"] and again.json()["ice_servers"] == []


# -- TELEVISIT_ICE_TRANSPORT_POLICY: a clinic's privacy option ----------------------------------------

@pytest.mark.parametrize("settings_overrides", [{**TURN, "ice_transport_policy": "relay"}, TURN],
                         ids=["relay", "default"])
async def test_the_transport_policy_goes_out_with_every_set_of_ice_servers(factory, client, live,
                                                                            settings_overrides):
    """The call answer, `room.joined` and `ice.servers` all carry it: a client builds (or rebuilds)
    its connection from any of them. `all` unless the clinic chose `relay`."""
    policy = settings_overrides.get("ice_transport_policy", "all")
    v = await make_visit(factory)
    response = await client.post(f"/api/v1/appointments/{v.id}/call", headers=v.doctor.headers)
    assert response.json()["ice_transport_policy"] == policy
    room_id = response.json()["room"]["id"]
    ws = await connect(live.ws_url, v.patient)
    assert (await join(ws, room_id))["ice_transport_policy"] == policy
    assert (await refresh(ws, room_id))["ice_transport_policy"] == policy
    await ws.close()


# -- short-lived credentials, refreshed with `ice.refresh` ------------------------------------------
SHORT_ROOM = {**TURN, "turn_credential_ttl": 3600, "room_max_duration": 1800}


def expiry_of(servers: list[dict]) -> int:
    return int(servers[1]["username"].split(":", 1)[0])


async def refresh(ws, room_id: str, ref: str = "ice") -> dict:
    await ws.send({"type": "ice.refresh", "room_id": room_id, "ref": ref})
    return await ws.expect("ice.servers", ref=ref)


@pytest.mark.parametrize("settings_overrides", [SHORT_ROOM])
async def test_credentials_last_the_rooms_remaining_time_within_bounds(factory, client, live, clock):
    v = await make_visit(factory)
    response = await client.post(f"/api/v1/appointments/{v.id}/call", headers=v.doctor.headers)
    room_id = response.json()["room"]["id"]
    assert expiry_of(response.json()["ice_servers"]) == NOW + 1800  # the room's whole length
    ws = await connect(live.ws_url, v.patient)
    await join(ws, room_id)

    clock.advance(seconds=600)
    fresh = await refresh(ws, room_id)
    assert fresh["room_id"] == room_id
    assert expiry_of(fresh["ice_servers"]) == NOW + 1800  # what is left of the room: 1200 s
    assert fresh["expires_at"] == "2030-03-04T09:30:00Z"
    turn = fresh["ice_servers"][1]
    assert turn["credential"] == turn_credentials(SECRET, v.patient.id, NOW + 1800)[1]

    clock.advance(seconds=1650 - 600)  # 150 s left: never less than the minimum (300 s)
    assert expiry_of((await refresh(ws, room_id, "late"))["ice_servers"]) == NOW + 1650 + 300
    await ws.close()


@pytest.mark.parametrize("settings_overrides", [{**TURN, "turn_credential_ttl": 3600}])
async def test_credentials_never_last_more_than_the_ttl(factory, client, live, clock):
    v = await make_visit(factory)
    room_id = (await start_call(client, v, v.doctor))["id"]
    ws = await connect(live.ws_url, v.doctor)
    joined = await join(ws, room_id)
    assert expiry_of(joined["ice_servers"]) == NOW + 3600  # a 4-hour room, an hour at most
    sweeper = runtime_of(live.app).session_sweeper
    for _ in range(5):  # 50 minutes of call: pings in the room keep the session alive
        clock.advance(seconds=600)
        await roundtrip(ws)
        assert await sweeper.run_once() == 0
    assert expiry_of((await refresh(ws, room_id))["ice_servers"]) == NOW + 3000 + 3600
    await ws.close()


@pytest.mark.parametrize("settings_overrides", [TURN])
async def test_only_a_participant_of_a_live_room_gets_fresh_credentials(factory, client, live):
    v = await make_visit(factory)
    room_id = (await start_call(client, v, v.doctor))["id"]
    stranger = await connect(live.ws_url, await factory.doctor())
    await stranger.send({"type": "ice.refresh", "room_id": room_id, "ref": "x"})
    error = await stranger.expect("error", ref="x")
    assert error["code"] == "room_not_found"
    await stranger.send({"type": "ice.refresh", "room_id": str(uuid.uuid4()), "ref": "y"})
    assert (await stranger.expect("error", ref="y"))["code"] == "room_not_found"
    await roundtrip(stranger)  # the socket lives on
    assert not any(f["type"] == "ice.servers" for f in stranger.seen)

    patient = await connect(live.ws_url, v.patient)  # a participant, before joining: allowed
    assert (await refresh(patient, room_id))["ice_servers"][1]["username"].endswith(str(v.patient.id))
    await end_call(client, room_id, v.doctor)
    await patient.send({"type": "ice.refresh", "room_id": room_id, "ref": "ended"})
    assert (await patient.expect("error", ref="ended"))["code"] == "room_ended"
    for ws in (stranger, patient):
        await ws.close()


@pytest.mark.parametrize("settings_overrides", [{**TURN, "session_idle_timeout": 600}])
async def test_no_credentials_after_the_session_ended(factory, client, live, clock):
    v = await make_visit(factory)
    room_id = (await start_call(client, v, v.doctor))["id"]
    # Logged out: the socket is closed before anything more can be asked on it.
    ws = await connect(live.ws_url, v.doctor)
    await join(ws, room_id)
    assert (await client.post("/api/v1/auth/logout", headers=v.doctor.headers)).status_code == 204
    assert await closed_with(ws) == 4401
    assert {"type": "session.ended", "reason": "logged-out"} in ws.seen

    # Expired a moment before the sweeper came by: the refresh re-reads the session and refuses.
    patient = await connect(live.ws_url, v.patient)
    clock.advance(seconds=600)
    await patient.send({"type": "ice.refresh", "room_id": room_id, "ref": "r"})
    assert await closed_with(patient) == 4401
    assert {"type": "session.ended", "reason": "expired"} in patient.seen
    assert not any(f["type"] == "ice.servers" for f in patient.seen)


@pytest.mark.parametrize("settings_overrides", [TURN])
async def test_the_pre_call_check_gets_two_minute_turn_credentials_and_a_payload(factory, client):
    v = await make_visit(factory)
    r = await client.post(f"/api/v1/appointments/{v.id}/network-test", headers=v.patient.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["ice_transport_policy"] == "all"
    turn = body["ice_servers"][1]
    assert turn["urls"] == TURN["turn_urls"]
    assert turn["username"] == f"{NOW + 120}:{v.patient.id}"  # short-lived: no room behind it
    assert turn["credential"] == turn_credentials(SECRET, v.patient.id, NOW + 120)[1]

    payload = await client.get(f"/api/v1/appointments/{v.id}/network-test/payload", headers=v.patient.headers)
    assert payload.status_code == 200
    assert len(payload.content) == 256 * 1024
    assert payload.headers["content-type"] == "application/octet-stream"
    assert payload.headers["cache-control"] == "no-store"

    # Only the visit's two people; nobody signed out.
    stranger = await factory.patient()
    for method, path in (("post", "network-test"), ("get", "network-test/payload")):
        r = await getattr(client, method)(f"/api/v1/appointments/{v.id}/{path}", headers=stranger.headers)
        assert_error(r, 404, "appointment_not_found")
        r = await getattr(client, method)(f"/api/v1/appointments/{v.id}/{path}")
        assert r.status_code == 401
