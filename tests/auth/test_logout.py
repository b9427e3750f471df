"""Logout kills the token used, at once, and nothing else."""

from __future__ import annotations

from tests.auth.helpers import LOGOUT, ME, assert_unauthorized, bearer


async def test_logout_kills_that_token_at_once_and_only_that_token(factory, client):
    doctor = await factory.doctor()
    patient = await factory.patient()
    dead = doctor.token
    alive = await factory.login(doctor)

    response = await client.post(LOGOUT, headers=bearer(dead))
    assert response.status_code == 204
    assert response.content == b""

    assert_unauthorized(await client.get(ME, headers=bearer(dead)), "invalid_token")
    # Logging out again with the dead token is refused too, not a silent success.
    assert_unauthorized(await client.post(LOGOUT, headers=bearer(dead)), "invalid_token")
    # The same user's other sign-in and other users are untouched.
    assert (await client.get(ME, headers=bearer(alive))).json()["id"] == str(doctor.id)
    assert (await client.get(ME, headers=patient.headers)).json()["id"] == str(patient.id)


async def test_signing_in_again_after_logout_works(factory, client):
    patient = await factory.patient()
    assert (await client.post(LOGOUT, headers=patient.headers)).status_code == 204
    old = patient.token

    fresh = await factory.login(patient)
    assert fresh != old
    assert (await client.get(ME, headers=bearer(fresh))).status_code == 200
    assert_unauthorized(await client.get(ME, headers=bearer(old)), "invalid_token")


async def test_logout_without_a_token_is_401(factory, client):
    patient = await factory.patient()
    assert_unauthorized(await client.post(LOGOUT), "not_authenticated")
    assert_unauthorized(await client.post(LOGOUT, headers=bearer("made-up-token")), "invalid_token")
    # Nothing was revoked by the refused requests.
    assert (await client.get(ME, headers=patient.headers)).status_code == 200
