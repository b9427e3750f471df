"""Logs a developer can debug from, and concise JSON in production.

Development (console): one line per request with its parameters (secrets redacted), every SQL
statement with its duration under that request's id, and a summary with the SQL count and time.
Production (json): one line per request with request id, user id, status and latency; stack
traces of crashes; never a body, a token or a password.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from televisit.core.config import Settings

SENSITIVE = re.compile(r"pass(word)?|token|secret|authorization|credential|cookie|api[_-]?key", re.I)
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


def configure_logging(settings: Settings) -> None:
    """Set up structlog and the standard library logging it renders through."""
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
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(foreign_pre_chain=shared, processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer])
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("televisit.sql").setLevel(sql_level if settings.effective_log_sql else logging.WARNING)
    for noisy in ("uvicorn.access", "sqlalchemy.engine", "aiosqlite", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.getLogger("uvicorn.error").setLevel(level)


def redact(value: Any, depth: int = 0) -> Any:
    """Replace the values of secret-looking keys, at any depth."""
    if depth > 8:
        return "..."
    if isinstance(value, dict):
        return {
            k: REDACTED if SENSITIVE.search(str(k)) else redact(v, depth + 1) for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact(v, depth + 1) for v in value[:50]]
    return value


def bind_user(user_id: uuid.UUID | str) -> None:
    stats = _current.get()
    if stats is not None:
        stats.user_id = str(user_id)


def current_request_id() -> str | None:
    stats = _current.get()
    return stats.request_id if stats else None


def instrument_engine(engine: AsyncEngine, settings: Settings) -> None:
    """Time every SQL statement and count it against the request that ran it."""
    log_each = settings.effective_log_sql

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _before(conn: Any, _cursor: Any, _stmt: str, _params: Any, _ctx: Any, _many: bool) -> None:
        conn.info.setdefault("televisit_t0", []).append(time.perf_counter())

    @event.listens_for(engine.sync_engine, "after_cursor_execute")
    def _after(conn: Any, _cursor: Any, statement: str, params: Any, _ctx: Any, _many: bool) -> None:
        elapsed = (time.perf_counter() - conn.info["televisit_t0"].pop()) * 1000
        stats = _current.get()
        if stats is not None:
            stats.sql_count += 1
            stats.sql_ms += elapsed
        if log_each:
            sql_log.debug("sql", statement=" ".join(statement.split()), params=_safe_params(params),
                          duration_ms=round(elapsed, 2))


def _safe_params(params: Any) -> Any:
    def one(v: Any) -> Any:
        if isinstance(v, str) and (v.startswith("$argon2") or len(v) == 64 and re.fullmatch(r"[0-9a-f]+", v)):
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

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.verbose = settings.effective_log_format == "console"

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
        status = 500
        body = bytearray()

        async def logging_receive() -> Message:
            message = await receive()
            if self.verbose and message["type"] == "http.request" and len(body) < MAX_LOGGED_BODY:
                body.extend(message.get("body", b"")[: MAX_LOGGED_BODY - len(body)])
            return message

        async def logging_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, logging_receive if self.verbose else receive, logging_send)
        finally:
            self._log(scope, headers, bytes(body), status, (time.perf_counter() - start) * 1000, stats)
            structlog.contextvars.unbind_contextvars("request_id")
            _current.reset(token)

    def _log(self, scope: Scope, headers: dict[str, str], body: bytes, status: int,
             elapsed_ms: float, stats: RequestStats) -> None:
        route = scope.get("route")
        fields: dict[str, Any] = {
            "method": scope["method"],
            "path": scope["path"],
            "route": getattr(route, "path", None),
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


def _params(scope: Scope, headers: dict[str, str], body: bytes) -> dict[str, Any] | None:
    from urllib.parse import parse_qsl

    params: dict[str, Any] = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
    path_params = scope.get("path_params") or {}
    params.update({k: str(v) for k, v in path_params.items()})
    if body and "json" in headers.get("content-type", ""):
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
