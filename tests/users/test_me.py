"""GET /api/v1/me: who the token belongs to, and nothing more."""

from __future__ import annotations

from tests.auth.helpers import ME, USER_KEYS, assert_not_leaked


async def test_me_returns_exactly_id_email_name_role_and_time_zone(factory, client):
    for role in ("patient", "doctor", "admin"):
        person = await factory.user(role, name=f"Someone {role.title()}")
        response = await client.get(ME, headers=person.headers)

        assert response.status_code == 200, response.text
        assert response.json() == {
            "id": str(person.id), "email": person.email, "full_name": f"Someone {role.title()}",
            "role": role, "time_zone": "UTC",
        }
        assert set(response.json()) == USER_KEYS
        assert_not_leaked(response, person.password, person.token)
