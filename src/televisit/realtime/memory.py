"""The in-process broker, for one instance alone (the default)."""

from __future__ import annotations

from collections import defaultdict

import structlog

from televisit.realtime.broker import Broker, Event, Handler, Subscription

log = structlog.get_logger("televisit.broker")


class _Local:
    """Channel → handlers, shared by both brokers for fan-out inside one instance."""

    def __init__(self) -> None:
        self.handlers: dict[str, set[Handler]] = defaultdict(set)

    def add(self, channel: str, handler: Handler) -> bool:
        """Register; True when this is the channel's first handler."""
        first = not self.handlers.get(channel)
        self.handlers[channel].add(handler)
        return first

    def remove(self, channel: str, handler: Handler) -> bool:
        """Unregister; True when the channel has no handler left."""
        handlers = self.handlers.get(channel)
        if not handlers:
            return False
        handlers.discard(handler)
        if handlers:
            return False
        del self.handlers[channel]
        return True

    def dispatch(self, channel: str, event: Event) -> None:
        for handler in list(self.handlers.get(channel, ())):
            try:
                handler(channel, event)
            except Exception:
                log.exception("broker_handler_failed", channel=channel)


class _LocalSubscription(Subscription):
    def __init__(self, broker: MemoryBroker, channel: str, handler: Handler) -> None:
        self._broker, self._channel, self._handler = broker, channel, handler
        self._closed = False

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._broker.local.remove(self._channel, self._handler)


class MemoryBroker(Broker):
    def __init__(self) -> None:
        self.local = _Local()

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        self.local.handlers.clear()

    async def publish(self, channel: str, event: Event) -> None:
        # Handed over as is: events are built from JSON-safe values (the Redis broker's tests
        # prove they serialize), and handlers never mutate them.
        self.local.dispatch(channel, event)

    async def subscribe(self, channel: str, handler: Handler) -> Subscription:
        self.local.add(channel, handler)
        return _LocalSubscription(self, channel, handler)

    async def ping(self) -> bool:
        return True
