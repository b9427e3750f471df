"""The WebSocket itself: the auth handshake, its timeout, Origin, bad frames and close codes."""

from __future__ import annotations

import json
import time

from websockets.exceptions import InvalidStatus

from conformance.client import CheckFailed, Socket, require
from conformance.runner import Check, Context

FOREIGN_ORIGIN = "https://evil.example"


async def _refused(socket: Socket, code: str, within: float = 5) -> None:
    """An `error` with ``code`` and then close 4401 (what every failed handshake gets)."""
    error = await socket.expect("error", within)
    require(error["code"] == code, f"{socket.name}: error {error['code']!r}, expected {code!r}")
    closed = await socket.closed(within)
    require(closed == 4401, f"{socket.name}: closed with {closed}, expected 4401")


async def handshake(ctx: Context) -> None:
    """`auth` first → `ready` (with its `ref`); a bad token or another first frame → error + 4401."""
    patient = await ctx.person("patient")
    socket = await ctx.socket(None, "socket")
    await socket.send({"type": "auth", "token": patient.token, "ref": "hello"})
    ready = await socket.expect("ready")
    require(ready.get("ref") == "hello" and ready.get("user_id") == patient.id, f"ready is {ready}")
    again = await socket.request({"type": "auth", "token": patient.token}, "error")
    require(again["code"] == "already_authenticated", f"a second auth got {again['code']!r}")
    bad = await ctx.socket(None, "socket with a bad token")
    await bad.send({"type": "auth", "token": "not-a-real-token"})
    await _refused(bad, "invalid_token")
    rude = await ctx.socket(None, "socket that pings first")
    await rude.send({"type": "ping"})
    await _refused(rude, "not_authenticated")


async def auth_timeout(ctx: Context) -> None:
    """No `auth` within the auth timeout → `error` auth_timeout and close 4401 (not before it)."""
    limit = ctx.options.ws_auth_timeout
    started = time.monotonic()
    socket = await ctx.socket(None, "silent socket")
    await _refused(socket, "auth_timeout", within=limit + 5)
    waited = time.monotonic() - started
    require(waited >= limit - 0.5, f"closed after {waited:.1f} s, before the {limit:g} s a client is given")


async def origin(ctx: Context) -> None:
    """A foreign `Origin` is refused (HTTP 403, or close 4403); the server's own origin is served."""
    try:
        socket = await ctx.socket(None, "socket from a foreign origin", origin=FOREIGN_ORIGIN)
    except InvalidStatus as exc:
        status = exc.response.status_code
        require(status == 403, f"a foreign Origin got HTTP {status}, expected 403")
    else:
        code = await socket.closed()
        require(code == 4403, f"a foreign Origin was closed with {code}, expected 4403 (or HTTP 403)")
    own = await ctx.socket(None, "socket from the server's own origin", origin=ctx.origin)
    patient = await ctx.person("patient")
    await own.request({"type": "auth", "token": patient.token}, "ready")


async def bad_frames(ctx: Context) -> None:
    """Each bad frame gets its `error` (with the frame's `ref`) and the socket lives on; a frame
    over 64 KiB closes it with 1009."""
    patient = await ctx.person("patient")
    socket = await ctx.socket(patient, "patient socket")
    cases = (
        ("{not json", "malformed_json", None),
        (json.dumps({"type": "no.such.frame", "ref": "r-unknown"}), "unknown_type", "r-unknown"),
        (json.dumps({"type": "media.state", "room_id": "not-a-uuid", "audio": "yes", "video": True,
                     "ref": 7}), "invalid_frame", 7),
        (json.dumps([1, 2, 3]), "invalid_frame", None),
    )
    for text, code, ref in cases:
        await socket.send_raw(text)
        error = await socket.expect("error")  # errors come in order: each claims the next one
        require(error["code"] == code, f"{text[:40]!r} got error {error['code']!r}, expected {code!r}")
        require(error.get("ref") == ref, f"{text[:40]!r}: the error's ref is {error.get('ref')!r}, "
                                         f"not {ref!r}")
        await socket.request({"type": "ping"}, "pong")
    await socket.send_raw(b"\x00binary")
    binary = await socket.expect("error")
    require(binary["code"] == "binary_not_supported", f"a binary frame got {binary['code']!r}")
    await socket.request({"type": "ping"}, "pong")
    await socket.send_raw(json.dumps({"type": "ping", "ref": "big", "pad": "x" * (65 * 1024)}))
    try:
        code = await socket.closed()
    except CheckFailed:
        raise CheckFailed("a frame over 64 KiB did not close the socket") from None
    require(code == 1009, f"a frame over 64 KiB closed the socket with {code}, expected 1009")


CHECKS = (
    Check("ws.handshake", handshake, "auth → ready; bad token / other first frame → error + 4401"),
    Check("ws.auth-timeout", auth_timeout, "no auth in time → auth_timeout + 4401"),
    Check("ws.origin", origin, "foreign Origin refused (403/4403), own origin served"),
    Check("ws.bad-frames", bad_frames, "error frames with ref, socket lives; > 64 KiB closes 1009"),
)
