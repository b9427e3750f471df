"""uvicorn with draining: on SIGTERM stop taking new connections, tell sockets to move, then stop.

The order matters for clients behind a load balancer (measured with bench/rolling_restart.py):
sockets told `server.draining` reconnect at once, through the balancer. While this instance
still accepted connections, half of them came back here, were told to move again and backed off:
reconnects took 2-4 s. With the listening socket closed first, the balancer's connect is refused
and it tries the next instance at once (nginx `proxy_next_upstream error`, safe even for POSTs,
which never reached us), so every reconnect lands on a live instance on its first attempt.
"""

from __future__ import annotations

import asyncio
import json
import logging
from types import FrameType
from typing import Any

import structlog
import uvicorn
from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = structlog.get_logger("televisit.ops")


async def drain(app: FastAPI, grace: float) -> None:
    """Readiness fails at once; sockets hear `server.draining` and are closed (1012, restart).

    Clients reconnect through the load balancer to another instance and resume. The grace lets
    requests already on their way (over kept-alive connections) finish before we exit.
    """
    app.state.draining = True
    log.info("draining", sockets=move_sockets(app), grace=grace)
    await asyncio.sleep(grace)


def move_sockets(app: FastAPI) -> int:
    """Tell every socket here to reconnect and resume: `server.draining`, then close 1012.

    Also used after a broker outage: events for these sockets were lost meanwhile, and a
    reconnect is the protocol's way to get them back (the client rejoins and `chat.sync`s).
    """
    connections = list(app.state.hub.connections.values())
    for conn in connections:
        conn.send({"type": "server.draining"})
        conn.close(1012, "server restarting")
    return len(connections)


DRAINING_BODY = json.dumps({"error": {
    "code": "draining", "message": "This instance is restarting; connect again.", "details": None}}).encode()


class SendElsewhereWhileDraining:
    """While draining, connections that arrive anyway are sent on cleanly.

    - Every HTTP answer says `Connection: close`: a proxy's kept-alive connection then ends after
      the answer it is waiting for, instead of being cut at exit just as the proxy sends a
      request on it (a 502 it may not retry).
    - A WebSocket upgrade gets 503 before the handshake. Closing the listener does not stop
      nginx from sending upgrades over connections it already keeps open to us; answered with
      `server.draining` after the handshake, each client backed off and tried again (reconnect
      p95 over 2 s in the bench). A 503 is retried by nginx on the next instance
      (`proxy_next_upstream http_503`), unseen by the client.
    """

    def __init__(self, inner: ASGIApp, app: FastAPI) -> None:
        self.inner, self.app = inner, app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        draining = getattr(self.app.state, "draining", False)
        can_refuse = "websocket.http.response" in scope.get("extensions", {})
        if scope["type"] == "websocket" and draining and can_refuse:
            await receive()  # websocket.connect
            await send({"type": "websocket.http.response.start", "status": 503,
                        "headers": [(b"content-type", b"application/json"), (b"retry-after", b"1")]})
            await send({"type": "websocket.http.response.body", "body": DRAINING_BODY})
            return
        if scope["type"] != "http":
            await self.inner(scope, receive, send)
            return

        async def send_closing(message: Message) -> None:
            if message["type"] == "http.response.start" and getattr(self.app.state, "draining", False):
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"connection"]
                message = {**message, "headers": [*headers, (b"connection", b"close")]}
            await send(message)

        await self.inner(scope, receive, send_closing)


class _RefusedUpgradeIsNotAnError(logging.Filter):
    """uvicorn's sans-I/O WebSocket logs a refused upgrade (our 503 while draining) as an error,
    "returned without completing handshake", though the 503 went out: drop that line then."""

    def __init__(self, app: FastAPI) -> None:
        super().__init__()
        self.app = app

    def filter(self, record: logging.LogRecord) -> bool:
        return not (getattr(self.app.state, "draining", False)
                    and record.getMessage().startswith("ASGI callable returned without completing handshake"))


class DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, app: FastAPI, grace: float) -> None:
        config.app = SendElsewhereWhileDraining(config.app, app)
        logging.getLogger("uvicorn.error").addFilter(_RefusedUpgradeIsNotAnError(app))
        super().__init__(config)
        self.app = app
        self.grace = grace
        self._drain_task: asyncio.Task[None] | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._drain_task is not None or not self.started:
            super().handle_exit(sig, frame)  # a second signal, or not serving yet: stop now
            return
        loop = asyncio.get_event_loop()
        self._drain_task = loop.create_task(self._drain_then_exit())

    def stop_listening(self) -> None:
        """Refuse new connections; the ones open (sockets, kept-alive HTTP) carry on."""
        servers: list[Any] = getattr(self, "servers", [])
        for server in servers:
            server.close()

    async def _drain_then_exit(self) -> None:
        try:
            self.stop_listening()
            await drain(self.app, self.grace)
        finally:
            self.should_exit = True
