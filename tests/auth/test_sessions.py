"""Idle timeout and absolute lifetime, driven by the FakeClock (no sleeping)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.auth.helpers import LOGOUT, ME, assert_unauthorized, bearer, login

IDLE = 60
ABSOLUTE = 300


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"session_idle_timeout": IDLE, "session_absolute_lifetime": ABSOLUTE}


@pytest.mark.parametrize("settings_overrides", [{"session_idle_timeout": 900,
                                                 "session_absolute_lifetime": 300}])
async def test_expires_in_never_exceeds_the_absolute_lifetime(factory, client):
    patient = await factory.patient(login=False)
    response = await login(client, patient.email, patient.password)
    assert response.json()["expires_in"] == 300


async def test_an_unused_token_dies_after_the_idle_timeout(factory, client, clock):
    doctor = await factory.doctor()
    unused = doctor.token
    used = await factory.login(doctor)

    clock.advance(seconds=IDLE - 1)
    assert (await client.get(ME, headers=bearer(used))).status_code == 200

    clock.advance(seconds=1)  # `unused` has now been idle for exactly the timeout
    assert_unauthorized(await client.get(ME, headers=bearer(unused)), "session_expired")
    assert_unauthorized(await client.post(LOGOUT, headers=bearer(unused)), "session_expired")
    # The token used a second ago is alive, and an expired token stays dead.
    assert (await client.get(ME, headers=bearer(used))).status_code == 200
    assert_unauthorized(await client.get(ME, headers=bearer(unused)), "session_expired")


async def test_regular_use_keeps_a_token_alive_until_the_absolute_lifetime(factory, client, clock):
    patient = await factory.patient()
    elapsed = 0
    # Used every 50 s: each gap is under the idle timeout, the total far past it.
    while elapsed + 50 < ABSOLUTE:
        clock.advance(seconds=50)
        elapsed += 50
        response = await client.get(ME, headers=patient.headers)
        assert response.status_code == 200, (elapsed, response.text)
    assert elapsed > 4 * IDLE

    clock.advance(seconds=ABSOLUTE - 1 - elapsed)
    assert (await client.get(ME, headers=patient.headers)).status_code == 200
    clock.advance(seconds=1)
    assert_unauthorized(await client.get(ME, headers=patient.headers), "session_expired")

    # Signing in again gives a token with a fresh lifetime.
    fresh = await factory.login(patient)
    clock.advance(seconds=IDLE - 1)
    assert (await client.get(ME, headers=bearer(fresh))).status_code == 200
