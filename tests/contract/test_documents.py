"""The kit's validators read the committed contract documents and catch what breaks them."""

from __future__ import annotations

import asyncio
import copy
import json
import uuid
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from conformance.auth import sign_in, totp
from conformance.client import Api, CheckFailed, Socket
from conformance.contract import Contract, ContractError, FrameContract, RestContract, load_document
from tests.contract.helpers import televisit
from tests.fixtures.live import serve

ROOT = Path(__file__).resolve().parents[2]
LIST = "/api/v1/appointments"
STAMP = "2030-03-04T09:00:00Z"


@pytest.fixture(scope="module")
def contract() -> Contract:
    return Contract.load()


def person(name: str) -> dict:
    return {"id": str(uuid.uuid4()), "full_name": name}


def appointment(**changes) -> dict:
    body = {"id": str(uuid.uuid4()), "doctor": person("Dr. A"), "patient": person("P. B"),
            "starts_at": STAMP, "duration_minutes": 30, "reason": None, "status": "scheduled",
            "created_at": STAMP, "cancelled_at": None, "cancel_reason": None, "room_id": None,
            "check_in": None, "unread_count": 0, "last_message_at": None, "messaging_until": STAMP,
            "call": None, "doctor_busy": False}
    body.update(changes)
    return body


def rest(contract: Contract, method: str, path: str, status: int, body: object,
         content_type: str = "application/json") -> list[str]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return contract.rest.check(method, path, status, content_type, raw)


def test_a_list_answer_that_keeps_the_contract_passes(contract):
    assert rest(contract, "GET", LIST, 200, {"items": [appointment()], "next_cursor": None}) == []


def test_a_list_without_next_cursor_is_named(contract):
    assert rest(contract, "GET", LIST, 200, {"items": []}) == [
        "GET /api/v1/appointments 200: $: 'next_cursor' is a required property"]


def test_refs_are_resolved_into_the_items(contract):
    broken = appointment(status="postponed", starts_at="2030-03-04T09:00:00")
    problems = rest(contract, "GET", LIST, 200, {"items": [broken], "next_cursor": None})
    assert any("$.items[0].status" in p and "postponed" in p for p in problems), problems
    assert any("$.items[0].starts_at" in p and "date-time" in p for p in problems), problems  # no offset


def test_templated_paths_statuses_and_bodies(contract):
    path = f"{LIST}/{uuid.uuid4()}"
    assert rest(contract, "GET", path, 200, appointment()) == []
    assert rest(contract, "GET", path, 404, {"error": {"code": "x", "message": "m", "details": None}}) == []
    assert rest(contract, "GET", path, 500, {"error": {}}) == [
        "GET /api/v1/appointments/{appointment_id} answered 500, a status openapi.json does not list "
        "for it (200, 401, 404, 422)"]
    assert rest(contract, "GET", path, 404, {"detail": "Not Found"})[0].startswith(
        "GET /api/v1/appointments/{appointment_id} 404: $: 'error' is a required property")
    assert rest(contract, "GET", path, 200, b"<html>", "text/html") == [
        "GET /api/v1/appointments/{appointment_id} 200: content type 'text/html', openapi.json says "
        "application/json"]
    assert rest(contract, "POST", "/api/v1/auth/logout", 204, b"") == []
    assert rest(contract, "POST", "/api/v1/auth/logout", 204, {"ok": True}) == [
        "POST /api/v1/auth/logout 204: a body where openapi.json has none"]
    assert rest(contract, "GET", "/api/v1/secret", 200, {}) == [
        "GET /api/v1/secret is not an operation of openapi.json"]


def test_server_frames_are_checked_against_their_own_schema_and_the_union(contract):
    ack = {"type": "chat.ack", "ref": 1, "client_msg_id": "m-1", "seq": 1, "id": str(uuid.uuid4()),
           "appointment_id": str(uuid.uuid4())}
    assert contract.frames.check(ack) == []
    assert contract.frames.check({k: v for k, v in ack.items() if k != "seq"}) == [
        "chat.ack frame: $: 'seq' is a required property"]
    assert contract.frames.check({**ack, "seq": "1"}) == [
        "chat.ack frame: $.seq: '1' is not of type 'integer'"]
    assert contract.frames.check({"type": "chat.nudge"}) == [
        'server frame of unknown type \'chat.nudge\': {"type": "chat.nudge"}']
    error = {"type": "error", "ref": None, "code": "oops", "message": "m", "details": None}
    assert contract.frames.check(error) == ["error frame code 'oops' is not in x-error-codes"]
    assert contract.frames.check({**error, "code": "not_in_room"}) == []


async def test_every_frame_and_the_close_code_a_socket_receives_are_checked(contract):
    """A WebSocket server (in-memory app, real uvicorn) that sends one good frame, one bad one and
    closes with a code the contract does not have."""
    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text(json.dumps({"type": "pong", "ref": None}))
        await websocket.send_text(json.dumps({"type": "pong"}))
        await websocket.send_bytes(b"\x00")
        await websocket.close(4000)

    app = Starlette(routes=[WebSocketRoute("/api/v1/ws", endpoint)])
    # serve() is annotated for FastAPI; any ASGI app runs.
    async with serve(app) as live:  # type: ignore[arg-type]
        seen: list[str] = []
        socket = await Socket.open(live.ws_url, contract, seen, "socket")
        assert await socket.closed() == 4000
        await socket.close()
    assert [f["type"] for f in socket.frames] == ["pong", "pong"]
    assert seen == ["socket: pong frame: $: 'ref' is a required property",
                    "socket: a binary frame; frames are JSON text",
                    "socket: closed with code 4000, which x-close-codes does not list"]


def test_the_union_alone_is_enough_when_there_is_no_discriminator_mapping(contract):
    document = json.loads((ROOT / "asyncapi.json").read_text())
    document["components"]["schemas"]["ServerFrame"].pop("discriminator")
    frames = FrameContract(document)
    assert frames.by_type == contract.frames.by_type
    assert frames.address == "/api/v1/ws"


def test_documents_that_are_not_the_expected_versions_are_refused():
    document = json.loads((ROOT / "openapi.json").read_text())
    with pytest.raises(ContractError, match=r"OpenAPI 3\.1"):
        RestContract({**copy.deepcopy(document), "openapi": "3.0.3"})
    with pytest.raises(ContractError, match="cannot read"):
        load_document(str(ROOT / "no-such-contract.json"))


@pytest.fixture
def backend() -> str:
    return "sqlite"


async def test_the_rest_contract_can_come_from_the_server_itself(database_url):
    """A backend that serves its openapi.json can be checked against it by URL."""
    async with televisit(database_url) as server:
        document = await asyncio.to_thread(load_document, f"{server.url}/api/v1/openapi.json")
    assert document == json.loads((ROOT / "openapi.json").read_text())


def test_totp_follows_rfc_6238():
    secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"  # "12345678901234567890", the RFC's SHA-1 key
    assert totp(secret, at=59, digits=8) == "94287082"
    assert totp(secret, at=1111111109, digits=8) == "07081804"
    assert totp(secret, at=1234567890, digits=8) == "89005924"
    assert totp(secret.lower(), at=59) == "287082"


def mfa_server(secret: str) -> Starlette:
    """A server with two-factor sign-in, answering as the contract's `/auth/login` and
    `/auth/login/mfa` do (in-memory, beside the real sign-ins every other check does)."""
    async def login(request: Request) -> JSONResponse:
        return JSONResponse({"mfa_required": True, "mfa_token": "step-two", "expires_in": 300})

    async def second_step(request: Request) -> JSONResponse:
        body = await request.json()
        if body != {"mfa_token": "step-two", "passcode": totp(secret)}:
            return JSONResponse({"error": {"code": "invalid_code", "message": "no", "details": None}}, 401)
        return JSONResponse({"access_token": "the-token", "token_type": "bearer", "expires_in": 60,
                             "user": {"id": str(uuid.uuid4()), "email": "a@example.org", "full_name": "A",
                                      "role": "admin", "time_zone": "UTC"},
                             "mfa_required": False, "mfa_enrollment_required": False,
                             "device_token": "a-device"})

    return Starlette(routes=[Route("/api/v1/auth/login", login, methods=["POST"]),
                             Route("/api/v1/auth/login/mfa", second_step, methods=["POST"])])


async def test_sign_in_follows_a_second_factor_when_asked(contract):
    secret = "JBSWY3DPEHPK3PXP"
    transport = httpx.ASGITransport(app=mfa_server(secret))
    async with httpx.AsyncClient(transport=transport, base_url="http://kit") as http:
        seen: list[str] = []
        token = await sign_in(Api(http, contract, seen), email="a@example.org", password="pw",
                              totp_secret=secret)
        assert token == "the-token"
        with pytest.raises(CheckFailed, match="needs a second factor"):
            await sign_in(Api(http, contract, []), email="a@example.org", password="pw")
    # Both answers are the contract's shapes: the kit found nothing outside openapi.json.
    assert seen == []
