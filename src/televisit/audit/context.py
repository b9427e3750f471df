"""Where a request or a socket comes from, for the audit records it writes.

Services record what happened (`audit.record(...)`) without threading the client's address
through every call: the HTTP middleware below, and the WebSocket endpoint for a socket's life,
bind it to the task's context. The request id is the one the logs carry (the HTTP request's
`X-Request-ID`, or a WebSocket frame's own id), read from the log context.
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from dataclasses import dataclass

import structlog
from starlette.types import ASGIApp, Receive, Scope, Send

from televisit.core.text import strip_controls

IP_MAX = 64
USER_AGENT_MAX = 256
REQUEST_ID_MAX = 128


@dataclass(frozen=True, slots=True)
class Origin:
    client_ip: str | None = None
    user_agent: str | None = None


@dataclass(frozen=True, slots=True)
class RequestContext:
    client_ip: str | None
    user_agent: str | None
    request_id: str | None


_UNKNOWN = Origin()  # frozen: a safe shared default
_origin: ContextVar[Origin] = ContextVar("televisit_audit_origin", default=_UNKNOWN)


def origin_of(scope: Scope) -> Origin:
    """The client address (the proxy's forwarded one, as uvicorn rewrites it) and user agent."""
    client = scope.get("client")
    agent = next((v for k, v in scope.get("headers", ()) if k == b"user-agent"), b"")
    text = strip_controls(agent.decode("latin-1"))[:USER_AGENT_MAX]
    return Origin(client_ip=str(client[0])[:IP_MAX] if client else None, user_agent=text or None)


def bind_scope(scope: Scope) -> Token[Origin]:
    """Remember where this request or socket comes from, for the rest of its task."""
    return _origin.set(origin_of(scope))


def current() -> RequestContext:
    origin = _origin.get()
    request_id = structlog.contextvars.get_contextvars().get("request_id")
    return RequestContext(
        client_ip=origin.client_ip,
        user_agent=origin.user_agent,
        request_id=str(request_id)[:REQUEST_ID_MAX] if request_id else None,
    )


class AuditContextMiddleware:
    """Binds each HTTP request's origin (pure ASGI: the route runs in the same task)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        token = bind_scope(scope)
        try:
            await self.app(scope, receive, send)
        finally:
            _origin.reset(token)
