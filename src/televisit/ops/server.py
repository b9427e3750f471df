"""uvicorn with draining: on SIGTERM turn not-ready, tell sockets to move, then stop."""

from __future__ import annotations

import asyncio
from types import FrameType

import structlog
import uvicorn
from fastapi import FastAPI

log = structlog.get_logger("televisit.ops")


async def drain(app: FastAPI, grace: float) -> None:
    """Readiness fails at once; sockets hear `server.draining` and are closed (1012, restart).

    Clients reconnect through the load balancer to another instance and resume. The grace
    lets the balancer notice and lets in-flight requests finish before we stop listening.
    """
    app.state.draining = True
    hub = app.state.hub
    log.info("draining", sockets=len(hub.connections), grace=grace)
    for conn in list(hub.connections.values()):
        conn.send({"type": "server.draining"})
        conn.close(1012, "server restarting")
    await asyncio.sleep(grace)


class DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, app: FastAPI, grace: float) -> None:
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

    async def _drain_then_exit(self) -> None:
        try:
            await drain(self.app, self.grace)
        finally:
            self.should_exit = True
