"""Logs like Rails in development, one JSON line per request in production, secrets in neither."""

from __future__ import annotations

import re
import uuid

import pytest

from tests.fixtures.factories import PASSWORD
from tests.fixtures.logs import console_lines, json_lines

CONSOLE_SQL = {"env": "development", "log_format": "console", "log_sql": True}
PRODUCTION = {"env": "production"}


# --- development: the console format ------------------------------------------------------------

@pytest.mark.parametrize("settings_overrides", [CONSOLE_SQL])
async def test_console_request_line_has_params_with_secrets_redacted(client, logs):
    secret = "Sapphire-Lantern-Orchard-77"
    response = await client.post(
        "/api/v1/auth/register?source=test",
        json={"email": "rails@example.org", "password": secret, "full_name": "Ruby Rails"},
    )
    assert response.status_code == 202, response.text
    output = logs.getvalue()
    assert secret not in output
    [line] = [entry for entry in console_lines(logs, "request") if entry["method"] == "POST"]
    assert line["path"] == "/api/v1/auth/register"
    assert line["route"] == "/api/v1/auth/register"
    assert line["status"] == "202"
    assert float(line["duration_ms"]) > 0
    assert "'email': 'rails@example.org'" in line["params"]
    assert "'password': '[REDACTED]'" in line["params"]
    assert "'full_name': 'Ruby Rails'" in line["params"]
    assert "'source': 'test'" in line["params"]
    assert line["request_id"] == response.headers["x-request-id"]


@pytest.mark.parametrize("settings_overrides", [CONSOLE_SQL])
async def test_console_never_shows_tokens_or_password_hashes(client, factory, logs):
    patient = await factory.patient()
    assert (await client.get("/api/v1/me", headers=patient.headers)).status_code == 200
    assert (await client.post("/api/v1/auth/logout", headers=patient.headers)).status_code == 204
    output = logs.getvalue()
    assert patient.token and patient.token not in output
    assert PASSWORD not in output
    assert "$argon2" not in output
    assert "[REDACTED]" in output  # the login body's password


@pytest.mark.parametrize("settings_overrides", [CONSOLE_SQL])
async def test_console_logs_each_sql_statement_under_its_request(client, factory, logs):
    doctor, patient = await factory.doctor(), await factory.patient()
    appointment = await factory.appointment(doctor, patient)
    logs.truncate(0)
    logs.seek(0)
    response = await client.get(f"/api/v1/appointments/{appointment['id']}", headers=patient.headers)
    assert response.status_code == 200
    request_id = response.headers["x-request-id"]
    [request] = console_lines(logs, "request")
    assert request["request_id"] == request_id
    assert request["route"] == "/api/v1/appointments/{appointment_id}"
    assert request["path"] == f"/api/v1/appointments/{appointment['id']}"
    assert f"'appointment_id': '{appointment['id']}'" in request["params"]
    assert request["user_id"] == str(patient.id)
    statements = console_lines(logs, "sql")
    assert len(statements) == int(request["sql_count"]) >= 2
    for statement in statements:
        assert statement["request_id"] == request_id
        assert float(statement["duration_ms"]) >= 0
        assert "statement" in statement
    assert any("appointments" in s["statement"] for s in statements)


@pytest.mark.parametrize("settings_overrides", [CONSOLE_SQL])
async def test_uncaught_exception_logs_the_stack_trace_and_answers_500(app, client, logs):
    async def explode() -> None:
        raise RuntimeError("kaboom: the flux capacitor melted")

    app.add_api_route("/api/v1/test-explode", explode, methods=["GET"])
    response = await client.get("/api/v1/test-explode", headers={"X-Request-ID": "crash-1"})
    assert response.status_code == 500
    assert response.json() == {"error": {"code": "internal_error",
                                         "message": "Something went wrong on our side.",
                                         "details": None}}
    assert "kaboom" not in response.text
    assert response.headers["x-request-id"] == "crash-1"
    output = logs.getvalue()
    assert "Traceback (most recent call last)" in output
    assert "RuntimeError: kaboom: the flux capacitor melted" in output
    assert "in explode" in output
    [crash] = console_lines(logs, "unhandled_exception")
    assert crash["request_id"] == "crash-1"
    [request] = console_lines(logs, "request")
    assert request["status"] == "500"
    assert request["route"] == "/api/v1/test-explode"


# --- production: one JSON line per request ------------------------------------------------------

@pytest.mark.parametrize("settings_overrides", [PRODUCTION])
async def test_production_logs_one_json_line_per_request_without_secrets(client, factory, logs):
    patient = await factory.patient()
    response = await client.get("/api/v1/me", headers=patient.headers)
    assert response.status_code == 200
    lines = json_lines(logs)
    assert len(lines) == len(logs.getvalue().splitlines())  # nothing but JSON
    requests = [line for line in lines if line["event"] == "request"]
    assert [r["path"] for r in requests] == ["/api/v1/auth/login", "/api/v1/me"]
    me = requests[-1]
    assert me["request_id"] == response.headers["x-request-id"]
    assert me["user_id"] == str(patient.id)
    assert me["status"] == 200
    assert isinstance(me["duration_ms"], float | int)
    assert me["route"] == "/api/v1/me"
    assert me["level"] == "info"
    for line in requests:
        assert "params" not in line and "body" not in line
    output = logs.getvalue()
    assert patient.token and patient.token not in output
    assert PASSWORD not in output
    assert "sql" not in {line["event"] for line in lines}


@pytest.mark.parametrize("settings_overrides", [PRODUCTION])
async def test_production_logs_failures_with_their_status(client, logs):
    response = await client.post("/api/v1/auth/login", json={"email": "x@example.org",
                                                              "password": "wrong-password-1"})
    assert response.status_code == 401
    [line] = [line for line in json_lines(logs) if line["event"] == "request"]
    assert line["status"] == 401
    assert line["user_id"] is None
    assert "wrong-password-1" not in logs.getvalue()


@pytest.mark.parametrize("settings_overrides", [PRODUCTION])
async def test_production_crash_is_one_json_line_with_the_trace(app, client, logs):
    async def explode() -> None:
        raise ValueError("boom")

    app.add_api_route("/api/v1/test-explode", explode, methods=["GET"])
    response = await client.get("/api/v1/test-explode")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    [crash] = [line for line in json_lines(logs) if line["event"] == "unhandled_exception"]
    assert crash["level"] == "error"
    assert crash["request_id"] == response.headers["x-request-id"]
    [trace] = crash["exception"]
    assert trace["exc_type"] == "ValueError" and trace["exc_value"] == "boom"
    assert trace["frames"][-1]["name"] == "explode"
    [request] = [line for line in json_lines(logs) if line["event"] == "request"]
    assert request["status"] == 500 and request["level"] == "error"


# --- X-Request-ID ---------------------------------------------------------------------------------

@pytest.mark.parametrize("settings_overrides", [PRODUCTION])
@pytest.mark.parametrize("incoming", ["abc-123", "0f9a7c1e-2b3d-4e5f-8a9b-0c1d2e3f4a5b", "lb.node:7_x"])
async def test_well_formed_request_id_is_honoured_and_returned(client, logs, incoming):
    response = await client.get("/livez", headers={"X-Request-ID": incoming})
    assert response.headers["x-request-id"] == incoming
    [line] = [line for line in json_lines(logs) if line["event"] == "request"]
    assert line["request_id"] == incoming


@pytest.mark.parametrize("settings_overrides", [PRODUCTION])
@pytest.mark.parametrize("incoming", ["", "has spaces", "x" * 129, "<script>", "a\tb", "ünïcode"])
async def test_malformed_request_id_is_replaced(client, logs, incoming):
    response = await client.get("/livez", headers={"X-Request-ID": incoming.encode()})
    returned = response.headers["x-request-id"]
    assert returned != incoming
    assert re.fullmatch(r"[0-9a-f]{32}", returned)
    [line] = [line for line in json_lines(logs) if line["event"] == "request"]
    assert line["request_id"] == returned


async def test_each_request_gets_its_own_id(client):
    first = (await client.get("/livez")).headers["x-request-id"]
    second = (await client.get("/livez")).headers["x-request-id"]
    assert first != second


async def test_error_responses_carry_the_request_id(client):
    response = await client.get("/api/v1/nope", headers={"X-Request-ID": "trace-404"})
    assert response.status_code == 404
    assert response.headers["x-request-id"] == "trace-404"


@pytest.mark.parametrize("settings_overrides", [CONSOLE_SQL])
async def test_websocket_frames_are_logged_like_requests_with_their_sql(factory, live, logs):
    from tests.fixtures.live import WSClient

    doctor, patient = await factory.doctor(), await factory.patient()
    appt = await factory.appointment(doctor, patient)
    ws = await WSClient.connect(live.ws_url, doctor.token)
    try:
        await ws.send({"type": "chat.send", "appointment_id": appt["id"], "client_msg_id": "m-1",
                       "body": "Please bring your glucose log"})
        await ws.expect("chat.ack")
        await ws.send({"type": "chat.send", "appointment_id": str(uuid.uuid4()),
                       "client_msg_id": "m-2", "body": "x"})
        await ws.expect("error")
    finally:
        await ws.close()
    frames = console_lines(logs, "ws_frame")
    sent = [f for f in frames if f.get("frame") == "chat.send"]
    assert len(sent) == 2, frames
    ok, refused = sent
    assert ok["user_id"] == str(doctor.id)
    assert int(ok["sql_count"]) > 0 and "error" not in ok
    assert refused["error"] == "appointment_not_found"
    sql = [line for line in console_lines(logs, "sql") if line.get("request_id") == ok["request_id"]]
    assert any("INSERT INTO messages" in line.get("statement", "") for line in sql)
    assert doctor.token not in logs.getvalue()
