"""Both brokers: delivery, fan-out, unsubscribe, a failing handler; Redis across instances."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis

from televisit.realtime.broker import Broker
from televisit.realtime.factory import create_broker
from televisit.realtime.memory import MemoryBroker
from televisit.realtime.publisher import make_publisher
from televisit.realtime.redis import RedisBroker
from tests.fixtures.cluster import reachable_redis, wait_for


class Inbox:
    """A handler that records what it got."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, channel: str, event: dict[str, Any]) -> None:
        self.events.append((channel, event))

    @property
    def bodies(self) -> list[Any]:
        return [e.get("n") for _, e in self.events]


def channel() -> str:
    return f"test:{uuid.uuid4()}"


@contextlib.asynccontextmanager
async def started(broker: Broker) -> AsyncIterator[Broker]:
    await broker.start()
    try:
        yield broker
    finally:
        await broker.stop()


@pytest.fixture(params=["memory", "redis"])
async def make(request: pytest.FixtureRequest) -> AsyncIterator[Callable[[], Any]]:
    """Brokers of one kind as several instances see them: every Redis one is a new client of the
    shared server; the in-process one is the same broker (one process has one)."""
    url = await reachable_redis() if request.param == "redis" else None
    memory = MemoryBroker()
    async with contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(started(memory))

        async def new() -> Broker:
            if url is None:
                return memory
            return await stack.enter_async_context(started(create_broker(url)))

        yield new



async def subscribed(broker: Broker, *channels: str) -> None:
    """Wait until Redis knows about the subscriptions (SUBSCRIBE is answered asynchronously)."""
    if not isinstance(broker, RedisBroker):
        return
    client = broker._client
    for name in channels:
        for _ in range(250):
            counts = dict(await client.pubsub_numsub(name))
            if counts.get(name.encode(), 0) >= 1:
                break
            await asyncio.sleep(0.02)
        else:
            raise AssertionError(f"{name} never subscribed")


async def test_delivers_in_order_to_every_handler_of_the_channel_only(make):
    broker = await make()
    a, b, elsewhere = Inbox(), Inbox(), Inbox()
    ch, other = channel(), channel()
    await broker.subscribe(ch, a)
    await broker.subscribe(ch, b)
    await broker.subscribe(other, elsewhere)
    await subscribed(broker, ch, other)
    for n in range(20):
        await broker.publish(ch, {"type": "t", "n": n})
    await broker.publish(other, {"type": "t", "n": "x"})
    await wait_for(lambda: len(a.events) == 20 and len(b.events) == 20 and elsewhere.events)
    assert a.bodies == b.bodies == list(range(20))
    assert {c for c, _ in a.events} == {ch}
    assert elsewhere.bodies == ["x"]
    assert await broker.ping() is True


async def test_events_arrive_as_published(make):
    broker = await make()
    inbox = Inbox()
    ch = channel()
    await broker.subscribe(ch, inbox)
    await subscribed(broker, ch)
    event = {"type": "t", "n": 1, "nested": {"list": [1, "two", None]}, "id": str(uuid.uuid4())}
    await broker.publish(ch, event)
    await wait_for(lambda: inbox.events)
    got = inbox.events[0][1]
    assert got == event  # handlers must not mutate it: in-process, it is the same object


async def test_closing_a_subscription_stops_that_handler_only(make):
    broker = await make()
    gone, stays, marker = Inbox(), Inbox(), Inbox()
    ch, mark = channel(), channel()
    sub = await broker.subscribe(ch, gone)
    await broker.subscribe(ch, stays)
    await broker.subscribe(mark, marker)
    await subscribed(broker, ch, mark)
    await broker.publish(ch, {"n": 1})
    await wait_for(lambda: len(gone.events) == 1 and len(stays.events) == 1)
    await sub.close()
    await sub.close()  # idempotent
    await broker.publish(ch, {"n": 2})
    await broker.publish(mark, {"n": "after"})  # arrives after the one above
    await wait_for(lambda: marker.events and len(stays.events) == 2)
    assert gone.bodies == [1] and stays.bodies == [1, 2]


async def test_a_failing_handler_does_not_stop_the_others(make):
    broker = await make()
    before, after = Inbox(), Inbox()
    calls: list[int] = []

    def broken(_channel: str, event: dict[str, Any]) -> None:
        calls.append(event["n"])
        raise RuntimeError("handler bug")

    ch = channel()
    await broker.subscribe(ch, before)
    await broker.subscribe(ch, broken)
    await broker.subscribe(ch, after)
    await subscribed(broker, ch)
    for n in range(3):
        await broker.publish(ch, {"n": n})
    await wait_for(lambda: len(before.events) == 3 and len(after.events) == 3)
    assert calls == [0, 1, 2]  # and the broker's reader is still alive for the next event
    await broker.publish(ch, {"n": 3})
    await wait_for(lambda: len(after.events) == 4)


async def test_nothing_is_delivered_after_stop(make):
    broker = await make()
    inbox, witness = Inbox(), Inbox()
    ch = channel()
    await broker.subscribe(ch, inbox)
    await subscribed(broker, ch)
    await broker.stop()
    publisher = await make()  # another instance, still running
    await publisher.subscribe(ch, witness)
    await subscribed(publisher, ch)
    await publisher.publish(ch, {"n": 1})
    await wait_for(lambda: witness.events)
    assert inbox.events == []


async def test_redis_carries_events_between_two_instances(redis_url):
    async with started(RedisBroker(redis_url)) as a, started(RedisBroker(redis_url)) as b:
        at_a, at_b = Inbox(), Inbox()
        ch = channel()
        await a.subscribe(ch, at_a)
        await b.subscribe(ch, at_b)
        await subscribed(a, ch)
        await subscribed(b, ch)
        await a.publish(ch, {"n": "from a"})
        await b.publish(ch, {"n": "from b"})
        await wait_for(lambda: len(at_a.events) == 2 and len(at_b.events) == 2)
        assert at_a.bodies == at_b.bodies == ["from a", "from b"]


async def test_redis_reader_resubscribes_after_its_connection_is_killed(redis_url):
    async with started(RedisBroker(redis_url)) as a, started(RedisBroker(redis_url)) as b:
        inbox = Inbox()
        ch = channel()
        await a.subscribe(ch, inbox)
        await subscribed(a, ch)
        # Kill exactly a's subscriber connection, as a Redis restart or a network cut would.
        sock = a._pubsub.connection._writer.get_extra_info("sockname")  # type: ignore[union-attr]
        admin = aioredis.Redis.from_url(redis_url)
        try:
            assert await admin.client_kill(f"{sock[0]}:{sock[1]}")
        finally:
            await admin.aclose()
        n = 0

        async def delivered() -> bool:
            nonlocal n
            n += 1
            await b.publish(ch, {"n": n})
            await asyncio.sleep(0.05)
            return bool(inbox.events)

        for _ in range(200):  # bounded: the reader backs off at most 2 s between attempts
            if await delivered():
                break
        assert inbox.events, "never resubscribed"


async def test_publisher_never_raises_to_the_caller():
    class Down(MemoryBroker):
        async def publish(self, channel: str, event: dict[str, Any]) -> None:
            raise ConnectionError("down")

    publish = make_publisher(Down())
    await publish([("user:1", {"type": "x"}), ("user:2", {"type": "y"})])  # logged, not raised


async def test_redis_ping_is_false_when_redis_is_unreachable():
    broker = RedisBroker("redis://127.0.0.1:1/0")
    try:
        assert await broker.ping() is False
    finally:
        await broker.stop()


class FlakyProxy:
    """A TCP proxy to Redis that can go down (dropping every connection, refusing new ones)."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.down = False
        self.writers: set[asyncio.StreamWriter] = set()
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.down:
            writer.transport.abort()
            return
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self.writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.IncompleteReadError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.transport.abort()

        with contextlib.suppress(asyncio.CancelledError):  # the proxy is being shut down
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def cut(self) -> None:
        self.down = True
        for w in self.writers:
            w.transport.abort()
        self.writers.clear()

    async def stop(self) -> None:
        self.cut()
        assert self.server is not None
        self.server.close()


async def test_redis_broker_recovers_after_an_outage(redis_url):
    host, port = redis_url.split("//")[1].split("/")[0].split(":")
    proxy = FlakyProxy((host, int(port)))
    proxy_port = await proxy.start()
    try:
        async with started(RedisBroker(f"redis://127.0.0.1:{proxy_port}/0")) as a, \
                started(RedisBroker(redis_url)) as b:
            inbox = Inbox()
            ch = channel()
            await a.subscribe(ch, inbox)
            await subscribed(a, ch)
            await b.publish(ch, {"n": 0})
            await wait_for(lambda: inbox.events)

            proxy.cut()  # Redis is unreachable for a while (a restart, a network partition)
            await asyncio.sleep(1.5)  # an outage: the reader notices, retries and fails meanwhile
            proxy.down = False
            for n in range(1, 400):  # bounded: reconnect backoff is at most 2 s
                await b.publish(ch, {"n": n})
                await asyncio.sleep(0.025)
                if len(inbox.events) > 1:
                    break
            assert len(inbox.events) > 1, "the broker never came back after the outage"
            # The first command on a pooled connection that died in the outage is retried.
            await a.publish(ch, {"n": "from a"})
            await wait_for(lambda: inbox.events[-1][1]["n"] == "from a")
            assert await a.ping() is True
    finally:
        await proxy.stop()


async def test_redis_publishes_made_together_all_arrive_in_the_order_they_were_made(redis_url):
    # Publishes waiting while one is on its way leave in one pipeline; each call still returns
    # only once Redis has its event.
    async with started(RedisBroker(redis_url)) as a, started(RedisBroker(redis_url)) as b:
        inbox = Inbox()
        ch = channel()
        await b.subscribe(ch, inbox)
        await subscribed(b, ch)
        await asyncio.gather(*(a.publish(ch, {"n": n}) for n in range(300)))
        await wait_for(lambda: len(inbox.events) == 300)
        assert inbox.bodies == list(range(300))


async def test_redis_publish_raises_to_every_caller_when_redis_is_unreachable():
    broker = RedisBroker("redis://127.0.0.1:1/0")
    try:
        results = await asyncio.gather(*(broker.publish("test:x", {"n": n}) for n in range(5)),
                                       return_exceptions=True)
        assert all(isinstance(r, Exception) for r in results), results
    finally:
        await broker.stop()


def count_commands(broker: RedisBroker) -> list[str]:
    """The commands the broker's subscriber connection is asked to send, by name (a spy: the
    commands still go to Redis)."""
    sent: list[str] = []
    real = broker._pubsub.execute_command

    async def spy(*args: Any) -> None:
        sent.append(str(args[0]))
        await real(*args)

    broker._pubsub.execute_command = spy  # type: ignore[method-assign]
    return sent


async def numsub(client: aioredis.Redis, name: str) -> int:
    return int(dict(await client.pubsub_numsub(name)).get(name.encode(), 0))


async def test_redis_subscriptions_made_together_leave_together_and_each_one_delivers(redis_url):
    # Sockets signing in together after a restart: their subscriptions share a SUBSCRIBE, and
    # each call still returns only once its channel's is written.
    async with started(RedisBroker(redis_url)) as a, started(RedisBroker(redis_url)) as b:
        sent = count_commands(a)  # type: ignore[arg-type]
        inboxes = {channel(): Inbox() for _ in range(100)}
        subs = await asyncio.gather(*(a.subscribe(ch, inbox) for ch, inbox in inboxes.items()))
        assert 1 <= sent.count("SUBSCRIBE") <= 2, sent  # the first alone, the others behind it
        await subscribed(a, *inboxes)
        for ch in inboxes:
            await b.publish(ch, {"n": ch})
        await wait_for(lambda: all(inbox.bodies == [ch] for ch, inbox in inboxes.items()))

        await asyncio.gather(*(sub.close() for sub in subs[:50]))
        assert 1 <= sent.count("UNSUBSCRIBE") <= 2, sent
        closed = list(inboxes)[:50]
        await wait_for_async(lambda: _none_subscribed(a, closed))
        for ch in inboxes:
            await b.publish(ch, {"n": "again"})
        await wait_for(lambda: all(inbox.bodies == [ch, "again"] for ch, inbox in list(inboxes.items())[50:]))
        assert all(inboxes[ch].bodies == [ch] for ch in closed)


async def _none_subscribed(broker: Broker, channels: list[str]) -> bool:
    client = broker._client  # type: ignore[attr-defined]
    return all([await numsub(client, ch) == 0 for ch in channels])


async def wait_for_async(check: Callable[[], Any], timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_redis_a_channel_closed_and_asked_for_again_meanwhile_stays_subscribed(redis_url):
    async with started(RedisBroker(redis_url)) as a, started(RedisBroker(redis_url)) as b:
        first, second = Inbox(), Inbox()
        ch = channel()
        sub = await a.subscribe(ch, first)
        await subscribed(a, ch)
        # The last socket on the channel leaves as another arrives, in one batch of changes.
        _closed, _again = await asyncio.gather(sub.close(), a.subscribe(ch, second))
        await b.publish(ch, {"n": 1})
        await wait_for(lambda: second.events)
        assert first.events == []
        assert await numsub(a._client, ch) == 1  # type: ignore[attr-defined]


async def test_redis_a_subscriber_cancelled_while_waiting_does_not_cancel_the_others(redis_url):
    async with started(RedisBroker(redis_url)) as a, started(RedisBroker(redis_url)) as b:
        inboxes = {channel(): Inbox() for _ in range(10)}
        tasks = [asyncio.create_task(a.subscribe(ch, inbox)) for ch, inbox in inboxes.items()]
        await asyncio.sleep(0)  # every one waits for the changes to be written
        tasks[3].cancel()  # a socket closed while it signed in
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert isinstance(results[3], asyncio.CancelledError)
        assert sum(isinstance(r, BaseException) for r in results) == 1
        await subscribed(a, *(ch for i, ch in enumerate(inboxes) if i != 3))
        for ch in inboxes:
            await b.publish(ch, {"n": ch})
        await wait_for(lambda: all(inbox.bodies == [ch] for i, (ch, inbox) in enumerate(inboxes.items())
                                   if i != 3))
