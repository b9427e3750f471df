"""A relay-only call through a real coturn, with the credentials our server hands out."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import pytest

from tests.calls.helpers import (
    DOCTOR_CAMERA,
    PATIENT_CAMERA,
    assert_video_both_ways,
    book,
    hang_up,
    start_and_join,
)
from tests.fixtures.coturn import TurnServer
from tests.fixtures.webrtc import call_peer, selected_pair

TTL = 600


@pytest.fixture
def settings_overrides(coturn: TurnServer) -> dict[str, Any]:
    return {"turn_urls": [coturn.url], "turn_secret": coturn.secret, "turn_credential_ttl": TTL}


def assert_turn_credentials(ice_servers: list[dict[str, Any]], turn: TurnServer, user_id: str,
                            expiry: int) -> None:
    """coturn `use-auth-secret`: username `<expiry>:<user id>`, base64(HMAC-SHA1(secret, username))."""
    assert len(ice_servers) == 1, ice_servers
    server = ice_servers[0]
    assert server["urls"] == [turn.url]
    assert server["username"] == f"{expiry}:{user_id}"
    digest = hmac.new(turn.secret.encode(), server["username"].encode(), hashlib.sha1).digest()
    assert server["credential"] == base64.b64encode(digest).decode()


async def test_relay_only_call_through_coturn(factory, client, live, clock, coturn):
    doctor, patient, appointment = await book(factory)
    async with call_peer("doctor", live.ws_url, doctor.token, relay_only=True,
                         **DOCTOR_CAMERA.kwargs()) as d, \
            call_peer("patient", live.ws_url, patient.token, relay_only=True,
                      **PATIENT_CAMERA.kwargs()) as p:
        room_id = await start_and_join(client, appointment, doctor, d, p)
        expiry = int(clock.now().timestamp()) + TTL
        assert_turn_credentials(d.ice_servers, coturn, str(doctor.id), expiry)
        assert_turn_credentials(p.ice_servers, coturn, str(patient.id), expiry)

        await assert_video_both_ways(d, p)
        for peer in (d, p):
            # Only relayed candidates were offered, and the media path is relay to relay via coturn.
            assert set(peer.local_candidate_types()) == {"relay"}
            local, remote = selected_pair(peer.pc)
            assert (local.type, remote.type) == ("relay", "relay")
            assert local.host == coturn.host and remote.host == coturn.host
        await hang_up(client, room_id, doctor, d, p)
