"""Logs a developer can debug from, and concise JSON in production.

Development (console): one line per request with its parameters (secrets redacted), every SQL
statement with its duration under that request's id, and a summary with the SQL count and time.
Production (json): one line per request with request id, user id, status and latency; stack
traces of crashes; never a body, a token or a password.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import IO, Any

import structlog
from fastapi.routing import iter_route_contexts
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from televisit.core.config import Settings
from televisit.core.errors import INTERNAL_ERROR, send_error

SENSITIVE = re.compile(
    r"pass(word)?|token|secret|authorization|credential|cookie|api[_-]?key", re.I
)
REQUEST_ID_OK = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
REDACTED = "[REDACTED]"
MAX_LOGGED_BODY = 4096


@dataclass
class RequestStats:
    request_id: str
    user_id: str | None = None
    sql_count: int = 0
    sql_ms: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


_current: ContextVar[RequestStats | None] = ContextVar("televisit_request", default=None)

http_log = structlog.get_logger("televisit.http")
sql_log = structlog.get_logger("televisit.sql")


def configure_logging(settings: Settings, stream: IO[str] | None = None) -> None:
    """Set up structlog and the standard library logging it renders through (default: stderr)."""
    stream = stream or sys.stderr
    level = logging.getLevelName(settings.log_level.upper())
    if not isinstance(level, int):
        level = logging.INFO
    if settings.effective_log_sql and level > logging.DEBUG:
        sql_level = logging.DEBUG
    else:
        sql_level = level
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if settings.effective_log_format == "json":
        renderer: Any = structlog.processors.JSONRenderer()
        shared.append(structlog.processors.dict_tracebacks)
    else:
        # Plain tracebacks: no locals, which could hold a password.
        renderer = structlog.dev.ConsoleRenderer(
            colors=stream.isatty(), exception_formatter=structlog.dev.plain_traceback
        )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(foreign_pre_chain=shared, processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer])
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("televisit.sql").setLevel(
        sql_level if settings.effective_log_sql else logging.WARNING
    )
    for noisy in ("uvicorn.access", "sqlalchemy.engine", "aiosqlite", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.getLogger("uvicorn.error").setLevel(level)


def redact(value: Any, depth: int = 0) -> Any:
    """Replace the values of secret-looking keys, at any depth."""
    if depth > 8:
        return "..."
    if isinstance(value, dict):
        return {
            k: REDACTED if SENSITIVE.search(str(k)) else redact(v, depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact(v, depth + 1) for v in value[:50]]
    return value


def bind_user(user_id: uuid.UUID | str) -> None:
    stats = _current.get()
    if stats is not None:
        stats.user_id = str(user_id)



ws_log = structlog.get_logger("televisit.ws")


@contextlib.contextmanager
def ws_frame_context(connection_id: str, user_id: object, frame_type: str) -> Iterator[dict[str, Any]]:
    """Log one WebSocket frame like a request: its own id, its SQL, its duration and outcome.

    The caller may set ``outcome["error"]`` to the error code it answered with.
    """
    stats = RequestStats(request_id=f"ws-{connection_id[:8]}-{uuid.uuid4().hex[:8]}",
                         user_id=str(user_id) if user_id else None)
    token = _current.set(stats)
    structlog.contextvars.bind_contextvars(request_id=stats.request_id)
    start = time.perf_counter()
    outcome: dict[str, Any] = {}
    try:
        yield outcome
    finally:
        ws_log.info("ws_frame", frame=frame_type, connection_id=connection_id, user_id=stats.user_id,
                    duration_ms=round((time.perf_counter() - start) * 1000, 2),
                    sql_count=stats.sql_count, sql_ms=round(stats.sql_ms, 2), **outcome)
        structlog.contextvars.unbind_contextvars("request_id")
        _current.reset(token)


def frame_logged(frame_type: str) -> bool:
    """Relay frames (signals, media state, pings) are the hot path: logged only at DEBUG."""
    if frame_type in _HOT_FRAMES:
        # The stdlib logger: structlog's lazy proxy rebuilds a logger on every call.
        return _ws_stdlib_log.isEnabledFor(logging.DEBUG)
    return True


_HOT_FRAMES = frozenset({"signal", "media.state", "ping"})
_ws_stdlib_log = logging.getLogger("televisit.ws")


def instrument_engine(engine: AsyncEngine, settings: Settings) -> None:
    """Time every SQL statement and count it against the request that ran it."""
    log_each = settings.effective_log_sql

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _before(conn: Any, _cursor: Any, _stmt: str, _params: Any, _ctx: Any, _many: bool) -> None:
        conn.info.setdefault("televisit_t0", []).append(time.perf_counter())

    @event.listens_for(engine.sync_engine, "after_cursor_execute")
    def _after(
        conn: Any, _cursor: Any, statement: str, params: Any, _ctx: Any, _many: bool
    ) -> None:
        elapsed = (time.perf_counter() - conn.info["televisit_t0"].pop()) * 1000
        stats = _current.get()
        if stats is None:
            return  # background timers: counted nowhere, and not logged (they run every second)
        stats.sql_count += 1
        stats.sql_ms += elapsed
        if log_each:
            sql_log.debug("sql", statement=" ".join(statement.split()), params=_safe_params(params),
                          duration_ms=round(elapsed, 2))


def _safe_params(params: Any) -> Any:
    def one(v: Any) -> Any:
        if isinstance(v, str) and (
            v.startswith("$argon2") or (len(v) == 64 and re.fullmatch(r"[0-9a-f]+", v))
        ):
            return REDACTED  # password hashes and token digests
        if isinstance(v, str | bytes) and len(v) > 200:
            return v[:200] + "..."  # type: ignore[operator]
        if isinstance(v, str):
            return str(v)  # plain str, also for str enums
        return v if isinstance(v, int | float | bool | type(None)) else str(v)

    if isinstance(params, list | tuple):
        return [one(v) for v in params][:40]
    if isinstance(params, dict):
        return {k: one(v) for k, v in list(params.items())[:40]}
    return None


class RequestLoggingMiddleware:
    """Pure ASGI so it sees every request, including ones the error handlers answer."""

    def __init__(self, app: ASGIApp, settings: Settings,
                 observe: Callable[[str, str | None, int, float], None] | None = None) -> None:
        self.app = app
        self.observe = observe  # the request-latency metric, fed from the same timing as the log
        self.verbose = settings.effective_log_format == "console"
        self._templates: dict[int, str] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        incoming = headers.get("x-request-id", "")
        request_id = incoming if REQUEST_ID_OK.match(incoming) else uuid.uuid4().hex
        stats = RequestStats(request_id=request_id)
        token = _current.set(stats)
        structlog.contextvars.bind_contextvars(request_id=request_id)
        start = time.perf_counter()
        finished: float | None = None  # set on a crash: logging its trace is not the request's time
        status = 500
        started = False
        body = bytearray()

        async def logging_receive() -> Message:
            message = await receive()
            if self.verbose and message["type"] == "http.request" and len(body) < MAX_LOGGED_BODY:
                body.extend(message.get("body", b"")[: MAX_LOGGED_BODY - len(body)])
            return message

        async def logging_send(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status, started = message["status"], True
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, logging_receive if self.verbose else receive, logging_send)
        except Exception:
            finished = time.perf_counter()
            # Logged here, while the request id is still bound; answered with the contract's body.
            http_log.exception("unhandled_exception", method=scope["method"], path=scope["path"])
            if started:
                raise  # too late for an error body; let the server drop the connection
            await send_error(logging_send, 500, *INTERNAL_ERROR)
        finally:
            elapsed_ms = ((finished or time.perf_counter()) - start) * 1000
            route = self._template(scope, scope.get("route"))
            self._log(scope, headers, bytes(body), route, status, elapsed_ms, stats)
            if self.observe is not None:
                self.observe(scope["method"], route, status, elapsed_ms / 1000)
            structlog.contextvars.unbind_contextvars("request_id")
            _current.reset(token)

    def _log(self, scope: Scope, headers: dict[str, str], body: bytes, route: str | None, status: int,
             elapsed_ms: float, stats: RequestStats) -> None:
        fields: dict[str, Any] = {
            "method": scope["method"],
            "path": scope["path"],
            "route": route,
            "status": status,
            "duration_ms": round(elapsed_ms, 2),
            "user_id": stats.user_id,
            "sql_count": stats.sql_count,
            "sql_ms": round(stats.sql_ms, 2),
        }
        if self.verbose:
            fields["params"] = _params(scope, headers, body)
        level = "error" if status >= 500 else "info"
        getattr(http_log, level)("request", **fields)

    def _template(self, scope: Scope, route: Any) -> str | None:
        """The matched route's full template (a route of an included router knows only its own)."""
        if route is None:
            return None
        if id(route) not in self._templates and "app" in scope:
            for context in iter_route_contexts(scope["app"].routes):
                if context.path_format:
                    self._templates.setdefault(id(context.original_route), context.path_format)
        return self._templates.get(id(route), getattr(route, "path", None))


def _params(scope: Scope, headers: dict[str, str], body: bytes) -> dict[str, Any] | None:
    from urllib.parse import parse_qsl

    params: dict[str, Any] = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
    path_params = scope.get("path_params") or {}
    params.update({k: str(v) for k, v in path_params.items()})
    if len(body) >= MAX_LOGGED_BODY:
        params["body"] = f"<over {MAX_LOGGED_BODY} bytes, not shown>"
    elif body and "json" in headers.get("content-type", ""):
        try:
            parsed = json.loads(body)
        except ValueError:
            params["body"] = "<malformed JSON>"
        else:
            if isinstance(parsed, dict):
                params.update(parsed)
            else:
                params["body"] = parsed
    return redact(params) or None
