"""Whatever arrives in the Authorization header, the answer is a clean 401, never a 500."""

from __future__ import annotations

from tests.auth.helpers import LOGOUT, ME, PATIENTS, assert_unauthorized

ROUTES = [("GET", ME), ("POST", LOGOUT), ("GET", PATIENTS)]


def bad_headers(valid: str) -> list[dict[str, str | bytes]]:
    return [
        {},
        {"Authorization": ""},
        {"Authorization": "Basic dXNlcjpwYXNzd29yZA=="},
        {"Authorization": f"Token {valid}"},
        {"Authorization": valid},  # no scheme at all
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer "},
        {"Authorization": "Bearer not-a-real-token"},
        {"Authorization": f"Bearer {valid}x"},
        {"Authorization": f"Bearer {valid[:-1]}"},
        {"Authorization": f"Bearer {valid} {valid}"},
        {"Authorization": "Bearer " + "a" * 10_000},
        {"Authorization": b"Bearer \xff\xfe\x80"},  # not UTF-8
        {"Authorization": "Bearer \t"},
    ]


async def test_bad_authorization_headers_are_401_with_www_authenticate(factory, client):
    doctor = await factory.doctor()
    for method, path in ROUTES:
        for headers in bad_headers(doctor.token):
            response = await client.request(method, path, headers=headers)
            error = assert_unauthorized(response)
            assert error["code"] in {"not_authenticated", "invalid_token"}, (path, headers, error)
            assert doctor.token not in response.text
    # A token is never taken from the URL.
    response = await client.get(ME, params={"access_token": doctor.token, "token": doctor.token})
    assert_unauthorized(response, "not_authenticated")
    # None of that touched the real token, and the scheme's case does not matter.
    for scheme in ("bearer", "BEARER", "Bearer"):
        response = await client.get(ME, headers={"Authorization": f"{scheme} {doctor.token}"})
        assert response.status_code == 200, (scheme, response.text)
