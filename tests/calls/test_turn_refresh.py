"""A relay-only call outlives its TURN credentials: `ice.refresh` hands out fresh ones, coturn
accepts them for new allocations (what an ICE restart or a network change gathers), and the media
of the call in progress keeps flowing meanwhile.

The server's fake clock runs a little behind coturn's real one so that the credentials issued at
join expire, at coturn, a few seconds into the call: waiting out a real TTL would take minutes.
aiortc has no `setConfiguration` or ICE restart, so the fresh credentials are proven the way a
browser's next gathering would use them: a new relay-only gathering through the same coturn.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiortc import RTCPeerConnection

from televisit.core.clock import FakeClock
from tests.calls.helpers import (
    DOCTOR_CAMERA,
    PATIENT_CAMERA,
    assert_video_both_ways,
    book,
    hang_up,
    start_and_join,
)
from tests.fixtures.coturn import TurnServer
from tests.fixtures.webrtc import CallPeer, call_peer, candidate_types, ice_config

TTL = 60  # the shortest lifetime the settings allow, and the minimum
MARGIN = 10  # seconds of real time the first credentials have left when the call starts


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=TTL - MARGIN))


@pytest.fixture
def settings_overrides(coturn: TurnServer) -> dict[str, Any]:
    return {"turn_urls": [coturn.url], "turn_secret": coturn.secret, "turn_credential_ttl": TTL,
            "turn_credential_min_ttl": TTL}


def expiry(servers: list[dict[str, Any]]) -> int:
    return int(servers[0]["username"].split(":", 1)[0])


async def relay_candidates(servers: list[dict[str, Any]]) -> list[str]:
    """Gather once, relay only, with these credentials: the relay candidates coturn granted."""
    pc = RTCPeerConnection(ice_config(servers, relay_only=True))
    try:
        pc.addTransceiver("video")
        await pc.setLocalDescription(await pc.createOffer())
        return [t for t in candidate_types(pc.localDescription.sdp) if t == "relay"]
    finally:
        await pc.close()


async def refresh(peer: CallPeer, room_id: str) -> dict[str, Any]:
    ref = f"ice-{peer.name}"
    await peer.send({"type": "ice.refresh", "room_id": room_id, "ref": ref})
    return await peer.expect("ice.servers", ref=ref)


async def test_a_relayed_call_keeps_working_across_a_credential_refresh(factory, client, live, clock,
                                                                        coturn):
    doctor, patient, appointment = await book(factory)
    async with call_peer("doctor", live.ws_url, doctor.token, relay_only=True,
                         **DOCTOR_CAMERA.kwargs()) as d, \
            call_peer("patient", live.ws_url, patient.token, relay_only=True,
                      **PATIENT_CAMERA.kwargs()) as p:
        room_id = await start_and_join(client, appointment, doctor, d, p)
        await assert_video_both_ways(d, p)
        first = expiry(d.ice_servers)
        assert first > time.time(), "the call must start before its credentials expire"

        await asyncio.sleep(max(0.0, first - time.time() + 1.5))  # now they have expired at coturn
        assert await relay_candidates(d.ice_servers) == []  # coturn refuses them for anything new
        received = len(d.received), len(p.received)
        await d.wait_frames(received[0] + 10)  # the allocations made in time keep relaying
        await p.wait_frames(received[1] + 10)

        clock.advance(seconds=(datetime.now(UTC) - clock.now()).total_seconds())
        for peer, person in ((d, doctor), (p, patient)):
            fresh = await refresh(peer, room_id)
            servers = [s for s in fresh["ice_servers"] if s["username"]]
            assert expiry(servers) == int(clock.now().timestamp()) + TTL > time.time()
            assert servers[0]["username"].endswith(f":{person.id}")
            assert fresh["expires_at"] == datetime.fromtimestamp(expiry(servers), UTC).isoformat(
                ).replace("+00:00", "Z")
            assert await relay_candidates(servers) == ["relay"]  # a new gathering gets a relay
            peer.ice_servers = servers  # what `pc.setConfiguration` does in a browser
        received = len(d.received), len(p.received)
        await d.wait_frames(received[0] + 10)
        await p.wait_frames(received[1] + 10)
        assert "failed" not in d.states + p.states
        await hang_up(client, room_id, doctor, d, p)
