"""uvicorn with draining: on SIGTERM turn not-ready, send sockets elsewhere, then stop.

What we learnt measuring it with bench/rolling_restart.py (nginx in front of two instances):
- Closing the listening socket at SIGTERM (so nginx's connect is refused and it moves on)
  reset the connections still waiting in the kernel's accept queue: nginx had already sent their
  requests, so a POST among them became a 502 nginx may not retry. The listener stays open until
  the grace is over; by then the balancer has taken us out (readiness, or Kubernetes' endpoint
  removal during preStop).
- Meanwhile nginx still sends WebSocket upgrades here (over connections it keeps open, or new
  ones). Accepted and told `server.draining`, each client backed off and came back: reconnect
  p95 2-4 s. Refused with 503 before the handshake, nginx retries them on the next instance
  (`proxy_next_upstream http_503`) and the client never notices: p95 under 0.3 s.
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
    loop = asyncio.get_running_loop()
    started = loop.time()
    # Spread over the first half of the grace (5 s at most): every client reconnecting in the
    # same instant makes a burst of sign-ins and syncs on the instances that stay.
    log.info("draining", sockets=await _move_sockets_spread(app, min(grace / 2, 5.0)), grace=grace)
    await asyncio.sleep(max(0.0, grace - (loop.time() - started)))


def move_sockets(app: FastAPI) -> int:
    """Tell every socket here to reconnect and resume, now (no await: nothing is delivered to them
    in between): `server.draining`, then close 1012.

    Used after a broker outage: events for these sockets were lost meanwhile, and a reconnect is
    the protocol's way to get them back (the client rejoins and `chat.sync`s).
    """
    connections = list(app.state.hub.connections.values())
    _tell_to_move(connections)
    return len(connections)


async def _move_sockets_spread(app: FastAPI, spread: float) -> int:
    connections = list(app.state.hub.connections.values())
    batches = max(1, min(len(connections), int(spread / 0.05)))  # a batch every 50 ms at most
    for i in range(batches):
        _tell_to_move(connections[i::batches])
        if i + 1 < batches:
            await asyncio.sleep(spread / batches)
    return len(connections)


def _tell_to_move(connections: list[Any]) -> None:
    for conn in connections:
        conn.send({"type": "server.draining"})
        conn.close(1012, "server restarting")


DRAINING_BODY = json.dumps({"error": {
    "code": "draining", "message": "This instance is restarting; connect again.", "details": None}}).encode()


# Requests a proxy may repeat elsewhere after a 503 (nginx never repeats a POST it has sent).
RETRYABLE = frozenset({"GET", "HEAD", "OPTIONS"})
# Still answered while draining: liveness (or the orchestrator kills us mid-drain) and metrics.
STILL_SERVED = frozenset({"/livez", "/metrics"})


class SendElsewhereWhileDraining:
    """While draining, connections that arrive anyway are sent on cleanly.

    - Reads get 503, which nginx retries on the next instance; it also takes this one out for
      `fail_timeout`, so hardly any request (and so hardly any POST) is still on its way here
      when the listener closes at exit. Closing it resets the connections in the kernel's accept
      queue, whose requests nginx already sent: a POST among them is a 502 (1 in 3,960 in the
      bench with nginx alone before this).

    - Every HTTP answer says `Connection: close`: a proxy's kept-alive connection then ends after
      the answer it is waiting for, instead of being cut at exit just as the proxy sends a
      request on it (a 502 it may not retry).
    - A WebSocket upgrade gets 503 before the handshake, which nginx retries on the next
      instance (`proxy_next_upstream http_503`), unseen by the client.
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
        if draining and scope["method"] in RETRYABLE and scope["path"] not in STILL_SERVED:
            await self._refuse(send)
            return

        async def send_closing(message: Message) -> None:
            if message["type"] == "http.response.start" and getattr(self.app.state, "draining", False):
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"connection"]
                message = {**message, "headers": [*headers, (b"connection", b"close")]}
            await send(message)

        await self.inner(scope, receive, send_closing)

    @staticmethod
    async def _refuse(send: Send) -> None:
        await send({"type": "http.response.start", "status": 503, "headers": [
            (b"content-type", b"application/json"), (b"retry-after", b"1"), (b"connection", b"close"),
            (b"content-length", str(len(DRAINING_BODY)).encode())]})
        await send({"type": "http.response.body", "body": DRAINING_BODY})


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

    async def _drain_then_exit(self) -> None:
        try:
            await drain(self.app, self.grace)
        finally:
            self.should_exit = True
