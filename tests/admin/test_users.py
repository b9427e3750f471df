"""Admins find, inspect and manage accounts; every action (and every refusal) is recorded."""

from __future__ import annotations

import uuid

import pytest

from tests.audit.helpers import USERS, audit_rows, one_row
from tests.auth.helpers import (
    LOGIN,
    ME,
    STRONG_PASSWORD,
    assert_unauthorized,
    bearer,
    count_failures,
    enroll,
    login,
)
from tests.fixtures.assertions import assert_error

DETAIL_KEYS = {"id", "email", "full_name", "role", "is_active", "invited", "created_at", "updated_at",
               "open_sessions", "recent_failed_sign_ins", "mfa_enabled"}


async def _people(factory):
    return {
        "ana": await factory.patient(name="Ana Alvarez", email="ana@clinic.test"),
        "bo": await factory.patient(name="Bo Berg", email="bo@clinic.test"),
        "cy": await factory.doctor(name="Cy Chen", email="cy.chen@clinic.test"),
        "admin": await factory.admin(name="Zoe Admin", email="zoe@clinic.test"),
    }


async def test_search_by_name_or_email_role_and_state_by_name(factory, client, app):
    p = await _people(factory)
    admin = p["admin"]

    def names(response):
        assert response.status_code == 200, response.text
        return [u["full_name"] for u in response.json()["items"]]

    assert names(await client.get(USERS, headers=admin.headers)) == ["Ana Alvarez", "Bo Berg", "Cy Chen",
                                                                     "Zoe Admin"]
    assert names(await client.get(USERS, params={"query": "BERG"}, headers=admin.headers)) == ["Bo Berg"]
    assert names(await client.get(USERS, params={"query": "cy.chen@"}, headers=admin.headers)) == ["Cy Chen"]
    assert names(await client.get(USERS, params={"query": "%"}, headers=admin.headers)) == []
    assert names(await client.get(USERS, params={"role": "patient"}, headers=admin.headers)) == [
        "Ana Alvarez", "Bo Berg"]
    await client.post(f"{USERS}/{p['bo'].id}/deactivate", headers=admin.headers)
    assert names(await client.get(USERS, params={"active": "false"}, headers=admin.headers)) == ["Bo Berg"]
    assert names(await client.get(USERS, params={"active": "true", "role": "patient"},
                                  headers=admin.headers)) == ["Ana Alvarez"]

    item = (await client.get(USERS, params={"query": "ana@"}, headers=admin.headers)).json()["items"][0]
    assert set(item) == DETAIL_KEYS - {"open_sessions", "recent_failed_sign_ins", "mfa_enabled"}
    assert "password" not in str(item)

    listed = [r for r in await audit_rows(app, action="admin.users.list")
              if r.data["filters"] == {"role": "patient", "active": True}]
    assert len(listed) == 1 and listed[0].data["count"] == 1 and listed[0].actor_id == admin.id


async def test_pages_by_name_without_gaps(factory, client):
    admin = await factory.admin(name="Aaron Admin")
    for n in range(5):
        await factory.patient(name=f"Patient {n}", login=False)
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await client.get(USERS, params=params, headers=admin.headers)).json()
        seen += [u["full_name"] for u in page["items"]]
        if (cursor := page["next_cursor"]) is None:
            break
    assert seen == ["Aaron Admin"] + [f"Patient {n}" for n in range(5)]
    bad = await client.get(USERS, params={"cursor": "x"}, headers=admin.headers)
    assert_error(bad, 400, "invalid_cursor")


async def test_one_account_with_its_sessions_and_failed_sign_ins(factory, client, app):
    p = await _people(factory)
    await factory.login(p["ana"])  # a second sign-in
    await client.post(LOGIN, json={"email": "ana@clinic.test", "password": "not-it-at-all-1"})
    response = await client.get(f"{USERS}/{p['ana'].id}", headers=p["admin"].headers)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == DETAIL_KEYS
    assert (body["email"], body["is_active"], body["open_sessions"], body["recent_failed_sign_ins"]) == (
        "ana@clinic.test", True, 2, 1)
    row = await one_row(app, action="admin.users.read")
    assert (row.actor_id, row.object_type, row.object_id) == (p["admin"].id, "user", p["ana"].id)
    missing = await client.get(f"{USERS}/{uuid.uuid4()}", headers=p["admin"].headers)
    assert_error(missing, 404, "user_not_found")


async def test_creating_a_staff_account_is_recorded(factory, client, app):
    admin = await factory.admin()
    body = {"email": "new.doc@example.org", "password": STRONG_PASSWORD, "full_name": "Dr. New",
            "role": "doctor"}
    response = await client.post(USERS, json=body, headers=admin.headers)
    assert response.status_code == 201
    row = await one_row(app, action="admin.users.create")
    assert (row.actor_id, str(row.object_id)) == (admin.id, response.json()["id"])
    assert row.data == {"role": "doctor"}
    assert STRONG_PASSWORD not in str(row.data)


async def test_deactivating_ends_every_session_and_sign_in_until_reactivated(factory, client, app):
    p = await _people(factory)
    ana, admin = p["ana"], p["admin"]
    other_token = await factory.login(ana)
    response = await client.post(f"{USERS}/{ana.id}/deactivate", headers=admin.headers)
    assert response.status_code == 200
    assert (response.json()["is_active"], response.json()["open_sessions"]) == (False, 0)
    for token in (ana.token, other_token):
        assert_unauthorized(await client.get(ME, headers=bearer(token)))
    assert (await client.post(LOGIN, json={"email": ana.email, "password": ana.password})).status_code == 401
    row = await one_row(app, action="admin.users.deactivate")
    assert (row.actor_id, row.object_id, row.outcome, row.data) == (admin.id, ana.id, "success",
                                                                     {"sessions_revoked": 2})

    response = await client.post(f"{USERS}/{ana.id}/reactivate", headers=admin.headers)
    assert response.status_code == 200 and response.json()["is_active"] is True
    assert_unauthorized(await client.get(ME, headers=bearer(other_token)))  # old sessions stay dead
    await factory.login(ana)
    assert (await client.get(ME, headers=ana.headers)).status_code == 200
    assert (await one_row(app, action="admin.users.reactivate")).object_id == ana.id


async def test_an_admin_cannot_deactivate_themselves_and_the_attempt_is_recorded(factory, client, app):
    admin = await factory.admin()
    response = await client.post(f"{USERS}/{admin.id}/deactivate", headers=admin.headers)
    assert_error(response, 409, "cannot_deactivate_self")
    assert (await client.get(ME, headers=admin.headers)).status_code == 200
    row = await one_row(app, action="admin.users.deactivate")
    assert (row.outcome, row.actor_id, row.object_id) == ("denied", admin.id, admin.id)
    # Another admin may.
    other = await factory.admin()
    assert (await client.post(f"{USERS}/{admin.id}/deactivate", headers=other.headers)).status_code == 200


async def test_revoking_sessions_signs_the_account_out_everywhere(factory, client, app):
    p = await _people(factory)
    cy, admin = p["cy"], p["admin"]
    second = await factory.login(cy)
    response = await client.post(f"{USERS}/{cy.id}/revoke-sessions", headers=admin.headers)
    assert response.status_code == 200 and response.json() == {"revoked": 2}
    for token in (cy.token, second):
        assert_unauthorized(await client.get(ME, headers=bearer(token)), "invalid_token")
    await factory.login(cy)  # may sign in again
    assert (await client.get(ME, headers=cy.headers)).status_code == 200
    assert (await one_row(app, action="admin.users.revoke_sessions")).data == {"revoked": 2}
    assert (await client.get(ME, headers=admin.headers)).status_code == 200  # nobody else is touched


@pytest.mark.parametrize("settings_overrides", [{"login_max_failures_per_account_ip": 3}])
async def test_clearing_throttling_lets_a_locked_out_person_sign_in_now(factory, client, app):
    p = await _people(factory)
    bo, admin = p["bo"], p["admin"]
    for _ in range(3):
        await client.post(LOGIN, json={"email": bo.email, "password": "wrong-password-123"})
    locked = await client.post(LOGIN, json={"email": bo.email, "password": bo.password})
    assert_error(locked, 429)

    response = await client.post(f"{USERS}/{bo.id}/clear-throttling", headers=admin.headers)
    assert response.status_code == 200 and response.json() == {"cleared": 3}
    assert await count_failures(app, email=bo.email) == 0
    assert (await client.post(LOGIN, json={"email": bo.email, "password": bo.password})).status_code == 200
    row = await one_row(app, action="admin.users.clear_throttling")
    assert (row.actor_id, row.object_id, row.data) == (admin.id, bo.id, {"cleared": 3})


async def test_non_admins_get_403_on_every_admin_route_and_each_refusal_is_recorded(factory, client, app):
    p = await _people(factory)
    target = p["bo"].id
    calls = [("GET", USERS), ("POST", USERS), ("GET", f"{USERS}/{target}"),
             ("POST", f"{USERS}/{target}/deactivate"), ("POST", f"{USERS}/{target}/reactivate"),
             ("POST", f"{USERS}/{target}/revoke-sessions"), ("POST", f"{USERS}/{target}/clear-throttling"),
             ("POST", f"{USERS}/{target}/reset-mfa")]
    for person in (p["ana"], p["cy"]):
        for method, url in calls:
            body = {"email": "x@example.org", "password": STRONG_PASSWORD, "full_name": "X", "role": "admin"}
            response = await client.request(method, url, headers=person.headers,
                                            json=body if method == "POST" and url == USERS else None)
            assert_error(response, 403, "forbidden_role")
        denied = await audit_rows(app, actor_id=person.id, action="admin.access")
        assert sorted((r.data["method"], r.data["path"]) for r in denied) == sorted(calls)
        assert all(r.outcome == "denied" for r in denied)
    assert (await client.get(ME, headers=p["bo"].headers)).status_code == 200  # nothing happened to Bo
    for method, url in calls:
        assert_unauthorized(await client.request(method, url))


async def test_resetting_two_factor_lets_a_person_who_lost_their_phone_sign_in_with_the_password(
        factory, client, app, clock):
    p = await _people(factory)
    cy, admin = p["cy"], p["admin"]
    await enroll(client, cy.headers, clock.now())
    challenged = await login(client, cy.email, cy.password)
    assert challenged.json()["mfa_required"] is True  # the phone is needed
    detail = (await client.get(f"{USERS}/{cy.id}", headers=admin.headers)).json()
    assert detail["mfa_enabled"] is True

    response = await client.post(f"{USERS}/{cy.id}/reset-mfa", headers=admin.headers)
    assert response.status_code == 200 and response.json() == {"reset": True}
    signed_in = await login(client, cy.email, cy.password)
    assert signed_in.status_code == 200 and "access_token" in signed_in.json()
    assert (await client.get(f"{USERS}/{cy.id}", headers=admin.headers)).json()["mfa_enabled"] is False
    row = await one_row(app, action="admin.users.reset_mfa")
    assert (row.actor_id, row.object_id, row.data) == (admin.id, cy.id, {"was_enabled": True})
    # Enrolment and its confirmation were recorded as the person's own actions.
    assert [r.outcome for r in await audit_rows(app, action="auth.mfa.enable", actor_id=cy.id)] == ["success"]
    again = await client.post(f"{USERS}/{cy.id}/reset-mfa", headers=admin.headers)
    assert again.json() == {"reset": False}
    assert_error(await client.post(f"{USERS}/{uuid.uuid4()}/reset-mfa", headers=admin.headers), 404,
                 "user_not_found")
