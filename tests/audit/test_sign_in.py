"""Sign-in, sign-out and session expiry leave records with the client's address and request id."""

from __future__ import annotations

import pytest

from tests.audit.helpers import CLIENT_IP, audit_rows, one_row
from tests.auth.helpers import LOGIN, LOGOUT, ME, bearer

IDLE = 600


async def test_a_successful_sign_in_is_recorded_with_address_request_id_and_agent(factory, client, app):
    patient = await factory.patient(login=False)
    response = await client.post(
        LOGIN, json={"email": patient.email, "password": patient.password},
        headers={"X-Request-ID": "signin-ok-1", "User-Agent": "Televisit-Test/1.0"},
    )
    assert response.status_code == 200

    row = await one_row(app, action="auth.sign_in", request_id="signin-ok-1")
    assert row.outcome == "success"
    assert (row.actor_id, row.actor_role) == (patient.id, "patient")
    assert (row.object_type, row.object_id) == ("user", patient.id)
    assert (row.client_ip, row.user_agent) == (CLIENT_IP, "Televisit-Test/1.0")
    assert set(row.data) == {"session_id"}
    token = response.json()["access_token"]
    assert token not in str(row.data) and patient.password not in str(row.data)


async def test_a_wrong_password_is_recorded_as_failed_although_the_request_rolled_back(
    factory, client, app
):
    patient = await factory.patient(login=False)
    response = await client.post(LOGIN, json={"email": patient.email, "password": "not-the-password-1"},
                                 headers={"X-Request-ID": "signin-bad-1"})
    assert response.status_code == 401

    row = await one_row(app, request_id="signin-bad-1")
    assert (row.action, row.outcome) == ("auth.sign_in", "failed")
    assert row.actor_id is None  # whoever typed it is not known to be the account's owner
    assert (row.object_type, row.object_id) == ("user", patient.id)
    assert row.client_ip == CLIENT_IP
    assert row.data == {"reason": "bad_credentials"}
    assert "not-the-password-1" not in repr(row.__dict__)


async def test_an_unknown_email_and_a_deactivated_account_are_recorded_as_failed(factory, client, app):
    await client.post(LOGIN, json={"email": "nobody@example.org", "password": "whatever-it-is-1"},
                      headers={"X-Request-ID": "signin-unknown"})
    row = await one_row(app, request_id="signin-unknown")
    assert (row.outcome, row.object_id, row.data) == ("failed", None, {"reason": "bad_credentials"})

    admin = await factory.admin()
    patient = await factory.patient(login=False)
    deactivated = await client.post(f"/api/v1/admin/users/{patient.id}/deactivate", headers=admin.headers)
    assert deactivated.status_code == 200
    await client.post(LOGIN, json={"email": patient.email, "password": patient.password},
                      headers={"X-Request-ID": "signin-inactive"})
    row = await one_row(app, request_id="signin-inactive")
    assert (row.outcome, row.object_id, row.data) == ("failed", patient.id, {"reason": "inactive"})


async def test_sign_out_is_recorded(factory, client, app):
    doctor = await factory.doctor()
    response = await client.post(LOGOUT, headers={**doctor.headers, "X-Request-ID": "signout-1"})
    assert response.status_code == 204

    row = await one_row(app, action="auth.sign_out")
    assert (row.actor_id, row.actor_role, row.object_type) == (doctor.id, "doctor", "session")
    assert (row.outcome, row.request_id, row.client_ip) == ("success", "signout-1", CLIENT_IP)
    signed_in = await one_row(app, action="auth.sign_in", actor_id=doctor.id)
    assert str(row.object_id) == signed_in.data["session_id"]


@pytest.mark.parametrize("settings_overrides", [{"session_idle_timeout": IDLE}])
async def test_using_an_expired_session_is_recorded(factory, client, app, clock):
    patient = await factory.patient()
    clock.advance(seconds=IDLE)
    response = await client.get(ME, headers={**bearer(patient.token), "X-Request-ID": "expired-1"})
    assert response.status_code == 401

    row = await one_row(app, action="auth.session_expired")
    assert (row.actor_id, row.actor_role, row.outcome) == (patient.id, "patient", "failed")
    assert (row.object_type, row.request_id) == ("session", "expired-1")
    assert await audit_rows(app, action="auth.sign_out") == []
