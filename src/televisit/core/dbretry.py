"""Requests ride out a database restart instead of failing.

When PostgreSQL restarts (an upgrade, a failover, an operator's `pg_ctl restart`), every open
connection is terminated and, for a second or so, new ones are refused. A request that meets
that has had its transaction rolled back by the database (nothing it did was committed, except in
the instant a COMMIT is in flight), so it is safe to run it again once the database answers. This
middleware does that: a request whose handler fails because the database cannot be reached, before
any byte of the answer was sent, is run again with the same body, with a short backoff, for up
to ``TELEVISIT_DB_RETRY_WINDOW`` seconds; the person sees a slower answer instead of an error.
Past the window the answer is 503 ``database_unavailable`` with Retry-After (never a 500).

Innermost of the middlewares: the request is logged, audited and counted once, whatever the
number of attempts. WebSockets are not retried here (their frames run in their own sessions).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import structlog
from sqlalchemy.exc import DBAPIError, DisconnectionError

from televisit.core.errors import error_response

log = structlog.get_logger("televisit.db")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# asyncpg's errors for "this connection is gone" and "not now": the server shutting down
# (57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now) and the client side.
_UNREACHABLE_SQLSTATES = {"57P01", "57P02", "57P03", "08000", "08003", "08006", "08001", "08004",
                          # ...and the database chose this transaction as a deadlock's victim (or a
                          # serialization failure): rolled back whole, it is meant to be run again.
                          "40P01", "40001"}
_UNREACHABLE_NAMES = {
    "DeadlockDetectedError", "SerializationError", "ConnectionDoesNotExistError", "ConnectionFailureError",
    "InterfaceError", "CannotConnectNowError", "AdminShutdownError", "CrashShutdownError",
    "ConnectionRejectionError", "ClientCannotConnectError",
}


def database_unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` says the database could not be reached (not that a statement was wrong).
    Only the database's own errors count: SQLAlchemy's (and the driver error inside), asyncpg's,
    and the bare ConnectionRefusedError of the pool's connect(); another client's error that
    merely wraps a refused connection (Redis, say) is not retried here."""
    if isinstance(exc, DisconnectionError | ConnectionError):
        return True
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        return _driver_unreachable(exc.orig) or _driver_unreachable(exc.orig.__cause__ if exc.orig else None)
    return _driver_unreachable(exc)


def _driver_unreachable(exc: BaseException | None) -> bool:
    if exc is None or not type(exc).__module__.startswith(("asyncpg", "sqlalchemy")):
        return False
    sqlstate = getattr(exc, "sqlstate", None)
    return sqlstate in _UNREACHABLE_SQLSTATES or type(exc).__name__ in _UNREACHABLE_NAMES


class DatabaseUnavailable(Exception):
    """The database stayed unreachable for the whole retry window."""


async def retry_while_unreachable(run: Callable[[], Awaitable[None]], *, window: float,
                                  may_retry: Callable[[], bool] = lambda: True) -> None:
    """Run ``run``; while it fails because the database cannot be reached (and ``may_retry()``),
    run it again, backing off from 50 ms to 1 s, for up to ``window`` seconds. Past the window:
    DatabaseUnavailable. Any other error, or one it may not retry, is raised as it is. The one
    loop of both HTTP requests (below) and WebSocket frames (signaling/endpoints.py)."""
    deadline = time.monotonic() + window
    delay, attempt = 0.05, 1
    while True:
        try:
            await run()
            if attempt > 1:
                log.info("request_retried_after_database_outage", attempts=attempt)
            return
        except Exception as exc:
            if not may_retry() or not database_unreachable(exc):
                raise
            if time.monotonic() >= deadline:
                log.warning("database_unavailable", attempts=attempt, error=type(exc).__name__)
                raise DatabaseUnavailable from exc
        await asyncio.sleep(max(0.0, min(delay, deadline - time.monotonic())))
        delay, attempt = min(delay * 2, 1.0), attempt + 1


class RetryWhileDatabaseRestarts:
    def __init__(self, app: ASGIApp, *, window: float) -> None:
        self.app = app
        self.window = window

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.window <= 0:
            await self.app(scope, receive, send)
            return
        received: list[Message] = []  # the body as read so far, replayed to a retry
        started = False

        def replaying() -> Receive:
            pending = list(received)

            async def next_message() -> Message:
                if pending:
                    return pending.pop(0)
                message = await receive()
                if message["type"] == "http.request":
                    received.append(message)
                return message
            return next_message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            await retry_while_unreachable(lambda: self.app(scope, replaying(), tracking_send),
                                          window=self.window, may_retry=lambda: not started)
        except DatabaseUnavailable:
            response = error_response(
                503, "database_unavailable",
                "The service is briefly unavailable. Please try again in a moment.",
                headers={"Retry-After": "5"},
            )
            await response(scope, replaying(), send)
