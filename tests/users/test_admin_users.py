"""POST /api/v1/admin/users: only an admin creates doctors (and other admins)."""

from __future__ import annotations

import uuid

from tests.auth.helpers import (
    ADMIN_USERS,
    ME,
    PATIENTS,
    STRONG_PASSWORD,
    USER_KEYS,
    assert_error,
    assert_not_leaked,
    assert_unauthorized,
    bearer,
    count_users,
    login,
    new_token,
)


def new_account(**overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "email": f"staff-{uuid.uuid4().hex[:8]}@example.org",
        "password": STRONG_PASSWORD,
        "full_name": "Dr. Lena Ortiz",
        "role": "doctor",
    }
    body.update(overrides)
    return body


async def test_an_admin_creates_a_doctor_who_can_sign_in_and_act_as_one(factory, client, app):
    admin = await factory.admin()
    response = await client.post(
        ADMIN_USERS, json=new_account(email="Lena.Ortiz@Clinic.example"), headers=admin.headers
    )

    assert response.status_code == 201, response.text
    doctor = response.json()
    assert set(doctor) == USER_KEYS
    assert doctor["role"] == "doctor"
    assert doctor["email"] == "lena.ortiz@clinic.example"
    assert doctor["full_name"] == "Dr. Lena Ortiz"
    assert_not_leaked(response, STRONG_PASSWORD)
    assert await count_users(app, role="doctor") == 1

    signed_in = await login(client, "lena.ortiz@clinic.example", STRONG_PASSWORD)
    assert signed_in.status_code == 200
    assert signed_in.json()["user"] == doctor
    token = signed_in.json()["access_token"]
    assert (await client.get(ME, headers=bearer(token))).json()["role"] == "doctor"
    assert (await client.get(PATIENTS, headers=bearer(token))).status_code == 200


async def test_an_admin_can_create_every_role(factory, client):
    admin = await factory.admin()
    for role in ("doctor", "patient", "admin"):
        body = new_account(role=role)
        response = await client.post(ADMIN_USERS, json=body, headers=admin.headers)
        assert response.status_code == 201, response.text
        assert response.json()["role"] == role
        token = await new_token(client, body["email"], STRONG_PASSWORD)
        assert (await client.get(ME, headers=bearer(token))).json()["role"] == role


async def test_only_an_admin_may_and_refusals_create_nothing(factory, client, app):
    doctor = await factory.doctor()
    patient = await factory.patient()
    body = new_account(role="admin")
    before = await count_users(app)

    for person in (doctor, patient):
        response = await client.post(ADMIN_USERS, json=body, headers=person.headers)
        assert_error(response, 403, "forbidden_role")
        assert_not_leaked(response, STRONG_PASSWORD)
    assert_unauthorized(await client.post(ADMIN_USERS, json=body), "not_authenticated")
    assert_unauthorized(
        await client.post(ADMIN_USERS, json=body, headers=bearer("forged")), "invalid_token"
    )
    assert await count_users(app) == before
    assert (await login(client, body["email"], STRONG_PASSWORD)).status_code == 401


async def test_bad_accounts_are_refused(factory, client, app):
    admin = await factory.admin()
    taken = new_account(email="taken@example.org")
    assert (await client.post(ADMIN_USERS, json=taken, headers=admin.headers)).status_code == 201
    before = await count_users(app)

    cases = [
        (new_account(email="TAKEN@example.org"), 409, "email_taken"),
        (new_account(password="password1234"), 422, "weak_password"),
        (new_account(password="short-1"), 422, "weak_password"),
        (new_account(role="superuser"), 422, "validation_error"),
        ({k: v for k, v in new_account().items() if k != "role"}, 422, "validation_error"),
        (new_account(is_active=False), 422, "validation_error"),
        (new_account(email="not-an-email"), 422, "validation_error"),
        (new_account(full_name="Dr.\x00Null"), 422, "validation_error"),
    ]
    for body, status, code in cases:
        response = await client.post(ADMIN_USERS, json=body, headers=admin.headers)
        assert_error(response, status, code)
        assert_not_leaked(response, str(body["password"]))
    assert await count_users(app) == before
