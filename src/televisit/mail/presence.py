"""When was a person last connected, on any instance: so "you have a new message" emails go only
to people who were not there to see the message arrive.

Each instance writes "seen now" for the people connected to it every PRESENCE_INTERVAL seconds
(mail/sender.py); a notice is skipped if its recipient was seen after its last message. With
Redis (several instances) the record is a key per person that expires after the longest a
notice can wait; alone, it is a dictionary in this instance. A person connected for less than
one interval after a message can still get the email: a harmless extra notice, never a missed one.
"""
from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime
from typing import Protocol

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

from televisit.core.config import Settings

PRESENCE_INTERVAL = 15.0
KEY_PREFIX = "televisit:presence:"


class Presence(Protocol):
    async def touch(self, user_ids: Collection[uuid.UUID], now: datetime) -> None: ...

    async def last_seen(self, user_id: uuid.UUID) -> datetime | None: ...

    async def close(self) -> None: ...


class LocalPresence:
    """One instance alone: what it saw is all there is."""

    def __init__(self) -> None:
        self._seen: dict[uuid.UUID, datetime] = {}

    async def touch(self, user_ids: Collection[uuid.UUID], now: datetime) -> None:
        for user_id in user_ids:
            self._seen[user_id] = now

    async def last_seen(self, user_id: uuid.UUID) -> datetime | None:
        return self._seen.get(user_id)

    async def close(self) -> None:
        self._seen.clear()


class RedisPresence:
    """Shared by every instance: `televisit:presence:<user id>` holds the last time seen."""

    def __init__(self, url: str, *, ttl_seconds: int) -> None:
        self._client = aioredis.Redis.from_url(
            url, socket_connect_timeout=2, socket_timeout=5,
            retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 2),
        )
        self._ttl = ttl_seconds

    async def touch(self, user_ids: Collection[uuid.UUID], now: datetime) -> None:
        if not user_ids:
            return
        async with self._client.pipeline(transaction=False) as pipe:
            for user_id in user_ids:
                pipe.set(f"{KEY_PREFIX}{user_id}", now.isoformat(), ex=self._ttl)
            await pipe.execute()

    async def last_seen(self, user_id: uuid.UUID) -> datetime | None:
        raw: bytes | str | None = await self._client.get(f"{KEY_PREFIX}{user_id}")
        if raw is None:
            return None
        return datetime.fromisoformat(raw.decode() if isinstance(raw, bytes) else raw)

    async def close(self) -> None:
        await self._client.aclose()


def create_presence(settings: Settings) -> Presence:
    if settings.redis_url:
        # Longer than a notice can wait to be sent, so "not seen" is never "forgotten".
        return RedisPresence(settings.redis_url, ttl_seconds=settings.mail_max_age + 3600)
    return LocalPresence()
