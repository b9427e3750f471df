"""Headers every API answer carries, whichever layer wrote it (route, error handler or middleware).

API answers hold personal data and tokens: no cache (a browser's, a proxy's) may keep a copy
(`Cache-Control: no-store`), and no browser may read a JSON error as a script or a page
(`nosniff`). Strict-Transport-Security, when configured, goes on every answer.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

API_EXACT = "/api"
API_PREFIX = "/api/"
# Replaced rather than added to, so an answer never carries two different values.
_API_HEADERS = ((b"cache-control", b"no-store"), (b"x-content-type-options", b"nosniff"))
_HSTS = b"strict-transport-security"


def is_api_path(path: str) -> bool:
    return path == API_EXACT or path.startswith(API_PREFIX)


class ApiHeadersMiddleware:
    """Pure ASGI, so a request costs one wrapped `send` and one pass over the answer's headers.

    WebSockets never reach it (app.py serves them from a layer outside it), so no idle socket keeps
    a frame of it alive.
    """

    def __init__(self, app: ASGIApp, *, hsts_seconds: int = 0) -> None:
        self.app = app
        hsts: tuple[tuple[bytes, bytes], ...] = ()
        if hsts_seconds > 0:
            # As nginx sends it where TLS ends (deploy/nginx/televisit.conf): this host and its subdomains.
            hsts = ((_HSTS, f"max-age={hsts_seconds}; includeSubDomains".encode()),)
        self.api = _Headers((*_API_HEADERS, *hsts))
        self.other = _Headers(hsts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = self.api if is_api_path(scope["path"]) else self.other
        if not headers.added:
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": headers.applied_to(message.get("headers", ()))}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class _Headers:
    """Headers to set on an answer, replacing any of the same name."""

    def __init__(self, added: tuple[tuple[bytes, bytes], ...]) -> None:
        self.added = added
        self.names = frozenset(name for name, _ in added)

    def applied_to(self, headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
        return [*((k, v) for k, v in headers if k.lower() not in self.names), *self.added]
