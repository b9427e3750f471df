"""No log line, in any mode and on any crash path, holds a secret; production's hold no health data.

Each test provokes a real failure (a broken table, a failing trigger, a service that raises, a
frame nested thousands deep against a real uvicorn) and scans everything the real log handler
wrote for the user's password and token, the secret key, the TURN secret and the database
password; in production also for the chat text, the appointment reason and the names.
"""

from __future__ import annotations

import io
import json
import secrets
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import websockets
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.engine import make_url

from televisit.appointments import service as appointments_service
from televisit.auth import service as auth_service
from televisit.chat import service as chat_service
from televisit.core.config import Settings
from televisit.runtime import runtime_of
from tests.fixtures.factories import PASSWORD, Person
from tests.fixtures.live import WSClient
from tests.fixtures.logs import json_lines
from tests.signaling.helpers import connect, make_visit, roundtrip

SECRET_KEY = "sk-" + secrets.token_urlsafe(40)
TURN_SECRET = "turn-" + secrets.token_urlsafe(40)
DB_PASSWORD = "dbpw-" + secrets.token_hex(12)
CHAT_TEXT = "My insulin pump alarm keeps beeping at night"
REASON = "Follow-up on the biopsy of the left breast"
_BASE = {"secret_key": SECRET_KEY, "turn_urls": ["turn:127.0.0.1:3478"], "turn_secret": TURN_SECRET}
MODES = {
    "development-console": {**_BASE, "env": "development", "log_format": "console", "log_sql": True},
    "development-json": {**_BASE, "env": "development", "log_format": "json", "log_sql": True},
    "production-json": {**_BASE, "env": "production"},
    "production-console": {**_BASE, "env": "production", "log_format": "console"},
}
every_mode = pytest.mark.parametrize("settings_overrides", list(MODES.values()), ids=list(MODES))


@pytest.fixture
def database_url(database_url: str, backend: str) -> str:
    """PostgreSQL with a password in the URL (the test server trusts 127.0.0.1 and ignores it)."""
    if backend != "postgres":
        return database_url
    return make_url(database_url).set(password=DB_PASSWORD).render_as_string(hide_password=False)


def assert_clean(logs: io.StringIO, settings: Settings, *people: Person,
                 phi: tuple[str, ...] = ()) -> None:
    """Nothing secret in any mode; in production nothing about anyone's health or name either."""
    output = logs.getvalue()
    assert output, "the crash was not logged at all"
    for secret in (PASSWORD, SECRET_KEY, TURN_SECRET, DB_PASSWORD):
        assert secret not in output
    for person in people:
        assert person.token and person.token not in output
    if settings.env == "production":
        for word in (*phi, *(p.full_name for p in people)):
            assert word not in output
    for line in json_lines(logs):
        for stack in line.get("exception", []):
            assert all("locals" not in frame for frame in stack["frames"]), "frame locals logged"


async def _run_sql(app: FastAPI, *statements: str) -> None:
    async with runtime_of(app).engine.begin() as conn:
        for statement in statements:
            await conn.execute(text(statement))


# --- (a) a database error during sign-in --------------------------------------------------------

@every_mode
async def test_a_database_error_during_sign_in_logs_no_secret(app, client, factory, logs, settings):
    patient = await factory.patient(login=False)
    await _run_sql(app, "ALTER TABLE users RENAME TO users_gone")
    try:
        response = await client.post("/api/v1/auth/login",
                                      json={"email": patient.email, "password": PASSWORD})
    finally:
        await _run_sql(app, "ALTER TABLE users_gone RENAME TO users")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    output = logs.getvalue()
    assert "unhandled_exception" in output
    assert "users" in output  # the trace still says what failed
    assert_clean(logs, settings, phi=(patient.full_name,))


# --- (c) an exception inside a route whose locals hold the settings and the body ----------------

@every_mode
async def test_a_crash_in_sign_in_logs_no_secret(app, client, factory, logs, settings, monkeypatch):
    patient = await factory.patient(login=False)

    async def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the session store is unreachable")

    monkeypatch.setattr(auth_service, "login", broken)
    response = await client.post("/api/v1/auth/login",
                                 json={"email": patient.email, "password": PASSWORD})
    assert response.status_code == 500
    output = logs.getvalue()
    assert "the session store is unreachable" in output
    assert_clean(logs, settings, phi=(patient.full_name,))


@every_mode
async def test_a_crash_while_booking_logs_no_reason_or_name_in_production(
    app, client, factory, logs, settings, monkeypatch
):
    doctor, patient = await factory.doctor(), await factory.patient()

    async def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the calendar is unreachable")

    monkeypatch.setattr(appointments_service, "book", broken)
    response = await client.post("/api/v1/appointments", headers=doctor.headers, json={
        "patient_id": str(patient.id), "starts_at": "2030-03-04T10:00:00+00:00",
        "duration_minutes": 30, "reason": REASON,
    })
    assert response.status_code == 500
    output = logs.getvalue()
    assert "the calendar is unreachable" in output
    assert_clean(logs, settings, doctor, patient, phi=(REASON,))


# --- (d) a crash inside a WebSocket handler while a chat message is sent ------------------------

@pytest.fixture
async def chat_socket(factory, live) -> AsyncIterator[tuple[WSClient, Any]]:
    visit = await make_visit(factory)
    ws = await connect(live.ws_url, visit.patient)
    yield ws, visit
    await ws.close()


async def _send_chat(ws: WSClient, visit: Any) -> dict[str, Any]:
    await ws.send({"type": "chat.send", "appointment_id": visit.id, "client_msg_id": "m-1",
                   "body": CHAT_TEXT, "ref": "c1"})
    err = await ws.expect("error", ref="c1")
    assert err["code"] == "internal_error"
    await roundtrip(ws)  # the socket lives on
    return err


@every_mode
async def test_a_crash_in_a_chat_handler_logs_no_secret_or_chat_text(
    chat_socket, logs, settings, monkeypatch
):
    ws, visit = chat_socket

    async def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the chat store is unreachable")

    monkeypatch.setattr(chat_service, "send", broken)
    await _send_chat(ws, visit)
    output = logs.getvalue()
    assert "the chat store is unreachable" in output
    assert_clean(logs, settings, visit.doctor, visit.patient, phi=(CHAT_TEXT,))


_FAIL_INSERTS = {
    "sqlite": ["CREATE TRIGGER televisit_test_fail BEFORE INSERT ON messages "
               "BEGIN SELECT RAISE(ABORT, 'chat store on fire'); END"],
    "postgres": [
        "CREATE OR REPLACE FUNCTION televisit_test_fail() RETURNS trigger AS $$ "
        "BEGIN RAISE EXCEPTION 'chat store on fire'; END $$ LANGUAGE plpgsql",
        "CREATE TRIGGER televisit_test_fail BEFORE INSERT ON messages "
        "FOR EACH ROW EXECUTE FUNCTION televisit_test_fail()",
    ],
}
_UNDO = {
    "sqlite": ["DROP TRIGGER televisit_test_fail"],
    "postgres": ["DROP TRIGGER televisit_test_fail ON messages",
                 "DROP FUNCTION televisit_test_fail()"],
}


@every_mode
async def test_a_database_error_storing_a_chat_message_logs_no_chat_text_in_production(
    app, backend, chat_socket, logs, settings
):
    """The failed INSERT's parameters hold the message: shown in development, never in production."""
    ws, visit = chat_socket
    await _run_sql(app, *_FAIL_INSERTS[backend])
    try:
        await _send_chat(ws, visit)
    finally:
        await _run_sql(app, *_UNDO[backend])
    output = logs.getvalue()
    assert "chat store on fire" in output
    assert "INSERT INTO messages" in output  # the statement is still there to debug from
    assert_clean(logs, settings, visit.doctor, visit.patient, phi=(CHAT_TEXT,))


# --- (b) frames nested thousands deep against a real uvicorn ------------------------------------

def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@every_mode
@pytest.mark.parametrize("depth", [2000, 3000])
async def test_a_deep_frame_from_an_anonymous_client_is_refused_quietly(live, logs, settings, depth):
    ws = await WSClient.connect(live.ws_url)
    await ws.ws.send(json.dumps({"type": "auth", "token": "x"})[:-1] + ', "x": ' + _nested(depth) + "}")
    err = await ws.expect("error")
    assert err["code"] == "frame_too_deep"
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401  # as any bad first frame
    output = logs.getvalue()
    assert "Traceback" not in output and '"exception"' not in output
    assert len(output) < 2000, output[:3000]  # was ~13 KB of trace per frame
    for secret in (SECRET_KEY, TURN_SECRET, DB_PASSWORD):
        assert secret not in output


@every_mode
@pytest.mark.parametrize("depth", [2000, 3000])
async def test_a_deep_frame_gets_an_error_and_the_socket_lives(factory, live, logs, settings, depth):
    ws = await connect(live.ws_url, await factory.patient())
    room_id = str(uuid.uuid4())
    frame = {"type": "signal", "ref": "deep", "room_id": room_id, "data": {"x": "DEEP"}}
    await ws.ws.send(json.dumps(frame).replace('"DEEP"', _nested(depth)))
    err = await ws.expect("error")
    assert err["code"] == "frame_too_deep"
    await roundtrip(ws)
    await ws.close()
    output = logs.getvalue()
    assert "Traceback" not in output and '"exception"' not in output
    for secret in (PASSWORD, SECRET_KEY, TURN_SECRET, DB_PASSWORD):
        assert secret not in output
