"""A relay-only call with TURN credentials that have expired fails at once, not after a long timeout."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from televisit.core.clock import FakeClock
from tests.calls.helpers import DOCTOR_CAMERA, PATIENT_CAMERA, book, start_and_join
from tests.fixtures.cluster import wait_for
from tests.fixtures.coturn import TurnServer
from tests.fixtures.webrtc import call_peer

TTL = 60  # the shortest lifetime the settings allow
FAIL_WITHIN = 5.0  # seconds from joining to a failed call; ICE's own timeouts are far longer


@pytest.fixture
def clock() -> FakeClock:
    """The server's clock two hours behind coturn's: it issues credentials that are already stale,
    as if they had been handed out two hours ago."""
    return FakeClock(datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2))


@pytest.fixture
def settings_overrides(coturn: TurnServer) -> dict[str, Any]:
    return {"turn_urls": [coturn.url], "turn_secret": coturn.secret, "turn_credential_ttl": TTL}


async def test_expired_turn_credentials_fail_the_relay_only_call_fast(factory, client, live, coturn):
    doctor, patient, appointment = await book(factory)
    async with call_peer("doctor", live.ws_url, doctor.token, relay_only=True,
                         **DOCTOR_CAMERA.kwargs()) as d, \
            call_peer("patient", live.ws_url, patient.token, relay_only=True,
                      **PATIENT_CAMERA.kwargs()) as p:
        started = time.monotonic()
        await start_and_join(client, appointment, doctor, d, p)
        for peer in (d, p):
            expiry = int(peer.ice_servers[0]["username"].split(":", 1)[0])
            assert expiry < time.time(), "the server should have issued a stale credential"

        await d.wait_failed(FAIL_WITHIN)
        await p.wait_failed(FAIL_WITHIN)
        assert time.monotonic() - started < FAIL_WITHIN
        # No relay candidate on either side, no connection, no video...
        assert d.local_candidate_types() == [] and p.local_candidate_types() == []
        assert "connected" not in d.states + p.states
        assert d.received == [] and p.received == []
        # ...and it was coturn's own refusal of the doctor's credential (not an unreachable server).
        # The patient never asked coturn: an offer without candidates leaves aioice nothing to pair
        # a relay with, so it skips gathering, which fails the call just the same.
        username = d.ice_servers[0]["username"]
        await wait_for(lambda: f"<{username}>" in coturn.log_text(), timeout=2)
