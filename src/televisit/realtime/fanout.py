"""Channel → handlers inside one instance: the fan-out both brokers share."""

from __future__ import annotations

from collections import defaultdict

import structlog

from televisit.realtime.broker import Event, Handler

log = structlog.get_logger("televisit.broker")


class LocalFanout:
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
