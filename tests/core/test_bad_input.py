"""Bad input of every kind gets a clear 4xx in the contract's error body, and changes nothing."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import func, select

from televisit.core.db import session_scope
from televisit.runtime import runtime_of
from televisit.users.models import User
from tests.fixtures.assertions import assert_error
from tests.fixtures.factories import PASSWORD

REGISTER = "/api/v1/auth/register"
APPOINTMENTS = "/api/v1/appointments"
SECRET = "Correct-Horse-Battery-Staple-9431"



async def count_users(app) -> int:
    async with session_scope(runtime_of(app).sessionmaker) as session:
        return (await session.execute(select(func.count()).select_from(User))).scalar_one()


def registration(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "email": f"new-{uuid.uuid4().hex[:8]}@example.org",
        "password": SECRET,
        "full_name": "New Patient",
    }
    body.update(overrides)
    return body


# --- bodies that are not what the route takes ---------------------------------------------------

@pytest.mark.parametrize(
    "raw",
    [b"{", b'{"email": "a@example.org",}', b"not json", b"{'single': 'quotes'}", b'{"a": 1}}',
     b"\xff\xfe\x00garbage"],
)
async def test_malformed_json_is_400(client, app, raw):
    response = await client.post(REGISTER, content=raw, headers={"content-type": "application/json"})
    assert_error(response, 400, "malformed_json")
    assert await count_users(app) == 0


@pytest.mark.parametrize("payload", [[], [1, 2], "a string", 42, True, None])
async def test_json_that_is_not_an_object_is_422(client, app, payload):
    response = await client.post(REGISTER, json=payload)
    assert_error(response, 422, "validation_error")
    assert await count_users(app) == 0


async def test_missing_body_is_422(client):
    response = await client.post(REGISTER)
    error = assert_error(response, 422, "validation_error")
    assert error["details"][0]["loc"] == ["body"]


@pytest.mark.parametrize(
    ("field", "value"),
    [("email", 12), ("email", ["a@example.org"]), ("full_name", {"first": "A"}),
     ("password", None), ("email", "not-an-email"), ("full_name", ""), ("full_name", "x" * 201)],
)
async def test_wrong_types_and_values_are_422_with_the_field(client, app, field, value):
    response = await client.post(REGISTER, json=registration(**{field: value}))
    error = assert_error(response, 422, "validation_error")
    assert ["body", field] in [d["loc"] for d in error["details"]], error
    assert await count_users(app) == 0


async def test_unknown_fields_are_422(client, app):
    response = await client.post(REGISTER, json=registration(role="admin"))
    error = assert_error(response, 422, "validation_error")
    assert error["details"][0]["loc"] == ["body", "role"]
    assert error["details"][0]["type"] == "extra_forbidden"
    assert await count_users(app) == 0


async def test_unknown_fields_in_a_booking_are_422(client, factory):
    doctor, patient = await factory.doctor(), await factory.patient()
    body = {"patient_id": str(patient.id), "starts_at": "2030-03-04T10:00:00+00:00",
            "duration_minutes": 30, "doctor_id": str(doctor.id)}
    response = await client.post(APPOINTMENTS, json=body, headers=doctor.headers)
    assert_error(response, 422, "validation_error")
    listed = await client.get(APPOINTMENTS, headers=doctor.headers)
    assert listed.json()["items"] == []


@pytest.mark.parametrize(
    ("field", "value"),
    [("starts_at", "tomorrow"), ("starts_at", "2030-03-04T10:00:00"), ("starts_at", 1234567890),
     ("duration_minutes", "thirty"), ("duration_minutes", 30.5), ("duration_minutes", -5),
     ("patient_id", "not-a-uuid"), ("patient_id", 7), ("reason", "x" * 501), ("reason", ["a"])],
)
async def test_booking_with_wrong_types_is_422(client, factory, field, value):
    doctor, patient = await factory.doctor(), await factory.patient()
    body = {"patient_id": str(patient.id), "starts_at": "2030-03-04T10:00:00+00:00",
            "duration_minutes": 30}
    body[field] = value
    response = await client.post(APPOINTMENTS, json=body, headers=doctor.headers)
    error = assert_error(response, 422)
    assert ["body", field] in [d["loc"] for d in error["details"]], error
    listed = await client.get(APPOINTMENTS, headers=doctor.headers)
    assert listed.json()["items"] == []


@pytest.mark.parametrize(
    "query",
    [{"status": "sleeping"}, {"from": "yesterday"}, {"from": "2030-03-04T10:00:00"},
     {"limit": "0"}, {"limit": "101"}, {"limit": "ten"}, {"cursor": "x" * 2049}],
)
async def test_bad_query_parameters_are_422(client, factory, query):
    patient = await factory.patient()
    response = await client.get(APPOINTMENTS, params=query, headers=patient.headers)
    assert_error(response, 422, "validation_error")


@pytest.mark.parametrize("cursor", ["garbage", "eyJhIjoxfQ", "W10", "WyJ4IiwieSJd"])
async def test_tampered_cursors_are_400(client, factory, cursor):
    patient = await factory.patient()
    response = await client.get(APPOINTMENTS, params={"cursor": cursor}, headers=patient.headers)
    assert_error(response, 400, "invalid_cursor")


# --- a validation error never shows what was sent -------------------------------------------------

@pytest.mark.parametrize(
    "body",
    [
        {"email": "not-an-email", "password": SECRET, "full_name": "A"},
        {"email": "a@example.org", "password": SECRET, "full_name": "A", "extra": SECRET},
        {"email": "a@example.org", "password": SECRET * 20, "full_name": "A"},
        {"email": SECRET, "password": SECRET, "full_name": ""},
    ],
)
async def test_validation_errors_never_echo_the_password(client, body):
    response = await client.post(REGISTER, json=body)
    assert response.status_code == 422
    assert SECRET not in response.text
    for detail in response.json()["error"]["details"]:
        assert set(detail) == {"loc", "msg", "type"}, detail


async def test_login_validation_errors_never_echo_the_password(client):
    response = await client.post("/api/v1/auth/login", json={"email": "", "password": SECRET * 20})
    assert response.status_code == 422
    assert SECRET not in response.text


# --- bodies over the limit ------------------------------------------------------------------------

def oversized_registration(settings) -> bytes:
    body = json.dumps(registration(full_name="x" * (settings.max_body_bytes + 1))).encode()
    assert len(body) > settings.max_body_bytes
    return body


async def test_oversized_body_with_content_length_is_413(client, app, settings):
    response = await client.post(
        REGISTER, content=oversized_registration(settings), headers={"content-type": "application/json"}
    )
    assert "content-length" in response.request.headers
    error = assert_error(response, 413, "payload_too_large")
    assert error["details"] == {"max_bytes": settings.max_body_bytes}
    assert await count_users(app) == 0


async def test_oversized_chunked_body_without_content_length_is_413(client, app, settings):
    raw = oversized_registration(settings)
    sent: list[int] = []

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(raw), 8192):
            sent.append(start)
            yield raw[start:start + 8192]

    response = await client.post(REGISTER, content=chunks(), headers={"content-type": "application/json"})
    assert "content-length" not in response.request.headers
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert_error(response, 413, "payload_too_large")
    assert await count_users(app) == 0
    # The server stopped reading once it was over the limit.
    assert len(sent) * 8192 <= settings.max_body_bytes + 8192 * 2


async def test_a_lying_small_content_length_does_not_get_past_the_limit(client, app, settings):
    raw = oversized_registration(settings)

    async def chunks() -> AsyncIterator[bytes]:
        yield raw

    response = await client.post(
        REGISTER, content=chunks(), headers={"content-type": "application/json", "content-length": "10"}
    )
    assert_error(response, 413, "payload_too_large")
    assert await count_users(app) == 0


async def test_a_body_just_under_the_limit_is_read(client, app, settings):
    body = registration()
    body["full_name"] = "x" * 200
    padding = settings.max_body_bytes - len(json.dumps(body)) - 20
    raw = json.dumps(body)[:-1] + ", " + json.dumps("pad") + ": " + json.dumps("p" * padding) + "}"
    assert len(raw) <= settings.max_body_bytes
    response = await client.post(REGISTER, content=raw, headers={"content-type": "application/json"})
    # Read and validated (the extra field is refused), not cut off by the size limit.
    assert_error(response, 422, "validation_error")


# --- paths, methods, and bad identifiers ---------------------------------------------------------

@pytest.mark.parametrize(
    "path",
    [f"{APPOINTMENTS}/not-a-uuid", f"{APPOINTMENTS}/123", f"{APPOINTMENTS}/c7dd6a7d64f9430c8d57d079a3a1c18",
     f"{APPOINTMENTS}/%00", f"{APPOINTMENTS}/{'9' * 300}"],
)
async def test_bad_uuids_in_paths_are_422(client, factory, path):
    patient = await factory.patient()
    response = await client.get(path, headers=patient.headers)
    error = assert_error(response, 422, "validation_error")
    assert error["details"][0]["loc"] == ["path", "appointment_id"]


async def test_bad_uuid_when_cancelling_is_422_and_changes_nothing(client, factory):
    doctor, patient = await factory.doctor(), await factory.patient()
    appointment = await factory.appointment(doctor, patient)
    response = await client.post(f"{APPOINTMENTS}/{appointment['id'][:-1]}/cancel",
                                 headers=patient.headers)
    assert_error(response, 422, "validation_error")
    again = await client.get(f"{APPOINTMENTS}/{appointment['id']}", headers=patient.headers)
    assert again.json()["status"] == "scheduled"


async def test_unknown_uuid_is_404(client, factory):
    patient = await factory.patient()
    response = await client.get(f"{APPOINTMENTS}/{uuid.uuid4()}", headers=patient.headers)
    assert_error(response, 404, "appointment_not_found")


@pytest.mark.parametrize("path", ["/api/v1/nope", "/api/v2/appointments", "/api", "/api/v1/me/extra",
                                  "/readyz/extra"])
async def test_unknown_routes_are_404_with_the_error_body(client, path):
    response = await client.get(path)
    assert_error(response, 404, "not_found")


@pytest.mark.parametrize(
    ("method", "path"),
    [("DELETE", APPOINTMENTS), ("PUT", "/api/v1/me"), ("GET", REGISTER), ("PATCH", "/livez")],
)
async def test_wrong_method_is_405_with_the_error_body(client, method, path):
    response = await client.request(method, path)
    assert_error(response, 405, "method_not_allowed")
    assert response.headers.get("allow")


async def test_405_allows_every_method_of_the_path(client):
    """One path often has a route per method; the Allow header names them all."""
    response = await client.delete(APPOINTMENTS)
    assert_error(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "GET, POST"
    one = await client.put(f"{APPOINTMENTS}/{uuid.uuid4()}")
    assert one.headers["allow"] == "GET, PATCH"


async def test_non_json_content_type_is_refused(client, app):
    body = json.dumps(registration()).encode()
    response = await client.post(REGISTER, content=body, headers={"content-type": "text/plain"})
    assert_error(response, 422, "validation_error")
    assert await count_users(app) == 0


async def test_errors_carry_the_body_for_auth_failures(client):
    assert_error(await client.get("/api/v1/me"), 401, "not_authenticated")
    bad = await client.get("/api/v1/me", headers={"Authorization": "Bearer nope"})
    assert_error(bad, 401, "invalid_token")
    basic = await client.get("/api/v1/me", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert_error(basic, 401)


async def test_role_refusal_carries_the_body(client, factory):
    patient = await factory.patient()
    response = await client.get("/api/v1/patients", headers=patient.headers)
    assert_error(response, 403, "forbidden_role")


async def test_duplicate_registration_keeps_one_account(client, app, factory):
    person = await factory.patient()
    response = await client.post(REGISTER, json=registration(email=person.email, password=PASSWORD))
    # The same 202 as for a new address (registration does not tell who has an account).
    assert response.status_code == 202, response.text
    assert await count_users(app) == 1


# --- text PostgreSQL cannot store (NUL) is refused, not a 500 ------------------------------------

async def test_nul_characters_never_reach_the_database(client, factory):
    doctor, patient = await factory.doctor(), await factory.patient()
    appointment = await factory.appointment(doctor, patient)
    visit = f"{APPOINTMENTS}/{appointment['id']}"
    attempts = [
        client.post("/api/v1/auth/login", json={"email": "a\x00b@example.org", "password": "x"}),
        client.post("/api/v1/auth/login", json={"email": patient.email, "password": "x\x00"}),
        client.post(REGISTER, json=registration(full_name="Nul\x00Name")),
        client.post(REGISTER, json=registration(email="nul\x00@example.org")),
        client.get("/api/v1/patients", params={"query": "a\x00"}, headers=doctor.headers),
        client.post(f"{visit}/cancel", json={"reason": "why\x00"}, headers=patient.headers),
    ]
    for attempt in attempts:
        response = await attempt
        assert 400 <= response.status_code < 500, (response.request.url, response.text)
        assert_error(response, response.status_code)
    again = await client.get(visit, headers=patient.headers)
    assert again.json()["status"] == "scheduled"


@pytest.mark.parametrize("body", [{"client_msg_id": "m\x001", "body": "hi"},
                                  {"client_msg_id": "m2", "body": "hi\x00"}])
async def test_nul_characters_in_chat_messages_are_refused(client, factory, body):
    doctor, patient = await factory.doctor(), await factory.patient()
    appointment = await factory.appointment(doctor, patient)
    messages = f"{APPOINTMENTS}/{appointment['id']}/messages"
    response = await client.post(messages, json=body, headers=patient.headers)
    assert_error(response, 422)
    assert (await client.get(messages, headers=patient.headers)).json()["items"] == []
