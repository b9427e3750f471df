"""What the call tests share: each side's camera, placing a call, and checking the video that arrives."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx

from tests.fixtures.factories import Factory, Person
from tests.fixtures.webrtc import CallPeer, ReceivedFrame

FRAMES = 10  # a third of a second of video at 30 fps


@dataclass(frozen=True)
class Camera:
    width: int
    height: int
    luma: int

    def kwargs(self) -> dict[str, int]:
        return {"width": self.width, "height": self.height, "luma": self.luma}


# Different sizes and brightness, so each side can tell that it sees the *other* side's picture.
DOCTOR_CAMERA = Camera(320, 240, 200)
PATIENT_CAMERA = Camera(256, 192, 60)


async def book(factory: Factory) -> tuple[Person, Person, dict[str, Any]]:
    doctor, patient = await factory.doctor(), await factory.patient()
    appointment = await factory.appointment(doctor, patient, starts_in=timedelta(minutes=5))
    return doctor, patient, appointment


async def start_and_join(http: httpx.AsyncClient, appointment: dict[str, Any], doctor: Person,
                         d: CallPeer, p: CallPeer) -> str:
    """The doctor starts the call, the patient's app rings, both join; returns the room id."""
    response = await http.post(f"/api/v1/appointments/{appointment['id']}/call", headers=doctor.headers)
    assert response.status_code == 201, response.text
    room_id = response.json()["room"]["id"]
    ring = await p.expect("call.incoming", room_id=room_id)
    assert ring["appointment_id"] == appointment["id"]
    assert ring["from"]["id"] == str(doctor.id)
    assert (await d.join(room_id))["polite"] is False  # the doctor offers first
    assert (await p.join(room_id))["polite"] is True
    return room_id


def assert_sees(frames: list[ReceivedFrame], camera: Camera) -> None:
    """Decoded frames of the other camera's size and (flat) brightness: its real picture."""
    assert frames, "no video"
    for frame in frames:
        assert (frame.width, frame.height) == (camera.width, camera.height), frame
        assert abs(frame.luma - camera.luma) < 8, frame


async def assert_video_both_ways(d: CallPeer, p: CallPeer, count: int = FRAMES,
                                 within: float = 10) -> None:
    await d.wait_connected(within)
    await p.wait_connected(within)
    assert_sees(await d.wait_frames(count, within), PATIENT_CAMERA)
    assert_sees(await p.wait_frames(count, within), DOCTOR_CAMERA)


async def hang_up(http: httpx.AsyncClient, room_id: str, person: Person, *peers: CallPeer) -> None:
    """One side hangs up over REST: everyone in the call gets `room.ended` and their media stops."""
    response = await http.post(f"/api/v1/rooms/{room_id}/end", headers=person.headers)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "completed"
    for peer in peers:
        ended = await peer.expect("room.ended", room_id=room_id)
        assert ended["reason"] == "ended" and ended["status"] == "completed"
        await peer.wait_until(lambda peer=peer: peer.hung_up, "hang-up")
        assert peer.pc.connectionState == "closed"
