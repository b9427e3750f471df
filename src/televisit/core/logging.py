"""Logs a developer can debug from, and concise JSON in production.

Development (console): one line per request with its parameters (secrets redacted), every SQL
statement with its duration under that request's id, and a summary with the SQL count and time.
Production (json): one line per request with request id, user id, status and latency; stack
traces of crashes; never a body, a token or a password.

In every mode a traceback lists files, lines and functions, never a frame's local variables (they
hold request bodies, the settings and chat text); production also keeps the data some exceptions
carry in their message (SQL parameters, a failing row, a validation error's input) out of the
log; and the configured secrets are replaced in every rendered line, whatever printed them.
"""

from __future__ import annotations

import contextlib
import json
import linecache
import logging
import re
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import IO, Any, TextIO
from urllib.parse import parse_qsl, unquote, urlsplit

import pydantic_core
import structlog
from fastapi.exceptions import ValidationException
from fastapi.routing import iter_route_contexts
from sqlalchemy import event
from sqlalchemy.exc import StatementError
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from structlog.tracebacks import ExceptionDictTransformer
from structlog.typing import ExcInfo

from televisit.core.config import Settings
from televisit.core.errors import INTERNAL_ERROR, send_error
from televisit.core.limits import HiddenBody

SENSITIVE = re.compile(
    r"pass(word)?|token|secret|authorization|credential|cookie|api[_-]?key"
    # A Web Push subscription (push/): the browser's push URL and its encryption keys.
    r"|^(auth|p256dh|endpoint)$", re.I
)
REQUEST_ID_OK = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
REDACTED = "[REDACTED]"
MAX_LOGGED_BODY = 4096
# The development log shows request bodies nested to this depth ("..." below it).
MAX_LOGGED_DEPTH = 8
# Secrets shorter than this are not searched for in rendered lines (too many false matches);
# production refuses secret keys and TURN secrets under 32 characters anyway.
MIN_SCRUBBED_SECRET = 6
# A PostgreSQL error's DETAIL quotes the failing row or key: patients' data.
_PG_DETAIL = re.compile(r"\nDETAIL:.*?(?=\nHINT:|\n\[SQL|\Z)", re.S)


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
    tracebacks = SafeTracebacks(production=settings.env == "production")
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
        # Not `dict_tracebacks`: its transformer shows every frame's locals.
        shared.append(structlog.processors.ExceptionRenderer(tracebacks))
    else:
        # Named explicitly: left to its default, ConsoleRenderer uses rich or better_exceptions
        # when installed, and both print locals.
        renderer = structlog.dev.ConsoleRenderer(
            colors=stream.isatty(),
            exception_formatter=(tracebacks.render_text if tracebacks.production
                                 else structlog.dev.plain_traceback),
        )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        RedactingFormatter(secrets=secret_values(settings), foreign_pre_chain=shared, processors=[
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


class RedactingFormatter(structlog.stdlib.ProcessorFormatter):
    """Replaces the configured secrets in every rendered line, whoever printed them.

    The last guard behind SecretStr settings, redacted URLs and tracebacks without locals: a
    library's message that quotes a connection URL still reaches the log without its password.
    """

    def __init__(self, *args: Any, secrets: Iterable[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._secrets = sorted(set(secrets), key=len, reverse=True)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text


def secret_values(settings: Settings) -> list[str]:
    """The secrets in the settings, as they may appear in a line: raw, JSON- and repr-escaped."""
    found = [settings.secret_key.get_secret_value()]
    if settings.turn_secret is not None:
        found.append(settings.turn_secret.get_secret_value())
    if settings.push_vapid_private_key is not None:
        found.append(settings.push_vapid_private_key.get_secret_value())
    for url in (settings.database_url, settings.redis_url):
        with contextlib.suppress(ValueError):
            password = urlsplit(url or "").password
            if password:
                found += [password, unquote(password)]
    variants = {v for s in found for v in (s, json.dumps(s)[1:-1], repr(s)[1:-1])}
    return [v for v in variants if len(v) >= MIN_SCRUBBED_SECRET]


class SafeTracebacks:
    """Structured tracebacks without frame locals, for the JSON renderer and the console.

    In production the messages of exceptions that carry data lose it: SQLAlchemy's SQL
    parameters, PostgreSQL's DETAIL (the failing row), a validation error's input.
    """

    def __init__(self, *, production: bool) -> None:
        self.production = production
        self._extract = ExceptionDictTransformer(show_locals=False)

    def __call__(self, exc_info: ExcInfo) -> list[dict[str, Any]]:
        if not self.production:
            return self._extract(exc_info)
        for exc in _chain(exc_info[1]):
            if isinstance(exc, StatementError):
                exc.hide_parameters = True  # read when its message is built, just below
        stacks = self._extract(exc_info)
        _scrub_messages(stacks, exc_info[1])
        return stacks

    def render_text(self, sio: TextIO, exc_info: ExcInfo) -> None:
        """The same as a Python-style traceback (root cause first), for the console renderer."""
        stacks = list(reversed(self(exc_info)))
        for i, stack in enumerate(stacks):
            sio.write("Traceback (most recent call last):\n")
            for frame in stack["frames"]:
                sio.write(f'  File "{frame["filename"]}", line {frame["lineno"]}, in {frame["name"]}\n')
                if line := linecache.getline(frame["filename"], frame["lineno"]).strip():
                    sio.write(f"    {line}\n")
            sio.write(f"{stack['exc_type']}: {stack['exc_value']}\n")
            if i + 1 < len(stacks):
                sio.write("\nThe above exception was the direct cause of the following exception:\n\n"
                          if stack["is_cause"] else
                          "\nDuring handling of the above exception, another exception occurred:\n\n")


def _chain(exc: BaseException) -> list[BaseException]:
    """The exceptions in the order structlog's `extract` lists them: the raised one, then its
    cause (or else its context), and so on."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not seen for seen in chain):
        chain.append(current)
        cause, context = current.__cause__, current.__context__
        if cause is not None and cause.__traceback__:
            current = cause
        elif context is not None and context.__traceback__ and not current.__suppress_context__:
            current = context
        else:
            current = None
    return chain


def _scrub_messages(stacks: list[dict[str, Any]], exc: BaseException) -> None:
    chain = _chain(exc)
    for i, stack in enumerate(stacks):
        current = chain[i] if i < len(chain) else None
        if current is None or type(current).__name__ != stack["exc_type"]:
            stack["exc_value"] = "[not shown]"  # cannot tell which exception this is: fail closed
            continue
        if isinstance(current, pydantic_core.ValidationError | ValidationException):
            stack["exc_value"] = _validation_summary(current.errors())
        else:
            stack["exc_value"] = _PG_DETAIL.sub("\nDETAIL:  [not shown in production]",
                                                stack["exc_value"])
        if stack.get("is_group") and isinstance(current, BaseExceptionGroup):
            for sub_stacks, sub in zip(stack["exceptions"], current.exceptions, strict=False):
                _scrub_messages(sub_stacks, sub)


def _validation_summary(errors: Iterable[Any]) -> str:
    """Where and why validation failed, without the input (it may be a chat message)."""
    listed = [e for e in errors if isinstance(e, dict)]
    parts = [f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')} [type={e.get('type')}]"
             for e in listed[:10]]
    return f"{len(listed)} validation error(s), inputs not shown: " + "; ".join(parts)


def redact(value: Any, depth: int = 0) -> Any:
    """Replace the values of secret-looking keys, at any depth (shown to MAX_LOGGED_DEPTH)."""
    if depth > MAX_LOGGED_DEPTH:
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


_HOT_FRAMES = frozenset({"signal", "media.state", "quality.report", "ping"})
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
        if isinstance(v, str) and len(v) > 200:
            return v[:200] + "..."
        if isinstance(v, bytes) and len(v) > 200:
            return v[:200] + b"..."
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
        # Parameters and body fields only in development: in production they are health data.
        self.verbose = settings.effective_log_format == "console" and settings.env == "development"
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
        body = HiddenBody()  # what development logs of it; never shown by a repr

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
            self._log(scope, headers, body, route, status, elapsed_ms, stats)
            if self.observe is not None:
                self.observe(scope["method"], route, status, elapsed_ms / 1000)
            structlog.contextvars.unbind_contextvars("request_id")
            _current.reset(token)

    def _log(self, scope: Scope, headers: dict[str, str], body: HiddenBody, route: str | None,
             status: int, elapsed_ms: float, stats: RequestStats) -> None:
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


def _params(scope: Scope, headers: dict[str, str], body: HiddenBody) -> dict[str, Any] | str | None:
    """The request's parameters for the development log; whatever the client sent, never raises
    (it runs in the middleware's ``finally``, where an exception would replace the response)."""
    try:
        return _parse_params(scope, headers, body)
    except Exception as exc:  # a log line must not fail a request
        return f"<not shown: {type(exc).__name__}>"


def _parse_params(scope: Scope, headers: dict[str, str], body: HiddenBody) -> dict[str, Any] | None:
    params: dict[str, Any] = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
    path_params = scope.get("path_params") or {}
    params.update({k: str(v) for k, v in path_params.items()})
    if len(body) >= MAX_LOGGED_BODY:
        params["body"] = f"<over {MAX_LOGGED_BODY} bytes, not shown>"
    elif len(body) and "json" in headers.get("content-type", ""):
        try:
            # pydantic's parser stops at 200 levels with a ValueError; json.loads would recurse
            # until RecursionError. `redact` then cuts the shown depth to MAX_LOGGED_DEPTH.
            parsed = pydantic_core.from_json(body.peek())
        except ValueError:
            params["body"] = "<malformed or too deeply nested JSON>"
        else:
            if isinstance(parsed, dict):
                params.update(parsed)
            else:
                params["body"] = parsed
    return redact(params) or None
