"""The broker for these settings: Redis pub/sub for several instances, in-process for one."""

from __future__ import annotations

from televisit.realtime.broker import Broker, Codec
from televisit.realtime.memory import MemoryBroker


def create_broker(redis_url: str | None, codec: Codec | None = None) -> Broker:
    """``codec`` turns events into bytes for Redis (default: plain JSON objects)."""
    if redis_url:
        from televisit.realtime.redis import RedisBroker  # only deployments with Redis load redis-py

        return RedisBroker(redis_url, codec)
    return MemoryBroker()
