"""A real WebRTC peer (aiortc) that makes a call through the server's signaling, as an app would.

The doctor is impolite and offers once the patient is in the room; the patient answers. Offers
and answers travel as `signal` frames with `data: {"description": {type, sdp}}`; aiortc does not
trickle (its candidates are in the SDP), but a `{"candidate": ...}` from the other side is used.
Each peer sends a flat grey picture of its own size and brightness and keeps what it decodes.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any

from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
    VideoStreamTrack,
)
from aiortc.mediastreams import MediaStreamError
from aiortc.sdp import candidate_from_sdp
from av import VideoFrame

from conformance.client import CheckFailed, Socket


@dataclass(frozen=True)
class Camera:
    width: int
    height: int
    luma: int


class FlatVideo(VideoStreamTrack):
    """A grey picture at 30 fps: cheap to encode, and the other side can tell it is this one."""

    def __init__(self, camera: Camera) -> None:
        super().__init__()
        self.camera = camera

    async def recv(self) -> VideoFrame:
        pts, time_base = await self.next_timestamp()
        frame = VideoFrame(width=self.camera.width, height=self.camera.height, format="yuv420p")
        y, u, v = frame.planes
        y.update(bytes([self.camera.luma]) * y.buffer_size)
        u.update(b"\x80" * u.buffer_size)
        v.update(b"\x80" * v.buffer_size)
        frame.pts, frame.time_base = pts, time_base
        return frame


def mean_luma(frame: VideoFrame) -> float:
    plane = frame.planes[0]
    data = bytes(plane)
    rows = range(0, frame.height, max(1, frame.height // 8))
    samples = [data[r * plane.line_size: r * plane.line_size + frame.width] for r in rows]
    return sum(sum(s) for s in samples) / max(1, sum(len(s) for s in samples))


def ice_configuration(servers: list[dict[str, Any]]) -> RTCConfiguration:
    """From `room.joined`'s RTCIceServer list (an empty list stays empty: no public STUN)."""
    return RTCConfiguration(iceServers=[
        RTCIceServer(urls=s["urls"], username=s.get("username"), credential=s.get("credential"))
        for s in servers])


class VideoPeer:
    """One side of a call over one socket; negotiation steps run one at a time, in arrival order."""

    def __init__(self, socket: Socket, camera: Camera) -> None:
        self.socket, self.camera = socket, camera
        self.user_id = ""
        self.room_id: str | None = None
        self.polite = True
        self.pc: RTCPeerConnection | None = None
        self.decoded: list[tuple[int, int, float]] = []  # width, height, mean luma
        self.error: BaseException | None = None
        self._work: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._tasks = [asyncio.create_task(self._steps(), name=f"{socket.name}-webrtc")]
        socket.listeners.append(self._on_frame)

    async def join(self, room_id: str, user_id: str) -> dict[str, Any]:
        self.user_id = user_id
        return await self.socket.request({"type": "room.join", "room_id": room_id}, "room.joined")

    def _on_frame(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "room.joined" and self.pc is None:
            self._work.put_nowait(("start", frame))
        elif self.room_id is None or frame.get("room_id") != self.room_id:
            return
        elif kind == "participant.joined" and not self.polite:
            self._work.put_nowait(("offer", None))
        elif kind == "signal":
            self._work.put_nowait(("signal", frame.get("data") or {}))

    async def _steps(self) -> None:
        while True:
            action, data = await self._work.get()
            try:
                if action == "start":
                    self._start(data)
                elif action == "offer":
                    await self._offer()
                elif action == "signal":
                    await self._on_signal(data)
            except Exception as exc:
                self.error = exc

    def _start(self, joined: dict[str, Any]) -> None:
        self.room_id, self.polite = joined["room"]["id"], bool(joined["polite"])
        pc = RTCPeerConnection(ice_configuration(joined.get("ice_servers") or []))
        pc.addTrack(FlatVideo(self.camera))

        @pc.on("track")
        def _track(track: MediaStreamTrack) -> None:
            if track.kind == "video":
                self._tasks.append(asyncio.create_task(self._watch(track)))

        self.pc = pc
        present = [p for p in joined.get("participants", [])
                   if p.get("user_id") != self.user_id and p.get("left_at") is None]
        if present and not self.polite:
            self._work.put_nowait(("offer", None))

    async def _watch(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                self.decoded.append((frame.width, frame.height, mean_luma(frame)))

    async def _send_description(self) -> None:
        description = self.pc.localDescription if self.pc is not None else None
        if description is None:
            raise CheckFailed(f"{self.socket.name}: no local description to send")
        await self.socket.send({"type": "signal", "room_id": self.room_id,
                                "data": {"description": {"type": description.type, "sdp": description.sdp}}})

    async def _offer(self) -> None:
        pc = self.pc
        if pc is None or pc.signalingState != "stable" or pc.connectionState == "closed":
            return
        await pc.setLocalDescription(await pc.createOffer())
        await self._send_description()

    async def _on_signal(self, data: dict[str, Any]) -> None:
        pc = self.pc
        if pc is None or pc.connectionState == "closed":
            return
        if data.get("description"):
            sent = data["description"]
            description = RTCSessionDescription(sdp=sent["sdp"], type=sent["type"])
            if description.type == "offer" and pc.signalingState != "stable" and not self.polite:
                return  # perfect negotiation: the impolite side ignores a colliding offer
            await pc.setRemoteDescription(description)
            if description.type == "offer":
                await pc.setLocalDescription(await pc.createAnswer())
                await self._send_description()
        elif data.get("candidate"):
            raw = data["candidate"]
            candidate = candidate_from_sdp(str(raw["candidate"]).removeprefix("candidate:"))
            candidate.sdpMid, candidate.sdpMLineIndex = raw.get("sdpMid"), raw.get("sdpMLineIndex")
            await pc.addIceCandidate(candidate)

    async def sees(self, camera: Camera, count: int, within: float) -> None:
        """``count`` decoded frames of the other side's camera (its size and brightness)."""
        def ready() -> bool:
            if self.error is not None:
                raise CheckFailed(f"{self.socket.name}: WebRTC failed: {self.error!r}")
            if self.pc is not None and self.pc.connectionState == "failed":
                raise CheckFailed(f"{self.socket.name}: the peer connection failed")
            return len(self.decoded) >= count
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while not ready():
            if loop.time() > deadline:
                state = self.pc.connectionState if self.pc else "no peer connection"
                raise CheckFailed(f"{self.socket.name}: {len(self.decoded)} video frames within {within:g} s "
                                  f"(connection {state})")
            await asyncio.sleep(0.05)
        for width, height, luma in self.decoded[:count]:
            if (width, height) != (camera.width, camera.height) or abs(luma - camera.luma) > 8:
                raise CheckFailed(f"{self.socket.name}: decoded {width}x{height} luma {luma:.0f}, "
                                  f"not the other side's {camera.width}x{camera.height} luma {camera.luma}")

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.pc is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(self.pc.close()), 10)
