"""What the admin API builds on: revoke every session of a user (their sockets close), clear the
throttling of an address, reset a user's two-factor sign-in."""

from __future__ import annotations

import pytest

from televisit.auth import service as auth_service
from televisit.runtime import runtime_of
from tests.auth.helpers import ME, assert_unauthorized, bearer, count_failures, enroll, login
from tests.auth.test_throttling import assert_throttled
from tests.fixtures.live import WSClient
from tests.signaling.test_protocol import closed_with


async def test_ending_every_session_kills_every_token_and_closes_their_sockets(factory, client, app, live,
                                                                               clock):
    doctor = await factory.doctor()
    second = await factory.login(doctor)
    bystander = await factory.patient()
    sockets = [await WSClient.connect(live.ws_url, token) for token in (doctor.token, second)]
    other = await WSClient.connect(live.ws_url, bystander.token)

    async with runtime_of(app).session() as session:
        revoked = await auth_service.end_sessions_of_user(session, user_id=doctor.id, now=clock.now(),
                                                          reason="revoked")
    assert revoked == 2
    for socket in sockets:
        ended = await socket.expect("session.ended")
        assert ended["reason"] == "revoked"
        assert await closed_with(socket) == 4401
    for token in (doctor.token, second):
        assert_unauthorized(await client.get(ME, headers=bearer(token)), "invalid_token")
    # Nobody else is touched, and the doctor can sign in again.
    assert (await client.get(ME, headers=bystander.headers)).status_code == 200
    await other.send({"type": "ping"})
    await other.expect("pong")
    assert (await login(client, doctor.email, doctor.password)).status_code == 200
    async with runtime_of(app).session() as session:
        assert await auth_service.end_sessions_of_user(session, user_id=bystander.id, now=clock.now(),
                                                       reason="deactivated") == 1


@pytest.mark.parametrize("settings_overrides", [{"login_max_failures_per_account_ip": 3,
                                                 "login_window": 600}])
async def test_clear_throttling_lets_the_owner_in_at_once(factory, client, app, clock):
    patient = await factory.patient(login=False)
    for _ in range(3):
        await login(client, patient.email, "not-the-password-0000")
    assert_throttled(await login(client, patient.email.upper(), patient.password), 600)

    async with runtime_of(app).session() as session:
        assert await auth_service.clear_throttling(session, email=patient.email.upper()) == 3
    assert await count_failures(app, email=patient.email) == 0
    assert (await login(client, patient.email, patient.password)).status_code == 200


async def test_reset_mfa_lets_the_user_sign_in_with_the_password_alone(factory, client, app, clock):
    doctor = await factory.doctor()
    await enroll(client, doctor.headers, clock.now())
    assert (await login(client, doctor.email, doctor.password)).json()["mfa_required"] is True

    async with runtime_of(app).session() as session:
        assert await auth_service.reset_mfa(session, user_id=doctor.id) is True
    response = await login(client, doctor.email, doctor.password)
    assert "access_token" in response.json()
    async with runtime_of(app).session() as session:
        assert await auth_service.reset_mfa(session, user_id=doctor.id) is False
