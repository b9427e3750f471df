"""What the OpenAPI schemas now state is what the server does, at its edges (on both backends):
lengths counted as the schema counts them, nulls refused where the schema has none, cursors as
long as the longest this server issues, and the one case where the server takes more than before
(an unknown time zone at sign-up is left out, not refused)."""

from __future__ import annotations

import base64

from tests.fixtures.assertions import assert_error
from tests.fixtures.factories import PASSWORD

REGISTER = "/api/v1/auth/register"
LOGIN = "/api/v1/auth/login"
ADMIN_USERS = "/api/v1/admin/users"
PATIENTS = "/api/v1/patients"


async def test_an_unknown_time_zone_at_sign_up_means_utc(client):
    body = {"email": "zone@example.org", "password": PASSWORD, "full_name": "Zoe Zone",
            "time_zone": "Mars/Olympus_Mons"}
    assert (await client.post(REGISTER, json=body)).status_code == 202
    login = await client.post(LOGIN, json={"email": "zone@example.org", "password": PASSWORD})
    assert login.json()["user"]["time_zone"] == "UTC"


async def test_an_admin_naming_an_unknown_time_zone_is_refused(factory, client):
    admin = await factory.admin()
    body = {"email": "staff@example.org", "password": PASSWORD, "full_name": "Sam Staff",
            "role": "doctor", "time_zone": "Mars/Olympus_Mons"}
    assert_error(await client.post(ADMIN_USERS, json=body, headers=admin.headers), 422, "validation_error")
    body["time_zone"] = "Europe/Berlin"
    created = await client.post(ADMIN_USERS, json=body, headers=admin.headers)
    assert created.status_code == 201 and created.json()["time_zone"] == "Europe/Berlin"


async def test_names_are_counted_before_trimming_and_never_blank(client):
    for name in [" " * 3, "\u3000", "x" * 199 + "  "]:
        body = {"email": "name@example.org", "password": PASSWORD, "full_name": name}
        assert_error(await client.post(REGISTER, json=body), 422, "validation_error")
    body = {"email": "name@example.org", "password": PASSWORD, "full_name": "  Ann Lee "}
    assert (await client.post(REGISTER, json=body)).status_code == 202
    login = await client.post(LOGIN, json={"email": "name@example.org", "password": PASSWORD})
    assert login.json()["user"]["full_name"] == "Ann Lee"


async def test_special_use_domains_are_refused_as_the_schema_says(client):
    body = {"email": "someone@clinic.local", "password": PASSWORD, "full_name": "Lo Cal"}
    assert_error(await client.post(REGISTER, json=body), 422, "validation_error")


async def test_login_emails_with_nul_or_dotted_capital_i_are_refused(client):
    for email in ["a\x00b@example.org", "\u0130" * 254]:
        response = await client.post(LOGIN, json={"email": email, "password": PASSWORD})
        assert_error(response, 422, "validation_error")


async def test_moving_a_visit_takes_no_nulls(factory, client):
    doctor, patient = await factory.doctor(), await factory.patient()
    visit = await factory.appointment(doctor, patient)
    url = f"/api/v1/appointments/{visit['id']}"
    for body in [{}, {"starts_at": None}, {"duration_minutes": 45, "starts_at": None}]:
        assert_error(await client.patch(url, json=body, headers=doctor.headers), 422, "validation_error")
    moved = await client.patch(url, json={"duration_minutes": 45}, headers=doctor.headers)
    assert moved.status_code == 200 and moved.json()["duration_minutes"] == 45


async def test_a_reason_is_counted_before_trimming(factory, client):
    doctor, patient = await factory.doctor(), await factory.patient()
    visit = await factory.appointment(doctor, patient)
    url = f"/api/v1/appointments/{visit['id']}/cancel"
    too_long = await client.post(url, json={"reason": "x" * 499 + "  "}, headers=doctor.headers)
    assert_error(too_long, 422, "validation_error")
    cancelled = await client.post(url, json={"reason": " x " * 100}, headers=doctor.headers)
    assert cancelled.status_code == 200, cancelled.text


async def test_names_of_200_wide_characters_page_with_cursors_the_schema_allows(factory, client):
    """A page ending on a long non-ASCII name gets a cursor within the published maxLength."""
    doctor = await factory.doctor()
    names = [chr(0x1F600 + n) * 200 for n in range(3)]
    for name in names:
        await factory.patient(name=name, login=False)
    seen, cursor, cursors = [], None, []
    while True:
        params = {"limit": 1, **({"cursor": cursor} if cursor else {})}
        page = await client.get(PATIENTS, params=params, headers=doctor.headers)
        assert page.status_code == 200, page.text
        seen += [p["full_name"] for p in page.json()["items"]]
        if (cursor := page.json()["next_cursor"]) is None:
            break
        cursors.append(cursor)
    assert seen == names
    assert all(len(c) <= 2048 for c in cursors)


async def test_a_cursor_outside_base64url_is_refused_even_if_it_would_decode(factory, client):
    doctor = await factory.doctor()
    for n in range(2):
        await factory.patient(name=f"Anna {n}", login=False)
    cursor = (await client.get(PATIENTS, params={"limit": 1}, headers=doctor.headers)).json()["next_cursor"]
    tampered = cursor[:4] + "!!!!" + cursor[4:]
    padded = tampered + "=" * (-len(tampered) % 4)
    assert base64.urlsafe_b64decode(padded) == base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    response = await client.get(PATIENTS, params={"cursor": tampered}, headers=doctor.headers)
    assert_error(response, 400, "invalid_cursor")
