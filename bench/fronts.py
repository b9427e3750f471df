"""Other WebSocket fronts for the same app, hub and broker, to measure the relay's floor
(bench/serve_variant.py --front granian|picows). Not what `televisit serve` runs; neither is a
project dependency: install them beside the bench, e.g.

    .venv-tools/bin/uv pip install --python .venv/bin/python --target /tmp/floor picows granian
    PYTHONPATH=/tmp/floor .venv/bin/python bench/signaling.py --variant front=picows

- granian (Rust, hyper + tokio): runs the whole ASGI app embedded in our asyncio loop (HTTP and
  WebSocket on one port), lifespan included; its Rust runtime has its own thread.
- picows (Cython): a WebSocket-only server. Each connection is handed to the app's outermost
  ASGI callable (DirectWebSocket) through a small ASGI bridge, so auth, the Origin check, limits,
  the hub and the broker are the shipped code. Plain HTTP (the REST API, /livez) is not served:
  bench/signaling.py provisions on another variant first.
"""

from __future__ import annotations

import asyncio
import signal
import struct
from collections import deque
from typing import Any

from starlette.types import ASGIApp


def _stop_on_signals(loop: asyncio.AbstractEventLoop) -> asyncio.Event:
    stopped = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopped.set)
    return stopped


# -- granian ----------------------------------------------------------------------------------------
async def serve_granian(app: ASGIApp, host: str, port: int, *, threads: int = 1) -> None:
    from granian.constants import Interfaces
    from granian.server.embed import Server

    server = Server(app, address=host, port=port, interface=Interfaces.ASGI, runtime_threads=threads,
                    websockets=True, log_enabled=False, backlog=2048)
    stopped = _stop_on_signals(asyncio.get_running_loop())
    task = asyncio.create_task(server.serve())
    await stopped.wait()
    server.stop()
    await task


# -- picows -----------------------------------------------------------------------------------------
def _bridge(app: ASGIApp) -> Any:
    from picows import WSListener, WSMsgType

    close_type = WSMsgType.CLOSE
    text_type = WSMsgType.TEXT

    class Socket(WSListener):  # type: ignore[misc]
        """One WebSocket as the ASGI `websocket` scope: receive() and send() over picows."""

        __slots__ = ("closed", "inbox", "scope", "task", "transport", "waiter")

        def __init__(self, scope: dict[str, Any]) -> None:
            self.scope = scope
            self.inbox: deque[dict[str, Any]] = deque([{"type": "websocket.connect"}])
            self.waiter: asyncio.Future[None] | None = None
            self.closed = False

        def on_ws_connected(self, transport: Any) -> None:
            self.transport = transport
            peer = transport.underlying_transport.get_extra_info("peername")
            self.scope["client"] = (peer[0], peer[1]) if peer else None
            self.task = asyncio.get_running_loop().create_task(app(self.scope, self.receive, self.send))

        def _push(self, message: dict[str, Any]) -> None:
            self.inbox.append(message)
            waiter = self.waiter
            if waiter is not None and not waiter.done():
                waiter.set_result(None)

        def on_ws_frame(self, transport: Any, frame: Any) -> None:
            kind = frame.msg_type
            if kind is text_type:
                self._push({"type": "websocket.receive", "text": frame.get_payload_as_utf8_text()})
            elif kind is close_type:
                code = frame.get_close_code().value or 1005
                if not self.closed:
                    self.closed = True
                    transport.send(close_type, frame.get_close_message())
                transport.disconnect()
                self._push({"type": "websocket.disconnect", "code": code})
            elif kind is WSMsgType.BINARY:
                self._push({"type": "websocket.receive", "bytes": frame.get_payload_as_bytes()})

        def on_ws_disconnected(self, transport: Any) -> None:
            self.closed = True
            self._push({"type": "websocket.disconnect", "code": 1006})

        async def receive(self) -> dict[str, Any]:
            while not self.inbox:
                self.waiter = asyncio.get_running_loop().create_future()
                await self.waiter
                self.waiter = None
            return self.inbox.popleft()

        async def send(self, message: dict[str, Any]) -> None:
            kind = message["type"]
            if self.closed:
                raise OSError("the socket is closed")
            if kind == "websocket.send":
                text = message.get("text")
                if text is not None:
                    self.transport.send(text_type, text.encode())
                else:
                    self.transport.send(WSMsgType.BINARY, message["bytes"])
            elif kind == "websocket.close":
                self.closed = True
                reason = (message.get("reason") or "").encode()
                self.transport.send(close_type, struct.pack("!H", message.get("code", 1000)) + reason)
                self.transport.disconnect()
            # websocket.accept: picows has already answered the upgrade

    def factory(request: Any) -> Any:
        path, _, query = request.path.decode("latin-1").partition("?")
        headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in request.headers.items()]
        return Socket({"type": "websocket", "asgi": {"version": "3.0"}, "http_version": "1.1",
                       "scheme": "ws", "path": path, "raw_path": path.encode(), "root_path": "",
                       "query_string": query.encode(), "headers": headers, "server": None,
                       "subprotocols": [], "state": {}, "extensions": {}})

    return factory


async def serve_picows(app: ASGIApp, host: str, port: int, *, max_frame: int) -> None:
    from picows import ws_create_server

    lifespan = app.router.lifespan_context  # type: ignore[attr-defined]
    async with lifespan(app):
        # 16 KiB by default: most of the memory of an idle socket; it grows for larger frames.
        server = await ws_create_server(_bridge(app), host, port, max_frame_size=max_frame, backlog=2048,
                                       read_buffer_init_size=1024)
        stopped = _stop_on_signals(asyncio.get_running_loop())
        await stopped.wait()
        server.close()
