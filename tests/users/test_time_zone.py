"""Each person's time zone (an IANA name): the browser's at sign-up, changeable with PATCH /me;
the times in their emails are written in it."""

from __future__ import annotations

import uuid

from tests.auth.helpers import ADMIN_USERS, LOGIN, ME, REGISTER, STRONG_PASSWORD, assert_error

BAD_ZONES = ["Mars/Olympus_Mons", "../../etc/passwd", "", "Europe/Berlin\x00", "europe/berlin", "x" * 65]


def account(**extra: object) -> dict[str, object]:
    return {"email": f"tz-{uuid.uuid4().hex[:8]}@example.org", "password": STRONG_PASSWORD,
            "full_name": "Nadia Zone", **extra}


async def _zone_after_sign_up(client, **extra: object) -> str:
    """Registration answers neutrally (202): the zone is read back after signing in."""
    body = account(**extra)
    response = await client.post(REGISTER, json=body)
    assert response.status_code == 202, response.text
    signed_in = await client.post(LOGIN, json={"email": body["email"], "password": body["password"]})
    return signed_in.json()["user"]["time_zone"]


async def test_sign_up_takes_the_browsers_zone_or_defaults_to_utc(client):
    assert await _zone_after_sign_up(client, time_zone="America/Sao_Paulo") == "America/Sao_Paulo"
    assert await _zone_after_sign_up(client) == "UTC"
    # A browser may know a zone this server's tzdata does not: signing up must not fail over it.
    for unknown in BAD_ZONES[:-1]:
        assert await _zone_after_sign_up(client, time_zone=unknown) == "UTC"
    for bad in ["x" * 65, 42, ["Europe/Berlin"]]:
        assert_error(await client.post(REGISTER, json=account(time_zone=bad)), 422, "validation_error")


async def test_an_admin_creates_staff_with_a_zone(client, factory):
    admin = await factory.admin()
    response = await client.post(ADMIN_USERS, headers=admin.headers,
                                 json={**account(time_zone="Asia/Kolkata"), "role": "doctor"})
    assert response.status_code == 201, response.text
    assert response.json()["time_zone"] == "Asia/Kolkata"


async def test_a_person_changes_their_zone(client, factory):
    person = await factory.patient()
    response = await client.patch(ME, json={"time_zone": "Pacific/Auckland"}, headers=person.headers)
    assert response.status_code == 200, response.text
    assert response.json()["time_zone"] == "Pacific/Auckland"
    assert (await client.get(ME, headers=person.headers)).json()["time_zone"] == "Pacific/Auckland"
    for bad in BAD_ZONES:
        assert_error(await client.patch(ME, json={"time_zone": bad}, headers=person.headers), 422,
                     "validation_error")
    assert_error(await client.patch(ME, json={"time_zone": "UTC", "role": "admin"}, headers=person.headers),
                 422, "validation_error")
    assert_error(await client.patch(ME, json={"time_zone": "UTC"}), 401)
    assert (await client.get(ME, headers=person.headers)).json()["role"] == "patient"
