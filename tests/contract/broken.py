"""Televisit wrapped so that it breaks exactly one rule of the contract (to see the kit catch it)."""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class DropNextCursor:
    """The visits list answers without `next_cursor`: one REST shape wrong, nothing else."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or scope["path"] != "/api/v1/appointments":
            await self.app(scope, receive, send)
            return
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def rewrite(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
                return
            if message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            body = b"".join(chunks)
            if start["status"] == 200:
                data = json.loads(body)
                data.pop("next_cursor", None)
                body = json.dumps(data).encode()
            headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
            await send({**start, "headers": [*headers, (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, rewrite)


class AckWithoutSeq:
    """`chat.ack` goes out without `seq`: one malformed frame, nothing else."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return

        async def rewrite(message: Message) -> None:
            text = message.get("text") if message["type"] == "websocket.send" else None
            if text and '"chat.ack"' in text:
                frame = json.loads(text)
                frame.pop("seq", None)
                message = {**message, "text": json.dumps(frame)}
            await send(message)

        await self.app(scope, receive, rewrite)
