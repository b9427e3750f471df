"""What the rooms, chat and signaling tests share: a visit, a call, sockets and a delivery barrier."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
import websockets
from fastapi import FastAPI

from televisit.realtime.channels import user_channel
from televisit.runtime import runtime_of
from televisit.signaling import frames as f
from tests.fixtures.assertions import assert_error  # noqa: F401 - re-exported for the tests
from tests.fixtures.factories import Factory, Person
from tests.fixtures.live import WSClient

_marks = itertools.count(1)


@dataclass
class Visit:
    doctor: Person
    patient: Person
    appointment: dict[str, Any]

    @property
    def id(self) -> str:
        return self.appointment["id"]


async def make_visit(factory: Factory, *, starts_in: timedelta = timedelta(minutes=5),
                     duration_minutes: int = 30) -> Visit:
    """A doctor, a patient and their appointment, startable now (call_early_minutes is 15)."""
    doctor, patient = await factory.doctor(), await factory.patient()
    appointment = await factory.appointment(doctor, patient, starts_in=starts_in,
                                            duration_minutes=duration_minutes)
    return Visit(doctor, patient, appointment)



async def start_call(client: httpx.AsyncClient, visit: Visit, by: Person, status: int = 201) -> dict:
    response = await client.post(f"/api/v1/appointments/{visit.id}/call", headers=by.headers)
    assert response.status_code == status, response.text
    return response.json()["room"]


async def get_room(client: httpx.AsyncClient, room_id: str, by: Person) -> dict:
    response = await client.get(f"/api/v1/rooms/{room_id}", headers=by.headers)
    assert response.status_code == 200, response.text
    return response.json()


async def get_appointment(client: httpx.AsyncClient, visit: Visit, by: Person) -> dict:
    response = await client.get(f"/api/v1/appointments/{visit.id}", headers=by.headers)
    assert response.status_code == 200, response.text
    return response.json()


async def connect(url: str, person: Person, **kwargs: Any) -> WSClient:
    assert person.token
    return await WSClient.connect(url, person.token, **kwargs)


async def join(ws: WSClient, room_id: str) -> dict:
    ref = f"join-{next(_marks)}"
    await ws.send({"type": "room.join", "room_id": room_id, "ref": ref})
    return await ws.expect("room.joined", ref=ref)


async def roundtrip(ws: WSClient) -> None:
    """ping → pong: the server handled every frame this socket sent before (one at a time)."""
    ref = f"ping-{next(_marks)}"
    await ws.send({"type": "ping", "ref": ref})
    await ws.expect("pong", ref=ref)


async def settle(ws: WSClient, app: FastAPI, user_id: uuid.UUID | str) -> list[dict[str, Any]]:
    """Every frame the socket got so far, with nothing still on its way.

    A marker published on the user's channel after the events under test (already published:
    REST replies and timer runs publish before they return) reaches the socket after them, on
    the in-process broker and over Redis alike (one subscriber connection per instance).
    """
    # A real broker event (it crosses Redis too) that rings nothing: `call.answered` for a room that
    # does not exist, told to every socket of the user.
    mark = str(uuid.UUID(int=next(_marks)))
    await runtime_of(app).broker.publish(user_channel(user_id), f.ExceptConnection(
        connection_id="", frame=f.CallAnswered(room_id=uuid.UUID(mark))))
    await ws.expect("call.answered", room_id=mark)
    return [frame for frame in ws.seen if not _is_mark(frame)]


def _is_mark(frame: dict[str, Any]) -> bool:
    return frame.get("type") == "call.answered" and uuid.UUID(frame["room_id"]).int < 1 << 32


def of_type(frames: list[dict[str, Any]], type_: str, **match: Any) -> list[dict[str, Any]]:
    return [f for f in frames if f.get("type") == type_ and all(f.get(k) == v for k, v in match.items())]


def abort(ws: WSClient) -> None:
    """Drop the TCP connection without a closing handshake, as a lost network would."""
    ws.ws.transport.abort()


async def end_call(client: httpx.AsyncClient, room_id: str, by: Person) -> dict:
    response = await client.post(f"/api/v1/rooms/{room_id}/end", headers=by.headers)
    assert response.status_code == 200, response.text
    return response.json()


async def closed_with(ws: WSClient, timeout: float = 5) -> int:
    """Read until the server closes; the close code it sent."""
    with pytest.raises(websockets.ConnectionClosed) as info:
        while True:
            await ws.recv(timeout)
    assert info.value.rcvd is not None, "closed without a close frame"
    return info.value.rcvd.code
