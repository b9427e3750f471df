"""Publish committed events through the broker; a failure is logged, never raised to the client."""

from __future__ import annotations

import structlog

from televisit.realtime.broker import Broker, Event
from televisit.realtime.events import Publisher

log = structlog.get_logger("televisit.broker")


def make_publisher(broker: Broker) -> Publisher:
    async def publish(events: list[tuple[str, Event]]) -> None:
        for channel, event in events:
            try:
                await broker.publish(channel, event)
            except Exception:
                log.warning("publish_failed", channel=channel, event_type=getattr(event, "type", None),
                            exc_info=True)

    return publish
