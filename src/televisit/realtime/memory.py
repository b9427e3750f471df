"""The in-process broker, for one instance alone (the default)."""

from __future__ import annotations

from televisit.realtime.broker import Broker, Event, Handler, Subscription
from televisit.realtime.fanout import LocalFanout


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
        self.local = LocalFanout()

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        self.local.handlers.clear()

    async def publish(self, channel: str, event: Event) -> None:
        # Handed over as is: the app's events are frozen models, and handlers never mutate them.
        self.local.dispatch(channel, event)

    async def subscribe(self, channel: str, handler: Handler) -> Subscription:
        self.local.add(channel, handler)
        return _LocalSubscription(self, channel, handler)

    async def ping(self) -> bool:
        return True
