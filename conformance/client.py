"""A REST client and a WebSocket client that check every answer and frame against the contract.

Neither raises on a contract violation: they record it in the check's list, so a check goes on
to what it was testing and the report names both.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.typing import Origin

from conformance.contract import Contract


class CheckFailed(AssertionError):
    """What a check saw differs from the contract; the message says what."""


def require(condition: object, message: str) -> None:
    """`assert` for checks: never stripped by -O, and its message is the report's reason."""
    if not condition:
        raise CheckFailed(message)


def expect_status(response: httpx.Response, *statuses: int) -> Any:
    """The JSON body of an answer with one of ``statuses`` (None for an empty body)."""
    if response.status_code not in statuses:
        expected = " or ".join(str(s) for s in statuses)
        raise CheckFailed(f"{response.request.method} {response.request.url.path} answered "
                          f"{response.status_code}, expected {expected}: {response.text[:200]}")
    return response.json() if response.content else None


def expect_error(response: httpx.Response, status: int | tuple[int, ...],
                 code: str | None = None) -> dict[str, Any]:
    """A contract error answer: the status (one of them) and `{"error": {"code", "message", "details"}}`."""
    expect_status(response, *(status if isinstance(status, tuple) else (status,)))
    what = f"{response.request.method} {response.request.url.path} {response.status_code}"
    try:
        body = response.json()
    except ValueError:
        raise CheckFailed(f"{what}: the error body is not JSON: {response.text[:100]!r}") from None
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict) or not {"code", "message", "details"} <= set(error):
        raise CheckFailed(f"{what}: the body is not {{error: {{code, message, details}}}}: "
                          f"{response.text[:200]}")
    require(isinstance(error["code"], str) and error["code"] == error["code"].lower()
            and " " not in error["code"], f"{what}: error code {error['code']!r} is not snake_case")
    if code is not None:
        require(error["code"] == code, f"{what}: error code {error['code']!r}, expected {code!r}")
    return error


class Api:
    """REST calls under the base URL; each answer is checked against openapi.json."""

    def __init__(self, http: httpx.AsyncClient, contract: Contract, violations: list[str]) -> None:
        self.http, self.contract, self.violations = http, contract, violations
        self.prefix = urlsplit(str(http.base_url)).path.rstrip("/")

    async def request(self, method: str, path: str, *, token: str | None = None,
                      json: Any = None, content: bytes | None = None,
                      params: dict[str, Any] | None = None,
                      headers: dict[str, str] | None = None) -> httpx.Response:
        sent = dict(headers or {})
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        response = await self.http.request(method, path, json=json, content=content, params=params,
                                            headers=sent)
        self.violations.extend(self.contract.rest.check(
            method, response.request.url.path.removeprefix(self.prefix) or "/", response.status_code,
            response.headers.get("content-type", ""), response.content))
        return response

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("POST", path, **kwargs)


@dataclass
class Person:
    """An account a check made, signed in."""

    id: str
    email: str
    full_name: str
    role: str
    token: str = field(repr=False)
    password: str = field(repr=False)


class Socket:
    """One WebSocket; a reader keeps every server frame (checked against asyncapi.json) in order."""

    def __init__(self, ws: ClientConnection, contract: Contract, violations: list[str], name: str) -> None:
        self.ws, self.contract, self.violations, self.name = ws, contract, violations, name
        self.frames: list[dict[str, Any]] = []
        self.listeners: list[Callable[[dict[str, Any]], None]] = []
        self._claimed: set[int] = set()
        self._refs = itertools.count(1)
        self._changed = asyncio.Event()
        self._reader = asyncio.create_task(self._read(), name=f"{name}-reader")

    @classmethod
    async def open(cls, url: str, contract: Contract, violations: list[str], name: str,
                   origin: str | None = None) -> Socket:
        # No proxy from the environment (the server under test is reached directly), no compression
        # (Televisit turns it off; the contract does not need it), no size limit (the kit checks frames).
        ws = await websockets.connect(url, origin=Origin(origin) if origin else None, open_timeout=10,
                                      close_timeout=3, max_size=None, proxy=None, compression=None)
        return cls(ws, contract, violations, name)

    async def _read(self) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for message in self.ws:
                if isinstance(message, bytes):
                    self.violations.append(f"{self.name}: a binary frame; frames are JSON text")
                    continue
                try:
                    frame = json.loads(message)
                except ValueError:
                    self.violations.append(f"{self.name}: a frame that is not JSON: {message[:80]!r}")
                    continue
                self.violations.extend(f"{self.name}: {p}" for p in self.contract.frames.check(frame))
                if isinstance(frame, dict):
                    self.frames.append(frame)
                    for listener in self.listeners:
                        listener(frame)
                self._wake()
        received = self.ws.protocol.close_rcvd
        if received is not None and received.code not in self.contract.frames.close_codes:
            self.violations.append(f"{self.name}: closed with code {received.code}, which x-close-codes "
                                   "does not list")
        self._wake()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(frame))

    async def send_raw(self, data: str | bytes) -> None:
        await self.ws.send(data)

    async def wait_for(self, predicate: Callable[[], Any], what: str, within: float) -> Any:
        """Wait (bounded) until ``predicate`` gives a truthy value, and return it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            result = predicate()
            if result:
                return result
            left = deadline - loop.time()
            if left <= 0:
                recent = [f.get("type") for f in self.frames[-8:]]
                raise CheckFailed(f"{self.name}: no {what} within {within:g} s (last frames: {recent})")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)

    def _find(self, kind: str, match: dict[str, Any]) -> dict[str, Any] | None:
        for i, frame in enumerate(self.frames):
            if i in self._claimed or frame.get("type") != kind:
                continue
            if all(v(frame.get(k)) if callable(v) else frame.get(k) == v for k, v in match.items()):
                self._claimed.add(i)
                return frame
        return None

    async def expect(self, kind: str, within: float = 5, **match: Any) -> dict[str, Any]:
        """The first frame of ``kind`` not claimed before whose fields match (values or predicates)."""
        shown = {k: v for k, v in match.items() if not callable(v)}
        return await self.wait_for(lambda: self._find(kind, match), f"{kind} frame {shown or ''}".strip(),
                                   within)

    async def request(self, frame: dict[str, Any], reply: str, within: float = 5) -> dict[str, Any]:
        """Send a frame with a fresh `ref` and wait for the reply that carries it (or an error)."""
        ref = f"kit-{next(self._refs)}"
        await self.send({**frame, "ref": ref})
        answer = await self.wait_for(
            lambda: self._find(reply, {"ref": ref}) or self._find("error", {"ref": ref}),
            f"{reply} (or error) answering ref {ref}", within)
        require(answer["type"] == reply, f"{self.name}: {frame['type']} answered with error "
                                         f"{answer.get('code')!r}: {answer.get('message')}")
        return answer

    async def closed(self, within: float = 5) -> int | None:
        """Wait for the server to close the socket; its close code (1006 without a close frame)."""
        await self.wait_for(lambda: self._reader.done(), "close from the server", within)
        return self.ws.close_code

    @property
    def is_closed(self) -> bool:
        return self._reader.done()

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.ws.close(), 5)
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._reader
