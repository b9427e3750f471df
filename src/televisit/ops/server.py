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
import gc
import json
import logging
import resource
import signal
import socket
from types import FrameType
from typing import cast

import structlog
import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.config import HTTPProtocolType, LoopFactoryType, WSProtocolType

from televisit.core.config import Settings
from televisit.ops.tasks import log_tasks
from televisit.runtime import Runtime

log = structlog.get_logger("televisit.ops")


async def drain(runtime: Runtime, grace: float) -> None:
    """Readiness fails at once; sockets hear `server.draining` and are closed (1012, restart).

    Clients reconnect through the load balancer to another instance and resume. The grace lets
    requests already on their way (over kept-alive connections) finish before we exit.
    """
    runtime.draining = True
    loop = asyncio.get_running_loop()
    started = loop.time()
    # Spread over the first half of the grace (5 s at most): every client reconnecting in the
    # same instant makes a burst of sign-ins and syncs on the instances that stay.
    moved = await runtime.hub.move_all(spread=min(grace / 2, 5.0))
    log.info("draining", sockets=moved, grace=grace)
    await asyncio.sleep(max(0.0, grace - (loop.time() - started)))


# Longer than a proxy keeps idle upstream connections (nginx: 60 s in deploy/nginx), so the app
# never closes one just as the proxy sends a request on it (a 502 for a POST).
TIMEOUT_KEEP_ALIVE = 75
# File descriptors beyond the connection limit: the listener, the database pool, Redis, logs.
SPARE_FILES = 256


def server_config(app: ASGIApp, settings: Settings, *, host: str, port: int,
                  http: HTTPProtocolType = "h11", ws: WSProtocolType = "websockets-sansio",
                  loop: LoopFactoryType = "auto", ws_per_message_deflate: bool = False) -> uvicorn.Config:
    """The uvicorn configuration `televisit serve` runs; bench/serve_variant.py changes only the
    keyword arguments it compares.

    - http="h11": uvicorn's only parser with a limit on the request head (httptools reads headers
      of any size: a 13 MB one was answered 200). It costs about 0.07 ms more per request on
      /livez, under a tenth of a typical API request.
    - limit_concurrency counts every open connection, each WebSocket and each idle kept-alive one
      included, while upgrades are never refused by it: at the limit, plain HTTP requests get 503
      (nginx tries the next instance) and sockets still connect. Hence a default above the
      10,000 sockets an instance should hold (TELEVISIT_LIMIT_CONCURRENCY).
    - uvicorn has no timeout for a request head that trickles in (slow headers): a proxy that reads
      whole request heads before passing them on (nginx, README's production example) is the guard.
    """
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        proxy_headers=True,
        server_header=False,
        http=http,
        h11_max_incomplete_event_size=settings.max_header_bytes,
        loop=loop,
        ws=ws,
        # uvicorn refuses larger frames itself (1009); the app checks again.
        ws_max_size=settings.ws_max_frame_bytes,
        # Signaling frames are small; compression doubled memory per socket and cost CPU.
        ws_per_message_deflate=ws_per_message_deflate,
        limit_concurrency=settings.limit_concurrency,
        timeout_graceful_shutdown=max(1, int(settings.drain_grace)),
        timeout_keep_alive=TIMEOUT_KEEP_ALIVE,
    )


def raise_open_files_limit(connections: int) -> int:
    """Raise this process's soft limit on open files towards what ``connections`` sockets need.

    Debian's default soft limit (1024, systemd's too) would refuse sockets long before the
    connection limit; the hard limit (systemd: 524288) is what an administrator allows. Returns
    the soft limit in force.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = connections + SPARE_FILES
    if soft != resource.RLIM_INFINITY and soft < wanted:
        raised = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        if raised > soft:
            resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
            soft = raised
    if soft != resource.RLIM_INFINITY and soft < wanted:
        log.warning("open_files_limit_low", soft=soft, hard=hard, wanted=wanted,
                    hint="raise LimitNOFILE (systemd) or ulimit -n, or lower TELEVISIT_LIMIT_CONCURRENCY")
    return soft


DRAINING_BODY = json.dumps({"error": {
    "code": "draining", "message": "This instance is restarting; connect again.", "details": None}}).encode()

# Written outside the app, so the API's headers (core/headers.py) are set here by hand.
DRAINING_HEADERS = ((b"content-type", b"application/json"), (b"cache-control", b"no-store"),
                    (b"x-content-type-options", b"nosniff"))

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

    def __init__(self, inner: ASGIApp, runtime: Runtime) -> None:
        self.inner, self.runtime = inner, runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        draining = self.runtime.draining
        can_refuse = "websocket.http.response" in scope.get("extensions", {})
        if scope["type"] == "websocket" and draining and can_refuse:
            await receive()  # websocket.connect
            await send({"type": "websocket.http.response.start", "status": 503,
                        "headers": [*DRAINING_HEADERS, (b"retry-after", b"1")]})
            await send({"type": "websocket.http.response.body", "body": DRAINING_BODY})
            return
        if scope["type"] != "http":
            await self.inner(scope, receive, send)
            return
        if draining and scope["method"] in RETRYABLE and scope["path"] not in STILL_SERVED:
            await self._refuse(send)
            return

        async def send_closing(message: Message) -> None:
            if message["type"] == "http.response.start" and self.runtime.draining:
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"connection"]
                message = {**message, "headers": [*headers, (b"connection", b"close")]}
            await send(message)

        await self.inner(scope, receive, send_closing)

    @staticmethod
    async def _refuse(send: Send) -> None:
        await send({"type": "http.response.start", "status": 503, "headers": [
            *DRAINING_HEADERS, (b"retry-after", b"1"), (b"connection", b"close"),
            (b"content-length", str(len(DRAINING_BODY)).encode())]})
        await send({"type": "http.response.body", "body": DRAINING_BODY})


class _RefusedUpgradeIsNotAnError(logging.Filter):
    """uvicorn's sans-I/O WebSocket logs a refused upgrade (our 503 while draining) as an error,
    "returned without completing handshake", though the 503 went out: drop that line then."""

    def __init__(self, runtime: Runtime) -> None:
        super().__init__()
        self.runtime = runtime

    def filter(self, record: logging.LogRecord) -> bool:
        return not (self.runtime.draining
                    and record.getMessage().startswith("ASGI callable returned without completing handshake"))


# Python's cyclic garbage collector, tuned once the app has started (docs/benchmarks.md, REST):
# every object made at start-up (the app, its routes and models, SQLAlchemy's and pydantic's
# schemas) is moved out of its reach, and the youngest generation is collected after 10,000
# allocations instead of 700. A request makes thousands of objects, most freed by reference
# counting; with the defaults, the older generations' collections kept walking the whole
# start-up heap (the visit list's p99 was four times its median; its CPU per request fell by
# an eighth with this). 50,000 did no better for the list and doubled `/me`'s p99.
GC_THRESHOLDS = (10_000, 20, 100)


def settle_heap() -> None:
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


class DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, runtime: Runtime, grace: float) -> None:
        # uvicorn types `app` as anything it can import; ours is always an ASGI 3 callable.
        config.app = SendElsewhereWhileDraining(cast(ASGIApp, config.app), runtime)
        logging.getLogger("uvicorn.error").addFilter(_RefusedUpgradeIsNotAnError(runtime))
        super().__init__(config)
        self.runtime = runtime
        self.grace = grace
        self._drain_task: asyncio.Task[None] | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        settle_heap()
        # `kill -USR1`: where every task waits, in the log (ops/tasks.py).
        asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, log_tasks)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._drain_task is not None or not self.started:
            super().handle_exit(sig, frame)  # a second signal, or not serving yet: stop now
            return
        loop = asyncio.get_event_loop()
        self._drain_task = loop.create_task(self._drain_then_exit())

    async def _drain_then_exit(self) -> None:
        try:
            await drain(self.runtime, self.grace)
        finally:
            self.should_exit = True
