"""The connection's state machine, its outbound queue and its rate limit, without a network."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from televisit.signaling.connection import Connection, ConnState, IllegalTransition, TokenBucket
from televisit.signaling.frames import Pong, ServerDraining

S = ConnState


class FakeSocket:
    """Enough of Starlette's WebSocket for the writer: records what was sent."""

    def __init__(self, *, block: bool = False) -> None:
        self.sent: list[dict[str, Any]] = []
        self.closed: tuple[int, str] | None = None
        self.gate = asyncio.Event()
        if not block:
            self.gate.set()

    async def send_text(self, text: str) -> None:
        await self.gate.wait()
        self.sent.append(json.loads(text))

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.closed = (code, reason)


def conn(socket: FakeSocket | None = None, *, queue_size: int = 10, rate: float = 50,
         burst: int = 200) -> Connection:
    return Connection(socket or FakeSocket(), queue_size=queue_size, rate=rate, burst=burst)  # type: ignore[arg-type]


def at(state: ConnState) -> Connection:
    c = conn()
    path = {S.AWAITING_AUTH: [], S.READY: [S.READY], S.CLOSING: [S.READY, S.CLOSING],
            S.CLOSED: [S.READY, S.CLOSING, S.CLOSED]}[state]
    for step in path:
        c.move(step)
    return c


LEGAL = {
    (S.AWAITING_AUTH, S.READY), (S.AWAITING_AUTH, S.CLOSING), (S.AWAITING_AUTH, S.CLOSED),
    (S.READY, S.CLOSING), (S.READY, S.CLOSED), (S.CLOSING, S.CLOSED),
}


@pytest.mark.parametrize("source", list(S))
@pytest.mark.parametrize("target", list(S))
async def test_only_forward_transitions_are_allowed(source, target):
    c = at(source)
    if (source, target) in LEGAL:
        c.move(target)
        assert c.state is target
    else:
        with pytest.raises(IllegalTransition):
            c.move(target)
        assert c.state is source


async def test_frames_are_written_in_order_then_the_close():
    socket = FakeSocket()
    c = conn(socket)
    c.move(S.READY)
    for i in range(5):
        c.send(Pong(ref=i))
    c.close(4401, "bye")
    assert c.state is S.CLOSING
    c.send(ServerDraining())  # dropped: the socket is closing
    await c.flushed(2)
    assert [m["ref"] for m in socket.sent] == [0, 1, 2, 3, 4]
    assert socket.closed == (4401, "bye")
    c.close(1000)  # idempotent
    assert socket.closed == (4401, "bye")


async def test_a_client_that_does_not_read_is_closed_as_too_slow():
    socket = FakeSocket(block=True)
    c = conn(socket, queue_size=10)
    c.move(S.READY)
    for i in range(12):  # one taken by the blocked writer, ten queued, one too many
        c.send(Pong(ref=i))
        await asyncio.sleep(0)
    assert c.state is S.CLOSING
    socket.gate.set()
    await c.flushed(2)
    assert socket.closed == (1013, "too slow")


async def test_send_paced_waits_for_room_instead_of_overflowing():
    socket = FakeSocket(block=True)
    c = conn(socket, queue_size=10)
    c.move(S.READY)

    async def replay() -> None:
        for i in range(50):
            await c.send_paced(Pong(ref=i))

    task = asyncio.create_task(replay())
    await asyncio.sleep(0.05)
    assert not task.done() and c.state is S.READY  # waiting, not closed
    c.send(ServerDraining())  # live events still fit beside the replay
    socket.gate.set()
    await asyncio.wait_for(task, 5)
    c.close(1000)
    await c.flushed(2)
    assert c.state is S.CLOSING and socket.closed == (1000, "")
    replayed = [m["ref"] for m in socket.sent if m["type"] == "pong"]
    assert replayed == list(range(50)) and {"type": "server.draining"} in socket.sent


async def test_send_paced_gives_up_on_a_reader_that_never_reads():
    socket = FakeSocket(block=True)
    c = conn(socket, queue_size=10)
    c.move(S.READY)
    for i in range(20):
        await c.send_paced(Pong(ref=i), timeout=0.1)
    assert c.state is S.CLOSING
    await c.stop_writer()


def test_token_bucket_allows_the_burst_then_the_rate(monkeypatch):
    now = [100.0]
    monkeypatch.setattr("televisit.signaling.connection.time.monotonic", lambda: now[0])
    bucket = TokenBucket(rate=10, burst=5)
    assert [bucket.take() for _ in range(6)] == [True] * 5 + [False]
    now[0] += 0.25  # two and a half tokens back
    assert [bucket.take(), bucket.take(), bucket.take()] == [True, True, False]
    now[0] += 60  # never more than the burst
    assert sum(bucket.take() for _ in range(10)) == 5
