from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import structlog
from fastapi import WebSocket
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocketDisconnect

from televisit.audit.context import bind_scope
from televisit.core.config import Settings
from televisit.core.dbretry import DatabaseUnavailable, retry_while_unreachable
from televisit.core.errors import AppError
from televisit.core.logging import frame_logged, ws_frame_context
from televisit.signaling import frames as f
from televisit.signaling.connection import Connection, ConnState
from televisit.signaling.service import Handlers

if TYPE_CHECKING:  # the runtime holds this front's hub and handlers: a type-only import
    from televisit.runtime import Runtime

log = structlog.get_logger("televisit.ws")

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN_ORIGIN = 4403
CLOSE_TOO_BIG = 1009
CLOSE_POLICY = 1008
CLOSE_RESTART = 1012
CLOSE_TOO_MANY = 4429


def origin_allowed(websocket: WebSocket, settings: Settings) -> bool:
    """Browsers must come from our own origin or an allowed one; clients without Origin pass."""
    origin = websocket.headers.get("origin")
    if origin is None:
        return True
    if origin in settings.allowed_origins:
        return True
    host = websocket.headers.get("host", "")
    return urlsplit(origin).netloc.lower() == host.lower() and host != ""


def _error(exc: f.FrameError | AppError, ref: f.Ref = None) -> f.ErrorFrame:
    if isinstance(exc, f.FrameError):
        return exc.frame()
    return f.ErrorFrame(code=exc.code, message=exc.message, ref=ref, details=exc.details)


async def _receive_frame(websocket: WebSocket, conn: Connection, max_bytes: int) -> str | bytes | None:
    """The next frame (text, or bytes for a binary one); None when the socket closed or was
    closed for an oversized frame."""
    message = await websocket.receive()
    if message["type"] == "websocket.disconnect":
        return None
    text: str | None = message.get("text")
    data: str | bytes
    if text is None:
        data = message.get("bytes") or b""
        oversized = len(data) > max_bytes
    else:  # UTF-8 takes up to 4 bytes a character: encode only when it could matter
        data = text
        oversized = len(text) > max_bytes or (len(text) * 4 > max_bytes and len(text.encode()) > max_bytes)
    if oversized:
        conn.send(f.ErrorFrame(code="frame_too_large", message=f"Frames are limited to {max_bytes} bytes."))
        conn.close(CLOSE_TOO_BIG, "frame too large")
        return None
    return data


def _decode(text: str | bytes) -> f.ClientFrame:
    """One frame, or a FrameError for any failure: a hostile frame must never end the socket
    (an escaped exception closed it, and its traceback went to the log)."""
    if isinstance(text, bytes):
        raise f.FrameError("binary_not_supported", "Send JSON text frames.")
    try:
        return f.decode(text)
    except f.FrameError:
        raise
    except Exception:
        log.exception("ws_decode_failed", frame_chars=len(text))
        raise f.FrameError("internal_error", "Something went wrong on our side.") from None


async def _authenticate(websocket: WebSocket, conn: Connection, runtime: Runtime) -> bool:
    settings = runtime.settings
    try:
        async with asyncio.timeout(settings.ws_auth_timeout):
            text = await _receive_frame(websocket, conn, settings.ws_max_frame_bytes)
    except TimeoutError:
        conn.send(f.ErrorFrame(code="auth_timeout", message="Send {type: auth, token} first."))
        conn.close(CLOSE_UNAUTHENTICATED, "authentication timeout")
        return False
    if text is None:
        return False
    try:
        frame = _decode(text)
        if not isinstance(frame, f.AuthFrame):
            raise f.FrameError("not_authenticated", "The first frame must be {type: auth, token}.",
                               getattr(frame, "ref", None))
        await runtime.ws_handlers.authenticate(conn, frame.token)
    except (f.FrameError, AppError) as exc:
        conn.send(_error(exc))
        conn.close(CLOSE_UNAUTHENTICATED, "not authenticated")
        return False
    # Checked and registered with no await between: two sockets at once cannot both pass.
    if runtime.hub.user_count(conn.uid) >= settings.ws_max_per_user:
        _refuse(conn, "Too many open connections for your account: close one first.", frame.ref)
        return False
    conn.move(ConnState.READY)
    await runtime.hub.add_user_connection(conn)
    conn.send(f.Ready(ref=frame.ref, user_id=conn.uid, connection_id=conn.id))
    if conn.patient and runtime.hub.user_count(conn.uid) == 1:  # her first socket here
        await runtime.ws_handlers.sync_presence(conn.uid)
    return True


def _refuse(conn: Connection, message: str, ref: f.Ref = None) -> None:
    """Over a cap: the error, then close 4429 (the other sockets keep working)."""
    conn.send(f.ErrorFrame(code="too_many_connections", message=message, ref=ref))
    conn.close(CLOSE_TOO_MANY, "too many connections")


async def _serve(websocket: WebSocket, conn: Connection, runtime: Runtime) -> None:
    settings = runtime.settings
    handlers = runtime.ws_handlers
    while conn.state == ConnState.READY:
        text = await _receive_frame(websocket, conn, settings.ws_max_frame_bytes)
        if text is None:
            return
        if not conn.limiter.take():  # every frame counts, refused ones too
            conn.send(f.ErrorFrame(code="rate_limited", message="Too many frames."))
            conn.close(CLOSE_POLICY, "flood")
            return
        await _handle(conn, handlers, text)


async def _handle(conn: Connection, handlers: Handlers, text: str | bytes) -> None:
    """Decode and dispatch one frame; every failure becomes an error frame, never a crash."""
    try:
        frame = _decode(text)
    except f.FrameError as exc:
        conn.send(_error(exc))
        return
    if frame_logged(frame.type):
        with ws_frame_context(conn.id, conn.user_id, frame.type) as outcome:
            await _dispatch(conn, handlers, frame, outcome)
    else:
        await _dispatch(conn, handlers, frame, {})


async def _dispatch(conn: Connection, handlers: Handlers, frame: f.ClientFrame,
                    outcome: dict[str, Any]) -> None:
    """Run the frame's handler. A frame that met an unreachable database (a PostgreSQL restart:
    its transaction rolled back) runs again, as an HTTP request does (core/dbretry.py), for up to
    TELEVISIT_DB_RETRY_WINDOW seconds; the socket's next frames wait, so their order holds."""
    try:
        await retry_while_unreachable(lambda: handlers.dispatch(conn, frame),
                                      window=handlers.settings.db_retry_window)
    except (f.FrameError, AppError) as exc:
        outcome["error"] = exc.code
        conn.send(_error(exc, frame.ref))
    except DatabaseUnavailable:
        outcome["error"] = "database_unavailable"
        conn.send(f.ErrorFrame(code="database_unavailable", ref=frame.ref,
                               message="The service is briefly unavailable. Please try again."))
    except Exception:
        outcome["error"] = "internal_error"
        log.exception("ws_frame_failed", connection_id=conn.id)
        conn.send(f.ErrorFrame(code="internal_error", message="Something went wrong on our side.",
                               ref=frame.ref))


class DirectWebSocket:
    """Serves the WebSocket from the outermost layer of the app.

    Routing and the HTTP middlewares do nothing for it, yet every coroutine frame they add stays
    alive for the whole life of each of thousands of mostly idle sockets.
    """

    def __init__(self, app: ASGIApp, runtime: Runtime, path: str) -> None:
        self.app, self.runtime, self.path = app, runtime, path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and scope["path"] == self.path:
            await websocket_endpoint(WebSocket(scope, receive, send), self.runtime)
        else:
            await self.app(scope, receive, send)


async def websocket_endpoint(websocket: WebSocket, runtime: Runtime) -> None:
    settings = runtime.settings
    bind_scope(websocket.scope)  # the socket's address and user agent, for its audit records
    if not origin_allowed(websocket, settings):
        await websocket.close(code=CLOSE_FORBIDDEN_ORIGIN)
        return
    await websocket.accept()
    # Behind nginx uvicorn runs with --proxy-headers, so this is the real client address.
    address = websocket.client.host if websocket.client else "unknown"
    conn = Connection(websocket, queue_size=settings.ws_send_queue, rate=settings.ws_rate_per_second,
                      burst=settings.ws_rate_burst, address=address)
    if runtime.draining:
        conn.send(f.ServerDraining())
        conn.close(CLOSE_RESTART, "draining")
        await conn.flushed(2)
        return
    if not runtime.hub.admit_address(conn, settings.ws_max_per_address):
        _refuse(conn, "Too many open connections from your network address.")
        await conn.flushed(2)
        return
    try:
        if await _authenticate(websocket, conn, runtime):
            await _serve(websocket, conn, runtime)
    except WebSocketDisconnect:
        pass
    finally:
        runtime.hub.release_address(conn)
        await _cleanup(conn, runtime)


async def _cleanup(conn: Connection, runtime: Runtime) -> None:
    registered = conn.user_id is not None and conn.id in runtime.hub.connections
    rooms = await runtime.hub.remove_connection(conn)
    if registered and conn.patient and runtime.hub.user_count(conn.uid) == 0:  # her last one here
        await runtime.ws_handlers.sync_presence(conn.uid)
    for room_id in rooms:
        try:
            await runtime.ws_handlers.record_leave(conn, room_id)
        except Exception:
            log.exception("ws_leave_failed", room_id=str(room_id))
    if conn.state != ConnState.CLOSED:
        if conn.state == ConnState.READY or conn.state == ConnState.AWAITING_AUTH:
            conn.close(1000, "")
        await conn.flushed(2)
        await conn.stop_writer()
        conn.move(ConnState.CLOSED)
