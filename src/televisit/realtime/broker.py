"""The broker protocol. Events are JSON objects; delivery is best effort (at most once).

Anything that must not be lost (chat) is stored in the database first and replayed by
sequence number, so a dropped pub/sub message only delays it.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Any

Event = dict[str, Any]
Handler = Callable[[str, Event], None]


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

