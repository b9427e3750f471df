"""Refuse request bodies over the configured size with 413, before any route reads them."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from televisit.core.errors import send_error


class HiddenBody:
    """Request body bytes whose repr never shows them.

    A body holds passwords and health data; whatever keeps it while the app runs (a middleware's
    frame, a closure) is what a traceback with locals or a debugger dump would print.
    """

    __slots__ = ("_data",)

    def __init__(self) -> None:
        self._data = bytearray()

    def extend(self, chunk: bytes) -> None:
        self._data.extend(chunk)

    def __len__(self) -> int:
        return len(self._data)

    def peek(self) -> bytes:
        return bytes(self._data)

    def take(self) -> bytes:
        """The bytes, once: the holder lets go of them."""
        data, self._data = bytes(self._data), bytearray()
        return data

    def __repr__(self) -> str:
        return f"<request body: {len(self._data)} bytes, not shown>"


class BodySizeLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > self.max_bytes
            except ValueError:
                too_big = False
            if too_big:
                await self._reject(send)
                return
        # Read the body up front (it is small by definition) and replay it to the app.
        body = HiddenBody()
        if await self._read(receive, send, body):
            await self.app(scope, _Replay(body, receive), send)

    async def _read(self, receive: Receive, send: Send, body: HiddenBody) -> bool:
        """Fill ``body``; False when the client left or was refused (413)."""
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return False
            body.extend(message.get("body", b""))
            more = message.get("more_body", False)
            del message  # the chunk lives only in ``body``
            if len(body) > self.max_bytes:
                await self._reject(send)
                return False
        return True

    async def _reject(self, send: Send) -> None:
        await send_error(
            send, 413, "payload_too_large",
            f"The request body is larger than {self.max_bytes} bytes.",
            {"max_bytes": self.max_bytes},
            headers={"connection": "close"},
        )


class _Replay:
    """A receive that hands the app the buffered body once, then the client's own messages."""

    __slots__ = ("_body", "_done", "_receive")

    def __init__(self, body: HiddenBody, receive: Receive) -> None:
        self._body, self._receive, self._done = body, receive, False

    async def __call__(self) -> Message:
        if self._done:
            return await self._receive()
        self._done = True
        return {"type": "http.request", "body": self._body.take(), "more_body": False}
