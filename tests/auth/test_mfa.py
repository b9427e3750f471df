"""Two-factor sign-in (TOTP, RFC 6238): enrolment, the second sign-in step, replay, recovery codes,
throttling of codes, turning it off, and the key kept sealed. Codes come from pyotp, as an app's."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from televisit.auth.models import MfaChallenge, MfaFactor, MfaRecoveryCode
from televisit.core.db import session_scope
from televisit.runtime import runtime_of
from tests.auth.helpers import (
    MFA,
    MFA_CONFIRM,
    MFA_DISABLE,
    MFA_ENROLL,
    assert_error,
    assert_unauthorized,
    bearer,
    count,
    enroll,
    login,
    mfa_login,
    totp,
)
from tests.auth.test_throttling import assert_throttled

STEP = timedelta(seconds=30)


async def test_enrolment_shows_the_key_once_and_confirming_turns_it_on(factory, client, clock, app):
    doctor = await factory.doctor()
    status = await client.get(MFA, headers=doctor.headers)
    assert status.json() == {"enabled": False, "required": False, "recovery_codes_left": 0}

    started = await client.post(MFA_ENROLL, headers=doctor.headers)
    assert started.status_code == 200, started.text
    body = started.json()
    secret = body["secret"]
    assert body["otpauth_uri"].startswith("otpauth://totp/Televisit:")
    assert f"secret={secret}" in body["otpauth_uri"] and "issuer=Televisit" in body["otpauth_uri"]
    assert body["qr_svg"].startswith("data:image/svg+xml")
    # Until confirmed, sign-in does not change.
    assert "access_token" in (await login(client, doctor.email, doctor.password)).json()

    wrong = await client.post(MFA_CONFIRM, json={"passcode": "000000"}, headers=doctor.headers)
    assert_error(wrong, 422, "invalid_passcode")
    confirmed = await client.post(MFA_CONFIRM, json={"passcode": totp(secret, clock.now())},
                                  headers=doctor.headers)
    assert confirmed.status_code == 200, confirmed.text
    codes = confirmed.json()["recovery_codes"]
    assert len(codes) == len(set(codes)) == 10

    status = await client.get(MFA, headers=doctor.headers)
    assert status.json() == {"enabled": True, "required": False, "recovery_codes_left": 10}
    assert secret not in status.text
    again = await client.post(MFA_ENROLL, headers=doctor.headers)
    assert_error(again, 409, "mfa_already_enabled")
    assert secret not in again.text

    # Stored sealed: neither the key nor any recovery code is in the database as written.
    async with session_scope(runtime_of(app).sessionmaker) as session:
        factor = (await session.execute(select(MfaFactor))).scalar_one()
        digests = list((await session.execute(select(MfaRecoveryCode.code_digest))).scalars())
    assert secret not in factor.secret_sealed
    assert not set(codes) & set(digests)


async def test_confirming_without_enrolling_is_409(factory, client):
    patient = await factory.patient()
    response = await client.post(MFA_CONFIRM, json={"passcode": "123456"}, headers=patient.headers)
    assert_error(response, 409, "mfa_not_enrolling")


async def test_sign_in_asks_for_a_code_and_the_token_is_single_use(factory, client, clock, app):
    doctor = await factory.doctor()
    secret, _ = await enroll(client, doctor.headers, clock.now())
    clock.advance(seconds=30)

    first = await login(client, doctor.email, doctor.password)
    assert first.status_code == 200, first.text
    body = first.json()
    assert set(body) == {"mfa_required", "mfa_token", "expires_in"}
    assert body["mfa_required"] is True and body["expires_in"] == 300
    async with session_scope(runtime_of(app).sessionmaker) as session:
        stored = (await session.execute(select(MfaChallenge))).scalar_one()
    assert body["mfa_token"] not in stored.token_digest  # only its digest is kept

    assert_unauthorized(await mfa_login(client, body["mfa_token"], "000000"), "invalid_passcode")
    done = await mfa_login(client, body["mfa_token"], totp(secret, clock.now()))
    assert done.status_code == 200, done.text
    assert done.json()["user"]["id"] == str(doctor.id)
    assert (await client.get("/api/v1/me", headers=bearer(done.json()["access_token"]))).status_code == 200

    clock.advance(seconds=30)
    reused = await mfa_login(client, body["mfa_token"], totp(secret, clock.now()))
    assert_unauthorized(reused, "invalid_mfa_token")
    assert await count(app, MfaChallenge) == 0


async def test_a_code_cannot_be_replayed_within_its_window(factory, client, clock):
    doctor = await factory.doctor()
    secret, _ = await enroll(client, doctor.headers, clock.now())
    used_at_enrolment = totp(secret, clock.now())

    challenge = (await login(client, doctor.email, doctor.password)).json()["mfa_token"]
    assert_unauthorized(await mfa_login(client, challenge, used_at_enrolment), "invalid_passcode")
    clock.advance(seconds=30)
    code = totp(secret, clock.now())
    assert (await mfa_login(client, challenge, code)).status_code == 200

    # The same code in a second sign-in, seconds later: refused, though still "current".
    clock.advance(seconds=5)
    second = (await login(client, doctor.email, doctor.password)).json()["mfa_token"]
    assert_unauthorized(await mfa_login(client, second, code), "invalid_passcode")
    # A code for an earlier step than one already used is refused too.
    assert_unauthorized(await mfa_login(client, second, totp(secret, clock.now() - STEP)),
                        "invalid_passcode")
    clock.advance(seconds=30)
    assert (await mfa_login(client, second, totp(secret, clock.now()))).status_code == 200


async def test_one_step_of_clock_drift_is_allowed_and_no_more(factory, client, clock):
    admin = await factory.admin()
    secret, _ = await enroll(client, admin.headers, clock.now())
    clock.advance(minutes=10)
    challenge = (await login(client, admin.email, admin.password)).json()["mfa_token"]
    assert_unauthorized(await mfa_login(client, challenge, totp(secret, clock.now() - 2 * STEP)),
                        "invalid_passcode")
    assert_unauthorized(await mfa_login(client, challenge, totp(secret, clock.now() + 2 * STEP)),
                        "invalid_passcode")
    assert (await mfa_login(client, challenge, totp(secret, clock.now() - STEP))).status_code == 200


async def test_recovery_codes_work_once_each(factory, client, clock):
    doctor = await factory.doctor()
    _, codes = await enroll(client, doctor.headers, clock.now())

    challenge = (await login(client, doctor.email, doctor.password)).json()["mfa_token"]
    # Typed as people type them: upper case, spaces instead of dashes.
    typed = codes[0].upper().replace("-", " ")
    done = await mfa_login(client, challenge, typed)
    assert done.status_code == 200, done.text
    status = await client.get(MFA, headers=bearer(done.json()["access_token"]))
    assert status.json()["recovery_codes_left"] == 9

    challenge = (await login(client, doctor.email, doctor.password)).json()["mfa_token"]
    assert_unauthorized(await mfa_login(client, challenge, codes[0]), "invalid_passcode")
    assert (await mfa_login(client, challenge, codes[1])).status_code == 200

    # Another user's recovery code is no use here.
    other = await factory.admin()
    _, other_codes = await enroll(client, other.headers, clock.now())
    challenge = (await login(client, doctor.email, doctor.password)).json()["mfa_token"]
    assert_unauthorized(await mfa_login(client, challenge, other_codes[0]), "invalid_passcode")


async def test_a_challenge_expires_and_allows_few_wrong_codes(factory, client, clock, settings):
    doctor = await factory.doctor()
    secret, _ = await enroll(client, doctor.headers, clock.now())
    clock.advance(seconds=30)

    challenge = (await login(client, doctor.email, doctor.password)).json()["mfa_token"]
    clock.advance(seconds=settings.mfa_challenge_lifetime)
    assert_unauthorized(await mfa_login(client, challenge, totp(secret, clock.now())), "invalid_mfa_token")

    challenge = (await login(client, doctor.email, doctor.password)).json()["mfa_token"]
    for n in range(settings.mfa_max_attempts):
        assert_unauthorized(await mfa_login(client, challenge, f"{n:06d}"), "invalid_passcode")
    assert_unauthorized(await mfa_login(client, challenge, totp(secret, clock.now())), "invalid_mfa_token")
    assert_unauthorized(await mfa_login(client, "made-up", totp(secret, clock.now())), "invalid_mfa_token")


@pytest.mark.parametrize("settings_overrides", [{"login_max_failures_per_account_ip": 3,
                                                 "login_window": 600}])
async def test_wrong_codes_are_throttled_like_wrong_passwords(factory, client, clock):
    doctor = await factory.doctor()
    secret, _ = await enroll(client, doctor.headers, clock.now())
    clock.advance(seconds=30)
    challenge = (await login(client, doctor.email, doctor.password)).json()["mfa_token"]
    for n in range(3):
        assert_unauthorized(await mfa_login(client, challenge, f"{n:06d}"), "invalid_passcode")
    assert_throttled(await mfa_login(client, challenge, totp(secret, clock.now())), 600)
    # The password step from this address is throttled by the same count.
    assert_throttled(await login(client, doctor.email, doctor.password), 600)
    clock.advance(seconds=600)
    challenge = (await login(client, doctor.email, doctor.password)).json()["mfa_token"]
    assert (await mfa_login(client, challenge, totp(secret, clock.now()))).status_code == 200


async def test_turning_it_off_needs_the_password_and_a_code(factory, client, clock):
    doctor = await factory.doctor()
    secret, codes = await enroll(client, doctor.headers, clock.now())
    clock.advance(seconds=30)
    code = totp(secret, clock.now())

    for body in ({"password": "wrong-password-123", "passcode": code},
                 {"password": doctor.password, "passcode": "000000"}):
        response = await client.post(MFA_DISABLE, json=body, headers=doctor.headers)
        assert_error(response, 422, "invalid_credentials")
        assert doctor.password not in response.text
    clock.advance(seconds=30)
    response = await client.post(MFA_DISABLE, json={"password": doctor.password, "passcode": codes[3]},
                                 headers=doctor.headers)
    assert response.status_code == 204, response.text
    assert (await client.get(MFA, headers=doctor.headers)).json()["enabled"] is False
    assert "access_token" in (await login(client, doctor.email, doctor.password)).json()
    again = await client.post(MFA_DISABLE, json={"password": doctor.password, "passcode": codes[4]},
                              headers=doctor.headers)
    assert_error(again, 409, "mfa_not_enabled")


async def test_mfa_routes_need_a_token_and_valid_bodies(client, factory):
    for method, path in (("GET", MFA), ("POST", MFA_ENROLL), ("POST", MFA_CONFIRM), ("POST", MFA_DISABLE)):
        assert_unauthorized(await client.request(method, path), "not_authenticated")
    patient = await factory.patient()
    for body in ({}, {"passcode": ""}, {"passcode": "1" * 65}, {"passcode": "123456", "extra": 1}):
        response = await client.post(MFA_CONFIRM, json=body, headers=patient.headers)
        assert_error(response, 422, "validation_error")
    for body in ({}, {"mfa_token": "x"}, {"mfa_token": "", "passcode": "123456"}):
        assert_error(await client.post("/api/v1/auth/login/mfa", json=body), 422, "validation_error")
