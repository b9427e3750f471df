"""A sender streams messages while the receiver's socket is killed under it, again and again."""

from __future__ import annotations

import asyncio
from typing import Any

import websockets

from tests.fixtures.live import WSClient
from tests.signaling.helpers import Visit, abort, connect

WINDOW = 10  # chat.send frames in flight before the sender waits for their acks


class Receiver:
    """Holds messages by seq, as a client would; reconnects and syncs after every drop."""

    def __init__(self, url: str, visit: Visit) -> None:
        self.url, self.visit = url, visit
        self.held: dict[int, dict[str, Any]] = {}
        self.deliveries = 0
        self.connections = 0
        self.ws: WSClient | None = None
        self.connected = asyncio.Event()

    async def run(self, expected: int) -> None:
        while len(self.held) < expected:
            self.ws = await connect(self.url, self.visit.patient)
            self.connections += 1
            await self.ws.send({"type": "chat.sync", "appointment_id": self.visit.id,
                                "after_seq": max(self.held, default=0)})
            self.connected.set()
            try:
                while len(self.held) < expected:
                    frame = await self.ws.recv(timeout=10)
                    if frame["type"] == "chat.message":
                        self.deliveries += 1
                        self.held.setdefault(frame["message"]["seq"], frame["message"])
            except websockets.ConnectionClosed:
                self.connected.clear()
                continue
        await self.ws.close()

    async def kill(self) -> None:
        """Cut the current socket (no closing handshake) once it is up."""
        await asyncio.wait_for(self.connected.wait(), 10)
        self.connected.clear()
        assert self.ws is not None
        abort(self.ws)


async def stream_through_drops(visit: Visit, *, sender_url: str, receiver_url: str, n: int = 200,
                               kills: tuple[int, ...] = (30, 70, 110, 150)) -> None:
    sender = await connect(sender_url, visit.doctor)
    receiver = Receiver(receiver_url, visit)
    receiving = asyncio.create_task(receiver.run(n))
    await asyncio.wait_for(receiver.connected.wait(), 10)
    acks: dict[int, int] = {}
    for start in range(0, n, WINDOW):
        for i in range(start, min(start + WINDOW, n)):
            if i in kills:
                await receiver.kill()
            await sender.send({"type": "chat.send", "appointment_id": visit.id,
                               "client_msg_id": f"s-{i}", "body": f"message {i}"})
        while len(acks) < min(start + WINDOW, n):
            ack = await sender.expect("chat.ack")
            acks[int(ack["client_msg_id"].removeprefix("s-"))] = ack["seq"]
    await asyncio.wait_for(receiving, 30)
    await sender.close()

    # Every seq exactly once (after dedupe by seq), in the order it was sent.
    assert sorted(receiver.held) == list(range(1, n + 1))
    assert [receiver.held[s]["body"] for s in sorted(receiver.held)] == [f"message {i}" for i in range(n)]
    assert [acks[i] for i in range(n)] == list(range(1, n + 1))
    assert receiver.connections == len(kills) + 1
    assert receiver.deliveries >= n  # at-least-once on the wire; dedupe made it exactly once
