"""With TELEVISIT_MFA_REQUIRED_FOR_STAFF, a doctor or admin without two-factor sign-in gets a
session that can only enrol; enrolling makes it a full one. Patients are not asked."""

from __future__ import annotations

import pytest

from tests.auth.helpers import (
    LOGOUT,
    ME,
    MFA,
    MFA_CONFIRM,
    MFA_DISABLE,
    MFA_ENROLL,
    PATIENTS,
    assert_error,
    bearer,
    enroll,
    login,
    mfa_login,
    totp,
)
from tests.fixtures.live import WSClient
from tests.signaling.test_protocol import closed_with

pytestmark = pytest.mark.parametrize("settings_overrides", [{"mfa_required_for_staff": True}])


async def test_an_unenrolled_doctor_can_only_enrol_until_confirmed(factory, client, clock, live):
    doctor = await factory.doctor(login=False)
    response = await login(client, doctor.email, doctor.password)
    assert response.status_code == 200, response.text
    assert response.json()["mfa_enrollment_required"] is True
    headers = bearer(response.json()["access_token"])

    for method, path in (("GET", PATIENTS), ("GET", "/api/v1/appointments")):
        assert_error(await client.request(method, path, headers=headers), 403, "mfa_enrollment_required")
    # Nor can it open the real-time socket.
    socket = await WSClient.connect(live.ws_url)
    await socket.send({"type": "auth", "token": response.json()["access_token"]})
    assert await closed_with(socket) == 4401
    # What enrolment needs works.
    assert (await client.get(ME, headers=headers)).json()["id"] == str(doctor.id)
    assert (await client.get(MFA, headers=headers)).json() == {
        "enabled": False, "required": True, "recovery_codes_left": 0}

    secret, _ = await enroll(client, headers, clock.now())
    assert (await client.get(PATIENTS, headers=headers)).status_code == 200
    # From now on, sign-in asks for a code; and it cannot be turned off while required.
    clock.advance(seconds=30)
    challenge = await login(client, doctor.email, doctor.password)
    assert challenge.json()["mfa_required"] is True
    done = await mfa_login(client, challenge.json()["mfa_token"], totp(secret, clock.now()))
    assert done.json()["mfa_enrollment_required"] is False
    clock.advance(seconds=30)
    refused = await client.post(MFA_DISABLE, headers=headers,
                                json={"password": doctor.password, "passcode": totp(secret, clock.now())})
    assert_error(refused, 409, "mfa_required")


async def test_an_enrolment_session_can_sign_out_and_not_confirm_with_a_wrong_code(factory, client):
    admin = await factory.admin(login=False)
    token = (await login(client, admin.email, admin.password)).json()["access_token"]
    assert (await client.post(MFA_ENROLL, headers=bearer(token))).status_code == 200
    wrong = await client.post(MFA_CONFIRM, json={"passcode": "000000"}, headers=bearer(token))
    assert_error(wrong, 422, "invalid_passcode")
    assert_error(await client.get(PATIENTS, headers=bearer(token)), 403, "mfa_enrollment_required")
    assert (await client.post(LOGOUT, headers=bearer(token))).status_code == 204
    assert_error(await client.get(ME, headers=bearer(token)), 401, "invalid_token")


async def test_patients_are_not_asked(factory, client):
    patient = await factory.patient(login=False)
    response = await login(client, patient.email, patient.password)
    assert response.json()["mfa_enrollment_required"] is False
    headers = bearer(response.json()["access_token"])
    assert (await client.get("/api/v1/appointments", headers=headers)).status_code == 200
    assert (await client.get(MFA, headers=headers)).json()["required"] is False
