"""Signing in: the token reply, one generic refusal, a new token every time."""

from __future__ import annotations

from sqlalchemy import select

from televisit.auth.models import AuthSession
from televisit.core.db import session_scope
from televisit.runtime import runtime_of
from tests.auth.helpers import (
    LOGIN,
    ME,
    assert_error,
    assert_not_leaked,
    assert_unauthorized,
    bearer,
    count_failures,
    count_sessions,
    login,
)


async def test_login_returns_a_bearer_token_and_the_user(factory, client, settings):
    patient = await factory.patient(login=False)
    response = await login(client, patient.email, patient.password)

    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "user", "device_token",
                         "mfa_required", "mfa_enrollment_required"}
    assert body["token_type"] == "bearer"
    assert body["mfa_required"] is False and body["mfa_enrollment_required"] is False
    assert isinstance(body["device_token"], str) and len(body["device_token"]) >= 32
    assert isinstance(body["access_token"], str) and len(body["access_token"]) >= 32
    assert body["expires_in"] == settings.session_idle_timeout
    assert body["user"] == {
        "id": str(patient.id), "email": patient.email, "full_name": patient.full_name,
        "role": "patient", "time_zone": "UTC",
    }
    assert_not_leaked(response, patient.password)

    me = await client.get(ME, headers=bearer(body["access_token"]))
    assert me.status_code == 200
    assert me.json() == body["user"]


async def test_wrong_password_and_unknown_email_get_the_same_generic_401(factory, client, app):
    patient = await factory.patient(login=False)

    wrong_password = await login(client, patient.email, patient.password + "!")
    wrong_case = await login(client, patient.email, patient.password.upper())
    unknown_email = await login(client, "nobody-here@example.org", patient.password)
    not_an_email = await login(client, "nobody", patient.password)

    refusals = (wrong_password, wrong_case, unknown_email, not_an_email)
    for response in refusals:
        assert_unauthorized(response, "invalid_credentials")
        assert_not_leaked(response, patient.password)
    assert all(r.json() == wrong_password.json() for r in refusals)
    assert await count_sessions(app) == 0


async def test_every_login_issues_a_new_token_and_all_stay_valid(factory, client, app):
    doctor = await factory.doctor()
    first = doctor.token
    second = await factory.login(doctor)
    third = await factory.login(doctor)

    assert len({first, second, third}) == 3
    assert await count_sessions(app, user_id=doctor.id) == 3
    for token in (first, second, third):
        me = await client.get(ME, headers=bearer(token))
        assert me.status_code == 200
        assert me.json()["id"] == str(doctor.id)


async def test_email_is_case_insensitive(factory, client):
    patient = await factory.patient(login=False, email="Mixed.Case@Example.org")
    assert patient.email == "mixed.case@example.org"

    for email in ("mixed.case@example.org", "MIXED.CASE@EXAMPLE.ORG", "Mixed.Case@example.ORG"):
        response = await login(client, email, patient.password)
        assert response.status_code == 200, response.text
        assert response.json()["user"]["id"] == str(patient.id)


async def test_the_token_itself_is_never_stored(factory, app):
    patient = await factory.patient()
    async with session_scope(runtime_of(app).sessionmaker) as session:
        rows = list((await session.execute(select(AuthSession))).scalars())
    assert len(rows) == 1
    stored = rows[0]
    assert stored.user_id == patient.id
    assert patient.token not in {stored.token_digest, stored.client_ip, stored.user_agent}


MALFORMED_BODIES = [
    {},
    {"email": "someone@example.org"},
    {"password": "whatever-it-is-123"},
    {"email": "", "password": "whatever-it-is-123"},
    {"email": "someone@example.org", "password": ""},
    {"email": "someone@example.org", "password": "x" * 257},
    {"email": "x" * 250 + "@e.org", "password": "whatever-it-is-123"},
    {"email": "someone@example.org", "password": "whatever-it-is-123", "remember": True},
    {"email": ["someone@example.org"], "password": "whatever-it-is-123"},
    {"email": "some\x00one@example.org", "password": "whatever-it-is-123"},
    # Lowercasing doubles this ("İ" -> "i̇"): longer than any stored address can be.
    {"email": "\u0130" * 200 + "@example.org", "password": "whatever-it-is-123"},
]


async def test_malformed_login_bodies_are_4xx_and_not_counted(client, app):
    for body in MALFORMED_BODIES:
        response = await client.post(LOGIN, json=body)

        assert_error(response, 422, "validation_error")
        if isinstance(body.get("password"), str) and body["password"]:
            assert_not_leaked(response, body["password"])
    truncated = b'{"email": "someone@example.org", "password": "whatever-it-is-123"'
    response = await client.post(LOGIN, content=truncated,
                                 headers={"content-type": "application/json"})
    assert_error(response, 400, "malformed_json")
    assert_not_leaked(response, "whatever-it-is-123")
    assert await count_failures(app) == 0
    assert await count_sessions(app) == 0
