"""One WebSocket connection: explicit state, an outbound queue, a rate limit."""

from __future__ import annotations

import asyncio
import enum
import time
import uuid
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from televisit.signaling.schemas import encode


class ConnState(enum.Enum):
    AWAITING_AUTH = "awaiting_auth"
    READY = "ready"
    CLOSING = "closing"
    CLOSED = "closed"


_ALLOWED = {
    ConnState.AWAITING_AUTH: {ConnState.READY, ConnState.CLOSING, ConnState.CLOSED},
    ConnState.READY: {ConnState.CLOSING, ConnState.CLOSED},
    ConnState.CLOSING: {ConnState.CLOSED},
    ConnState.CLOSED: set(),
}


class IllegalTransition(RuntimeError):
    pass


class TokenBucket:
    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.capacity = rate, float(burst)
        self.tokens = float(burst)
        self.stamp = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class Connection:
    def __init__(self, websocket: WebSocket, *, queue_size: int, rate: float, burst: int) -> None:
        self.id = uuid.uuid4().hex
        self.ws = websocket
        self.state = ConnState.AWAITING_AUTH
        self.user_id: uuid.UUID | None = None
        self.session_id: uuid.UUID | None = None
        self.role: str | None = None
        self.rooms: set[uuid.UUID] = set()
        # Rooms whose `room.ended` this socket already got (it arrives on two channels).
        self.ended_rooms: set[uuid.UUID] = set()
        self.limiter = TokenBucket(rate, burst)
        self._out: asyncio.Queue[tuple[str, Any]] = asyncio.Queue(maxsize=queue_size)
        self._writer: asyncio.Task[None] | None = None
        self._drained = asyncio.Event()  # set by the writer when the queue is half empty

    def move(self, new: ConnState) -> None:
        if new not in _ALLOWED[self.state]:
            raise IllegalTransition(f"{self.state.value} -> {new.value}")
        self.state = new

    def start_writer(self) -> None:
        self._writer = asyncio.create_task(self._write_loop(), name=f"ws-writer-{self.id}")

    def send(self, frame: dict[str, Any]) -> None:
        """Queue a frame; a client too slow to keep up is disconnected rather than buffered forever."""
        if self.state in (ConnState.CLOSING, ConnState.CLOSED):
            return
        try:
            self._out.put_nowait(("text", encode(frame)))
        except asyncio.QueueFull:
            self.close(1013, "too slow")

    async def send_paced(self, frame: dict[str, Any], timeout: float = 10.0) -> None:
        """Queue one frame of a bulk reply (a chat replay) without overflowing the queue.

        Waits while the queue is half full, so live events keep room; a client that reads
        nothing for ``timeout`` seconds is closed as too slow, like with `send`.
        """
        low_water = max(1, self._out.maxsize // 2)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._out.qsize() >= low_water:
            if self.state in (ConnState.CLOSING, ConnState.CLOSED) or (
                    self._writer is not None and self._writer.done()):
                return
            self._drained.clear()
            try:
                await asyncio.wait_for(self._drained.wait(), max(0.0, deadline - loop.time()))
            except TimeoutError:
                self.close(1013, "too slow")
                return
        self.send(frame)

    def close(self, code: int, reason: str = "") -> None:
        """Close after the frames already queued (so an error or `server.draining` arrives first)."""
        if self.state in (ConnState.CLOSING, ConnState.CLOSED):
            return
        self.move(ConnState.CLOSING)
        try:
            self._out.put_nowait(("close", (code, reason)))
        except asyncio.QueueFull:
            self._out = asyncio.Queue()
            self._out.put_nowait(("close", (code, reason)))
        if self._writer is None:
            self.start_writer()

    async def _write_loop(self) -> None:
        try:
            while True:
                kind, payload = await self._out.get()
                if self._out.qsize() < max(1, self._out.maxsize // 2):
                    self._drained.set()
                if kind == "close":
                    code, reason = payload
                    await self.ws.close(code=code, reason=reason)
                    return
                await self.ws.send_text(payload)
        except (WebSocketDisconnect, RuntimeError, OSError):
            return  # the peer is gone; the reader side notices and cleans up
        finally:
            self._drained.set()  # nobody waits for a writer that stopped

    async def stop_writer(self) -> None:
        if self._writer and not self._writer.done():
            self._writer.cancel()
            try:
                await self._writer
            except asyncio.CancelledError:
                pass

    async def flushed(self, timeout: float) -> None:
        """Wait (bounded) for the writer to send what is queued and close."""
        if self._writer is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._writer), timeout)
            except (TimeoutError, asyncio.CancelledError):
                pass
