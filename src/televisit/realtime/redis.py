"""Redis pub/sub broker: one subscriber connection per instance, fanned out locally."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis
import structlog
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import RedisError

from televisit.realtime.broker import Broker, Codec, Event, Handler, JsonCodec, Subscription
from televisit.realtime.fanout import LocalFanout

log = structlog.get_logger("televisit.broker")


class _RedisSubscription(Subscription):
    def __init__(self, broker: RedisBroker, channel: str, handler: Handler) -> None:
        self._broker, self._channel, self._handler = broker, channel, handler
        self._closed = False

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            await self._broker._unsubscribe(self._channel, self._handler)


def _settle(batch: list[tuple[str, bytes, asyncio.Future[None]]], error: BaseException | None) -> None:
    for _channel, _data, done in batch:
        if not done.done():
            if error is None:
                done.set_result(None)
            else:
                done.set_exception(error)


class RedisBroker(Broker):
    def __init__(self, url: str, codec: Codec | None = None) -> None:
        self._codec: Codec = codec or JsonCodec()
        self._client = aioredis.Redis.from_url(
            url, socket_connect_timeout=2, socket_timeout=5, health_check_interval=15,
            # A pooled connection that died while Redis restarted fails once; retry on a new one.
            retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 2),
        )
        self._pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        self.local = LocalFanout()
        self._reader: asyncio.Task[None] | None = None
        # Held by whoever changes the subscriber connection's channels: the task sending the
        # queued changes, or the reader rebuilding the connection. Never by a socket.
        self._lock = asyncio.Lock()
        # Channels whose subscription may differ from what the subscriber connection was asked
        # for, the future the callers waiting on them share, and the task that sends them
        # (see subscribe).
        self._changed: set[str] = set()
        self._changes_sent: asyncio.Future[None] | None = None
        self._syncer: asyncio.Task[None] | None = None
        # The channels the current subscriber connection was asked to subscribe.
        self._on_redis: set[str] = set()
        # The subscriber connection lost (or never got) some subscriptions: rebuild it.
        self._stale = False
        self._recovered: list[Callable[[], None]] = []
        # Publishes waiting for the next pipeline, and the task that sends them (see publish).
        self._outbox: list[tuple[str, bytes, asyncio.Future[None]]] = []
        self._sender: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._reader = asyncio.create_task(self._read_loop(), name="redis-broker-reader")

    async def stop(self) -> None:
        for task in (self._reader, self._sender, self._syncer):
            if task:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        with contextlib.suppress(RedisError, OSError):
            await self._pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
        await self._client.aclose()

    async def publish(self, channel: str, event: Event) -> None:
        """Returns once Redis has the event (or raises its error), like one PUBLISH.

        Publishes made while others are on their way leave together in one pipeline: one write and
        one read of the replies for the lot. Each PUBLISH on its own cost about 60-75 µs of
        redis-py's CPU, as much as the rest of relaying a signal (bench/signaling.py --instances 2,
        docs/benchmarks.md); under load most of it is shared.
        """
        done = asyncio.get_running_loop().create_future()
        self._outbox.append((channel, self._codec.encode(event), done))
        if self._sender is None:
            self._sender = asyncio.get_running_loop().create_task(self._send_outbox())
        await done

    async def _send_outbox(self) -> None:
        batch: list[tuple[str, bytes, asyncio.Future[None]]] = []
        try:
            while self._outbox:
                batch, self._outbox = self._outbox, []
                try:
                    if len(batch) == 1:
                        await self._client.publish(batch[0][0], batch[0][1])
                    else:
                        pipe = self._client.pipeline(transaction=False)
                        for channel, data, _done in batch:
                            pipe.publish(channel, data)
                        await pipe.execute()
                except Exception as exc:  # each publisher gets the error, as from its own PUBLISH
                    _settle(batch, exc)
                else:
                    _settle(batch, None)
        finally:
            self._sender = None
            # Stopped meanwhile: nobody waits for ever.
            _settle(batch + self._outbox, RedisError("the broker stopped"))
            self._outbox = []

    async def subscribe(self, channel: str, handler: Handler) -> Subscription:
        """Returns once the SUBSCRIBE is written to Redis (or has failed, and the reader will
        subscribe every channel again once Redis is back).

        Subscriptions and unsubscriptions made while others are on their way leave together, one
        SUBSCRIBE and one UNSUBSCRIBE for the lot, sent by one task. One at a time behind a lock,
        each caller waited a turn of the event loop for every caller before it: in a busy
        instance, sockets signing in after a restart queued for seconds there (docs/benchmarks.md,
        "What 200 pairs and 200 requests/s ask of 2 cores").
        """
        self.local.add(channel, handler)
        if channel not in self._on_redis or channel in self._changed:
            await self._sync(channel)
        return _RedisSubscription(self, channel, handler)

    async def _unsubscribe(self, channel: str, handler: Handler) -> None:
        if self.local.remove(channel, handler):
            await self._sync(channel)

    async def _sync(self, channel: str) -> None:
        """Have the subscriber connection follow the handlers' wish for ``channel``, with the
        other changes waiting; return once they are written."""
        self._changed.add(channel)
        loop = asyncio.get_running_loop()
        if self._changes_sent is None:
            self._changes_sent = loop.create_future()
        sent = self._changes_sent
        if self._syncer is None:
            self._syncer = loop.create_task(self._send_changes(), name="redis-broker-subscriber")
        # Shared by every caller in the batch: one caller cancelled must not cancel the others.
        await asyncio.shield(sent)

    async def _send_changes(self) -> None:
        try:
            while self._changed:
                async with self._lock:
                    changed, self._changed = self._changed, set()
                    sent, self._changes_sent = self._changes_sent, None
                    wanted = self.local.handlers
                    add = [c for c in changed if c in wanted and c not in self._on_redis]
                    drop = [c for c in changed if c not in wanted and c in self._on_redis]
                    try:
                        if add:
                            await self._pubsub.subscribe(*add)
                            self._on_redis.update(add)
                        if drop:
                            self._on_redis.difference_update(drop)
                            await self._pubsub.unsubscribe(*drop)
                    except (RedisError, OSError):
                        # The reader subscribes every wanted channel again once Redis is back.
                        log.warning("redis_subscribe_failed", channels=len(add) + len(drop))
                        self._stale = True
                    finally:
                        if sent is not None and not sent.done():
                            sent.set_result(None)
        finally:
            self._syncer = None
            # Stopped meanwhile: nobody waits for ever (the reader resubscribes on a restart).
            if self._changes_sent is not None and not self._changes_sent.done():
                self._changes_sent.set_result(None)
            self._changes_sent = None

    async def ping(self) -> bool:
        """Redis answers, and the subscriber connection is up again after any error.

        A PING alone turns true while the reader is still backing off: events published then
        are lost to this instance's sockets, so it is not ready yet.
        """
        try:
            return bool(await self._client.ping()) and not self._stale
        except (RedisError, OSError):
            return False

    async def _read_loop(self) -> None:
        backoff = 0.1
        while True:
            try:
                if self._stale or (not self._pubsub.subscribed and self.local.handlers
                                   and self._syncer is None and not self._lock.locked()):
                    # After an error, or channels wanted but none subscribed (Redis was down
                    # when they were asked for): a fresh connection subscribed to all of them.
                    lost_events = self._stale
                    await self._resubscribe()
                    if lost_events:  # before the first event of the new connection is read
                        self._notify_recovered()
                if not self._pubsub.subscribed:
                    await asyncio.sleep(0.05)
                    continue
                message = await self._pubsub.get_message(timeout=1.0)
                backoff = 0.1
            except (RedisError, OSError) as exc:
                log.warning("redis_pubsub_error", error=str(exc), retry_in=backoff)
                self._stale = True  # retried (with backoff) until Redis answers again
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
                continue
            if message and message.get("type") == "message":
                self._dispatch(message)

    def on_recovered(self, callback: Callable[[], None]) -> None:
        self._recovered.append(callback)

    def _notify_recovered(self) -> None:
        log.warning("redis_recovered", listeners=len(self._recovered))
        for callback in self._recovered:
            try:
                callback()
            except Exception:
                log.exception("redis_recovered_callback_failed")

    def _dispatch(self, message: dict[str, Any]) -> None:
        channel = message["channel"]
        channel = channel.decode() if isinstance(channel, bytes) else channel
        try:
            event = self._codec.decode(message["data"])
        except ValueError:  # not JSON, or not one of our events (pydantic's errors are ValueErrors)
            log.warning("redis_bad_event", channel=channel)
            return
        self.local.dispatch(channel, event)

    async def _resubscribe(self) -> None:
        """Replace the subscriber connection with one subscribed to every channel wanted here.

        Raises when Redis is still unreachable; the reader then backs off and calls it again.
        """
        async with self._lock:
            channels = list(self.local.handlers)
            with contextlib.suppress(RedisError, OSError):
                await self._pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
            self._pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            self._on_redis = set()
            if channels:
                await self._pubsub.subscribe(*channels)
            self._on_redis = set(channels)
            self._stale = False
