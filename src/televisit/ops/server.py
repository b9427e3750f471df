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
    hub = app.state.hub
    log.info("draining", sockets=len(hub.connections), grace=grace)
    for conn in list(hub.connections.values()):
        conn.send({"type": "server.draining"})
        conn.close(1012, "server restarting")
    await asyncio.sleep(grace)


class CloseWhileDraining:
    """While draining, every HTTP answer says `Connection: close`.

    A proxy's kept-alive connection then ends cleanly after the answer it is waiting for, instead
    of being cut at exit just as the proxy sends a request on it (a 502 it may not retry).
    """

    def __init__(self, inner: ASGIApp, app: FastAPI) -> None:
        self.inner, self.app = inner, app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.inner(scope, receive, send)
            return

        async def send_closing(message: Message) -> None:
            if message["type"] == "http.response.start" and getattr(self.app.state, "draining", False):
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"connection"]
                message = {**message, "headers": [*headers, (b"connection", b"close")]}
            await send(message)

        await self.inner(scope, receive, send_closing)


class DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, app: FastAPI, grace: float) -> None:
        config.app = CloseWhileDraining(config.app, app)
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
