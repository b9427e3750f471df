"""The load generator's worker: one process, one event loop, a share of the call pairs.

bench/signaling.py starts one or more of these (pinned away from the server's core) and drives
them through a pipe with small commands, so both relays get exactly the same client behaviour:
the same frames, the same pacing, the same WebSocket client (Python `websockets`).

A relayed message carries its send time (`time.monotonic_ns()`, one clock for the whole machine)
as the last key of `data`, so the receiver can read the latency without a full JSON parse.
"""

from __future__ import annotations

import asyncio
import json
import random
import resource
import time
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

# A trickle-ICE candidate as browsers send it: the common signaling frame.
ICE_DATA = {"candidate": {
    "candidate": "candidate:842163049 1 udp 1677729535 203.0.113.10 53705 typ srflx raddr 0.0.0.0 "
                 "rport 0 generation 0 ufrag sXbS network-id 1 network-cost 10",
    "sdpMid": "0", "sdpMLineIndex": 0, "usernameFragment": "sXbS"}}
# An SDP offer of about 2.5 KB (audio + video), for `--payload sdp`.
SDP_DATA = {"description": {"type": "offer", "sdp": "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\n"
            + "".join(f"a=rtpmap:{96 + i} VP8/90000\r\na=rtcp-fb:{96 + i} nack pli\r\n" for i in range(40))}}


def raise_fd_limit(wanted: int = 0) -> int:
    """The soft limit on open files up to the hard one, and both up to ``wanted`` where allowed
    (CAP_SYS_RESOURCE); the servers the bench starts inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if wanted > hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, wanted))
            return wanted
        except (ValueError, OSError):
            pass
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


@dataclass
class Pair:
    uri: str
    room_id: str
    token_a: str
    token_b: str
    uri_b: str | None = None  # another instance for the second side (every message crosses the broker)


@dataclass
class Window:
    """What the readers count: signals received between start and end (monotonic ns)."""

    start: int = 0
    end: int = 0
    received: int = 0
    latencies: list[int] = field(default_factory=list)
    bounce_until: int = 0  # saturation mode: answer every signal until then
    errors: int = 0


class Side:
    def __init__(self, ws: ClientConnection, room_id: str, prefix: str) -> None:
        self.ws = ws
        self.room_id = room_id
        self.prefix = prefix
        self.joined = asyncio.get_running_loop().create_future()
        self.other: Side | None = None

    def frame(self) -> str:
        return f"{self.prefix}{time.monotonic_ns()}}}}}"


def _make_prefix(room_id: str, payload: str) -> str:
    data = json.dumps(SDP_DATA if payload == "sdp" else ICE_DATA, separators=(",", ":"))
    # {"type":"signal","room_id":"…","data":{…,"t":<ns>}}  — the closing braces come with the time.
    return f'{{"type":"signal","room_id":"{room_id}","data":{data[:-1]},"t":'


async def _open(uri: str, token: str, compression: str | None) -> tuple[ClientConnection, dict[str, Any]]:
    ws = await connect(uri, compression=compression, ping_interval=None, max_queue=None,
                       open_timeout=60, close_timeout=2, max_size=1 << 20)
    await ws.send(json.dumps({"type": "auth", "token": token}))
    ready = json.loads(await ws.recv())
    if ready.get("type") != "ready":
        await ws.close()
        raise RuntimeError(f"auth refused: {ready}")
    return ws, ready


class Worker:
    def __init__(self, compression: str | None, payload: str) -> None:
        self.compression = compression
        self.payload = payload
        self.sides: list[Side] = []
        self.readers: list[asyncio.Task[None]] = []
        self.window = Window()
        self.idle: list[ClientConnection] = []

    # -- call pairs -------------------------------------------------------------------------
    async def connect_pairs(self, pairs: list[Pair]) -> dict[str, Any]:
        async def one(pair: Pair) -> None:
            prefix = _make_prefix(pair.room_id, self.payload)
            ws_a, _ = await _open(pair.uri, pair.token_a, self.compression)
            ws_b, _ = await _open(pair.uri_b or pair.uri, pair.token_b, self.compression)
            a, b = Side(ws_a, pair.room_id, prefix), Side(ws_b, pair.room_id, prefix)
            a.other, b.other = b, a
            for side in (a, b):
                self.sides.append(side)
                self.readers.append(asyncio.create_task(self._read(side)))
            for side in (a, b):  # the caller first, then the callee, as a real call does
                await side.ws.send(json.dumps({"type": "room.join", "room_id": pair.room_id}))
                await asyncio.wait_for(side.joined, 30)

        await asyncio.gather(*(one(p) for p in pairs))
        return {"connections": len(self.sides)}

    async def _read(self, side: Side) -> None:
        w = self.window
        try:
            async for text in side.ws:
                if text.startswith('{"type":"signal"'):
                    now = time.monotonic_ns()
                    t = int(text[text.rindex('"t":') + 4:text.index("}", text.rindex('"t":'))])
                    if w.start <= now <= w.end:
                        w.received += 1
                        if t >= w.start:
                            w.latencies.append(now - t)
                    if now < w.bounce_until:
                        await side.ws.send(side.frame())
                    continue
                frame = json.loads(text)
                kind = frame.get("type")
                if kind == "room.joined" and not side.joined.done():
                    side.joined.set_result(frame)
                elif kind == "error":
                    w.errors += 1
                    if not side.joined.done():
                        side.joined.set_exception(RuntimeError(f"join refused: {frame}"))
        except Exception:  # a dropped socket is counted, the run goes on
            w.errors += 1

    def _reset(self, start: int, end: int) -> Window:
        self.window.start, self.window.end = start, end
        self.window.received, self.window.latencies, self.window.errors = 0, [], 0
        return self.window

    async def steady(self, rate_per_conn: float, start: int, end: int, warmup_ns: int) -> dict[str, Any]:
        """Open loop: every socket sends at a fixed rate, whatever the relay does."""
        w = self._reset(start, end)
        interval = 1e9 / rate_per_conn

        async def pace(side: Side) -> None:
            nxt = start - warmup_ns + random.random() * interval
            while nxt < end:
                delay = (nxt - time.monotonic_ns()) / 1e9
                if delay > 0:
                    await asyncio.sleep(delay)
                await side.ws.send(side.frame())
                nxt += interval

        await asyncio.gather(*(pace(s) for s in self.sides))
        await asyncio.sleep(1.0)  # stragglers
        return {"received": w.received, "latencies_ns": w.latencies, "errors": w.errors}

    async def saturate(self, window: int, start: int, end: int, warmup_ns: int) -> dict[str, Any]:
        """Closed loop: each side keeps `window` signals in flight, answering each one it gets."""
        w = self._reset(start, end)
        w.bounce_until = end
        await asyncio.sleep(max(0.0, (start - warmup_ns - time.monotonic_ns()) / 1e9))
        for side in self.sides:
            for _ in range(window):
                await side.ws.send(side.frame())
        await asyncio.sleep(max(0.0, (end - time.monotonic_ns()) / 1e9) + 1.0)
        return {"received": w.received, "latencies_ns": w.latencies, "errors": w.errors}

    async def close_pairs(self) -> dict[str, Any]:
        await asyncio.gather(*(s.ws.close() for s in self.sides), return_exceptions=True)
        for task in self.readers:
            task.cancel()
        self.sides, self.readers = [], []
        return {}

    # -- idle connections -------------------------------------------------------------------
    async def open_idle(self, uri: str, tokens: list[str], count: int, batch: int) -> dict[str, Any]:
        opened = failed = 0
        for first in range(0, count, batch):
            results = await asyncio.gather(
                *(_open(uri, tokens[i % len(tokens)], self.compression)
                  for i in range(first, min(count, first + batch))),
                return_exceptions=True,
            )
            for r in results:
                if isinstance(r, BaseException):
                    failed += 1
                else:
                    self.idle.append(r[0])
                    opened += 1
        return {"opened": opened, "failed": failed}

    async def close_idle(self) -> dict[str, Any]:
        for first in range(0, len(self.idle), 500):
            await asyncio.gather(*(ws.close() for ws in self.idle[first:first + 500]),
                                 return_exceptions=True)
        self.idle = []
        return {}


def run(pipe: Any, compression: str | None, payload: str, cpus: list[int] | None, files: int = 0) -> None:
    """Process entry point: obey commands from the pipe until told to stop."""
    import os

    if cpus:
        os.sched_setaffinity(0, cpus)
    raise_fd_limit(files)

    async def serve() -> None:
        worker = Worker(compression, payload)
        loop = asyncio.get_running_loop()
        while True:
            command, kwargs = await loop.run_in_executor(None, pipe.recv)
            if command == "stop":
                pipe.send(("ok", {}))
                return
            try:
                result = await getattr(worker, command)(**kwargs)
                pipe.send(("ok", result))
            except Exception as exc:  # reported to the coordinator
                pipe.send(("error", f"{type(exc).__name__}: {exc}"))

    try:
        import uvloop
    except ImportError:
        asyncio.run(serve())
    else:
        uvloop.run(serve())
