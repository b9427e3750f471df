"""Patient self-registration: what is created, what is refused without changing anything, and an
answer that does not tell whether an address already has an account."""

from __future__ import annotations

import uuid

from zxcvbn.frequency_lists import FREQUENCY_LISTS

from televisit.auth.service import REGISTRATION_MESSAGE
from tests.auth.helpers import (
    ME,
    REGISTER,
    STRONG_PASSWORD,
    USER_KEYS,
    assert_error,
    assert_not_leaked,
    bearer,
    count_users,
    login,
)

COMMON_PASSWORD = "password1234"


def registration(**overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "email": f"new-{uuid.uuid4().hex[:8]}@example.org",
        "password": STRONG_PASSWORD,
        "full_name": "Nora Quinn",
    }
    body.update(overrides)
    return body


def test_the_common_password_used_here_is_in_the_shipped_list():
    # The policy test below is only meaningful if the list really holds this password.
    assert COMMON_PASSWORD in FREQUENCY_LISTS["passwords"]
    assert len(COMMON_PASSWORD) >= 10  # so only the common-password rule can refuse it


async def test_register_creates_a_patient_who_can_sign_in(client, app):
    body = registration(email="Nora.Quinn@Example.ORG", full_name="  Nora Quinn  ")
    response = await client.post(REGISTER, json=body)

    assert response.status_code == 202, response.text
    assert response.json() == {"message": REGISTRATION_MESSAGE}
    assert_not_leaked(response, STRONG_PASSWORD)
    assert await count_users(app) == 1

    # The account is active at once: the patient signs in right after registering.
    signed_in = await login(client, "nora.quinn@example.org", STRONG_PASSWORD)
    assert signed_in.status_code == 200, signed_in.text
    user = signed_in.json()["user"]
    assert set(user) == USER_KEYS
    assert uuid.UUID(user["id"])
    assert user["email"] == "nora.quinn@example.org"
    assert user["full_name"] == "Nora Quinn"
    assert user["role"] == "patient"
    me = await client.get(ME, headers=bearer(signed_in.json()["access_token"]))
    assert me.status_code == 200
    assert me.json() == user


async def test_a_role_field_is_refused_as_unknown(client, app):
    for role in ("doctor", "admin", "patient"):
        body = registration(role=role)
        response = await client.post(REGISTER, json=body)

        error = assert_error(response, 422, "validation_error")
        assert ["body", "role"] in [d["loc"] for d in error["details"]], role
        assert_not_leaked(response, STRONG_PASSWORD)
        assert (await login(client, body["email"], STRONG_PASSWORD)).status_code == 401
    assert await count_users(app) == 0


async def test_a_taken_email_gets_the_same_answer_and_changes_nothing(client, app):
    first = await client.post(REGISTER, json=registration(email="sam.reed@example.org",
                                                          full_name="Sam Reed"))
    assert first.status_code == 202
    other_password = "lilac-window-orbit-5521"

    for email in ("sam.reed@example.org", "SAM.Reed@EXAMPLE.org"):
        response = await client.post(
            REGISTER, json=registration(email=email, password=other_password, full_name="Impostor")
        )
        # Exactly what a new address gets: nobody learns that Sam has an account here.
        assert response.status_code == first.status_code
        assert response.content == first.content
        assert set(response.headers) == set(first.headers)
        assert_not_leaked(response, other_password)

    assert await count_users(app) == 1
    # The original account is untouched: its password and name still stand.
    assert (await login(client, "sam.reed@example.org", other_password)).status_code == 401
    ok = await login(client, "sam.reed@example.org", STRONG_PASSWORD)
    assert ok.status_code == 200
    assert ok.json()["user"]["full_name"] == "Sam Reed"


INVALID_EMAILS = [
    "not-an-email", "a@", "@example.org", "two words@example.org", "a@b@example.org",
    "nul\x00@example.org", "a" * 250 + "@example.org", "", 42, None, ["a@example.org"],
]


async def test_invalid_email_is_422(client, app):
    for email in INVALID_EMAILS:
        response = await client.post(REGISTER, json=registration(email=email))

        error = assert_error(response, 422, "validation_error")
        assert ["body", "email"] in [d["loc"] for d in error["details"]], email
        assert_not_leaked(response, STRONG_PASSWORD)
    assert await count_users(app) == 0


WEAK_PASSWORDS = [
    # (password, email or None for a fresh one, full_name, what the message says)
    ("Xk7#pq2vZ", None, "Nora Quinn", "at least 10 characters"),
    (COMMON_PASSWORD, None, "Nora Quinn", "too common"),
    ("PassWord1234", None, "Nora Quinn", "too common"),
    ("zzzzyyyyzzzzyyyy", None, "Nora Quinn", "too easy"),
    ("Maximilian-rocks-77", "maximilian@example.org", "Max Power", "email or name"),
    ("orbit-quisling-ferry-8", None, "Nora Quisling", "email or name"),
]


async def test_weak_password_is_refused_and_creates_nothing(client, app, settings):
    for password, email, full_name, reason in WEAK_PASSWORDS:
        body = registration(password=password, full_name=full_name)
        if email:
            body["email"] = email
        response = await client.post(REGISTER, json=body)

        error = assert_error(response, 422, "weak_password")
        assert reason in error["message"], (password, error)
        assert error["details"] and all(d["loc"] == ["body", "password"] for d in error["details"])
        assert_not_leaked(response, password)
        assert await count_users(app, email=body["email"]) == 0
        # The address is still free: the same person registers with a good password.
        retry = await client.post(REGISTER, json={**body, "password": STRONG_PASSWORD})
        assert retry.status_code == 202, retry.text
        assert await count_users(app, email=body["email"]) == 1

    # The shortest allowed password is accepted.
    short_ok = "q8#Lm2vX9z"
    assert len(short_ok) == settings.password_min_length
    response = await client.post(REGISTER, json=registration(password=short_ok))
    assert response.status_code == 202, response.text


async def test_bad_full_name_is_422(client, app):
    for full_name in ("", "   ", "x" * 201, "Nora\nQuinn", "Nora\x00Quinn", "Tab\tName", 7, None):
        response = await client.post(REGISTER, json=registration(full_name=full_name))

        error = assert_error(response, 422, "validation_error")
        assert ["body", "full_name"] in [d["loc"] for d in error["details"]], full_name
    assert await count_users(app) == 0


async def test_missing_fields_are_each_reported(client, app):
    response = await client.post(REGISTER, json={})

    error = assert_error(response, 422, "validation_error")
    locs = [d["loc"] for d in error["details"]]
    assert ["body", "email"] in locs
    assert ["body", "password"] in locs
    assert ["body", "full_name"] in locs
    assert await count_users(app) == 0


async def test_password_never_appears_in_any_response(client):
    password = "saffron-tundra-violin-3307"
    body = registration(email="pia.lund@example.org", full_name="Pia Lund", password=password)
    responses = [
        await client.post(REGISTER, json=body),  # 202, new
        await client.post(REGISTER, json=body),  # 202, taken
        await client.post(REGISTER, json={**body, "unexpected": password}),  # 422 unknown field
        await client.post(REGISTER, json={**body, "email": password}),  # 422 bad email
        await client.post(REGISTER, json={**body, "password": password * 20}),  # 422 too long
        await login(client, "pia.lund@example.org", password),  # 200
        await login(client, "pia.lund@example.org", password + "x"),  # 401
    ]
    assert [r.status_code for r in responses] == [202, 202, 422, 422, 422, 200, 401]
    token = responses[5].json()["access_token"]
    responses.append(await client.get(ME, headers=bearer(token)))
    for response in responses:
        assert_not_leaked(response, password)
