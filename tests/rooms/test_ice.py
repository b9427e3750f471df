"""ICE servers: STUN always, TURN with coturn `use-auth-secret` credentials for participants only."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from televisit.rooms.ice import turn_credentials
from tests.signaling.helpers import assert_error, connect, join, make_visit, start_call

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
