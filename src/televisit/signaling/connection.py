"""One WebSocket connection: explicit state, an outbound queue, a rate limit.

Thousands of mostly idle sockets are the normal load, so an idle connection holds no task and no
asyncio.Queue: frames go to a deque and a writer task lives only while there is something to write.
"""

from __future__ import annotations

import asyncio
import collections
import enum
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from televisit.signaling.frames import ServerFrame, encode


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


@dataclass(slots=True)
class SessionTimes:
    """What a socket knows of its session's deadlines, so the sweeper needs no query per socket.

    ``seen_at`` is the session's `last_seen_at` as the database holds it (as far as this instance
    knows); ``active_at`` is the last use of this socket, in memory until the sweeper writes it.
    """

    expires_at: datetime
    seen_at: datetime
    active_at: datetime

    def deadline(self, idle: timedelta) -> datetime:
        return min(self.expires_at, max(self.seen_at, self.active_at) + idle)

    def touch(self, now: datetime, idle: timedelta) -> None:
        """Count a use, unless the session already expired here (a use cannot revive it)."""
        if now < self.deadline(idle):
            self.active_at = max(self.active_at, now)


class Connection:
    def __init__(self, websocket: WebSocket, *, queue_size: int, rate: float, burst: int,
                 address: str = "") -> None:
        self.id = uuid.uuid4().hex
        self.ws = websocket
        self.address = address  # the client's address, for the per-address cap
        self.state = ConnState.AWAITING_AUTH
        self.user_id: uuid.UUID | None = None
        self.user_key = ""  # str(user_id), compared on every relayed signal
        self.session_id: uuid.UUID | None = None
        self.times: SessionTimes | None = None
        # A session opened from a join link: the one visit this socket may act on and hear about,
        # and the rooms known to belong to it (None: a full session, no limit).
        self.scope: uuid.UUID | None = None
        self.scope_rooms: set[uuid.UUID] = set()
        # A patient's sockets are her presence in the waiting rooms she checked in to.
        self.patient = False
        # Whether she waits in a waiting room (her pings are then use), and when that was asked.
        self.waiting = False
        self.waiting_checked_at: datetime | None = None
        self.rooms: set[uuid.UUID] = set()
        # Rooms whose `room.ended` this socket already got (it arrives on two channels).
        self.ended_rooms: set[uuid.UUID] = set()
        self.limiter = TokenBucket(rate, burst)
        self._max = queue_size
        self._out: collections.deque[tuple[str, Any]] = collections.deque()
        self._writer: asyncio.Task[None] | None = None
        self._broken = False  # the peer is gone: writing more is pointless
        self._drained: asyncio.Event | None = None  # made by the first paced sender that waits

    def authenticated(self, user_id: uuid.UUID, session_id: uuid.UUID, times: SessionTimes,
                      scope: uuid.UUID | None = None) -> None:
        self.user_id, self.user_key, self.session_id = user_id, str(user_id), session_id
        self.times = times
        self.scope = scope

    @property
    def uid(self) -> uuid.UUID:
        """The user of an authenticated connection (handlers only ever see those)."""
        if self.user_id is None:
            raise IllegalTransition("the connection is not authenticated")
        return self.user_id

    @property
    def sid(self) -> uuid.UUID:
        """The session of an authenticated connection."""
        if self.session_id is None:
            raise IllegalTransition("the connection is not authenticated")
        return self.session_id

    def move(self, new: ConnState) -> None:
        if new not in _ALLOWED[self.state]:
            raise IllegalTransition(f"{self.state.value} -> {new.value}")
        self.state = new

    def _kick(self) -> None:
        if not self._broken and (self._writer is None or self._writer.done()):
            self._writer = asyncio.get_running_loop().create_task(self._write_loop())

    def send(self, frame: ServerFrame) -> None:
        """Queue a frame; a client too slow to keep up is disconnected rather than buffered forever."""
        self.send_text(encode(frame))

    def send_text(self, text: str) -> None:
        """Queue an encoded frame (one event fanned out to several sockets is encoded once)."""
        if self.state in (ConnState.CLOSING, ConnState.CLOSED):
            return
        if len(self._out) >= self._max:
            self.close(1013, "too slow")
            return
        self._out.append(("text", text))
        self._kick()

    async def send_paced(self, frame: ServerFrame, timeout: float = 10.0) -> None:
        """Queue one frame of a bulk reply (a chat replay) without overflowing the queue.

        Waits while the queue is half full, so live events keep room; a client that reads
        nothing for ``timeout`` seconds is closed as too slow, like with `send`.
        """
        low_water = max(1, self._max // 2)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self._out) >= low_water:
            if self.state in (ConnState.CLOSING, ConnState.CLOSED) or self._broken:
                return
            if self._drained is None:
                self._drained = asyncio.Event()
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
        if len(self._out) >= self._max:
            self._out.clear()  # too slow to read them anyway: just close
        self._out.append(("close", (code, reason)))
        self._kick()

    async def _write_loop(self) -> None:
        out = self._out
        try:
            while out:
                kind, payload = out.popleft()
                if self._drained is not None and len(out) < max(1, self._max // 2):
                    self._drained.set()
                if kind == "close":
                    code, reason = payload
                    await self.ws.close(code=code, reason=reason)
                    self._broken = True
                    return
                await self.ws.send_text(payload)
        except (WebSocketDisconnect, RuntimeError, OSError):
            self._broken = True  # the peer is gone; the reader side notices and cleans up
        finally:
            if self._drained is not None:
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
