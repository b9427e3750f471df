"""The broker protocol. Delivery is best effort (at most once).

Events are the app's typed broker events (`signaling.frames.BrokerEvent`); the broker itself does
not look inside them. In one process they are handed over as they are; across Redis a codec turns
them into bytes and back.

Anything that must not be lost (chat) is stored in the database first and replayed by
sequence number, so a dropped pub/sub message only delays it.
"""

from __future__ import annotations

import abc
import json
from collections.abc import Callable
from typing import Any, Protocol

Event = Any
Handler = Callable[[str, Event], None]


class Codec(Protocol):
    def encode(self, event: Event) -> bytes: ...

    def decode(self, data: bytes | str) -> Event: ...


class JsonCodec:
    """Plain JSON objects: for tools and tests that speak to a broker without the app's models."""

    @staticmethod
    def encode(event: Event) -> bytes:
        return json.dumps(event, separators=(",", ":")).encode()

    @staticmethod
    def decode(data: bytes | str) -> Event:
        return json.loads(data)


class Subscription(abc.ABC):
    @abc.abstractmethod
    async def close(self) -> None:
        """Stop delivering to this handler (idempotent)."""


class Broker(abc.ABC):
    """Publish/subscribe between app instances.

    Handlers must be quick, must not block, and must not mutate the event (the in-process
    broker hands every handler the publisher's own dict).
    """

    @abc.abstractmethod
    async def start(self) -> None: ...

    @abc.abstractmethod
    async def stop(self) -> None: ...

    @abc.abstractmethod
    async def publish(self, channel: str, event: Event) -> None: ...

    @abc.abstractmethod
    async def subscribe(self, channel: str, handler: Handler) -> Subscription: ...

    @abc.abstractmethod
    async def ping(self) -> bool:
        """True when events can flow (for readiness)."""

    def on_recovered(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` when the broker comes back after an outage in which events published
        elsewhere may have been lost here. The in-process broker never loses any."""
        return None

