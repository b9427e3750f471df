"""The hub: room events held for a joiner until its join succeeds; a channel's subscription kept whole
while sockets come and go, and asked for again after it failed."""

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from televisit.realtime.broker import Subscription
from televisit.realtime.channels import room_channel, user_channel
from televisit.realtime.memory import MemoryBroker
from televisit.realtime.redis import RedisBroker
from televisit.signaling.connection import Connection, SessionTimes
from televisit.signaling.frames import BrokerCodec, ChatRead, RelayedSignal
from televisit.signaling.hub import Hub


def _conn(user_id: uuid.UUID) -> Connection:
    conn = Connection(websocket=Recorder(), queue_size=100, rate=100, burst=100)  # type: ignore[arg-type]
    now = datetime.now(UTC)
    conn.authenticated(user_id, uuid.uuid4(), SessionTimes(expires_at=now + timedelta(hours=1),
                                                           seen_at=now, active_at=now))
    return conn


class Recorder:
    def __init__(self) -> None:
        self.frames: list[dict] = []

    async def send_text(self, text: str) -> None:
        self.frames.append(json.loads(text))


async def _sent(conn: Connection) -> list[dict]:
    """What the socket was sent so far (the writer runs as soon as we yield)."""
    for _ in range(3):
        await asyncio.sleep(0)
    frames, conn.ws.frames = conn.ws.frames, []
    return frames


async def test_events_during_a_join_reach_the_joiner_after_it_joined():
    broker = MemoryBroker()
    hub = Hub(broker)
    room, doctor, patient = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    joiner = _conn(patient)
    await hub.watch_room(joiner, room)
    # The other side offers right after our join committed, before we entered the room.
    await broker.publish(room_channel(room), RelayedSignal(room_id=room, sender=str(doctor), data={"n": 1}))
    assert await _sent(joiner) == []
    await hub.enter_room(joiner, room)
    hub.flush_pending(joiner, room)
    await hub.unwatch_room(joiner, room)
    assert [f["data"] for f in await _sent(joiner)] == [{"n": 1}]
    await broker.publish(room_channel(room), RelayedSignal(room_id=room, sender=str(doctor), data={"n": 2}))
    assert [f["data"] for f in await _sent(joiner)] == [{"n": 2}]


async def test_a_refused_joiner_never_sees_the_rooms_events_and_the_channel_is_released():
    broker = MemoryBroker()
    hub = Hub(broker)
    room, doctor = uuid.uuid4(), uuid.uuid4()
    outsider = _conn(uuid.uuid4())
    await hub.watch_room(outsider, room)
    await broker.publish(room_channel(room), RelayedSignal(
        room_id=room, sender=str(doctor), data={"secret": True}))
    await hub.unwatch_room(outsider, room)  # the join was refused
    await broker.publish(room_channel(room), RelayedSignal(
        room_id=room, sender=str(doctor), data={"secret": True}))
    assert await _sent(outsider) == []
    assert room_channel(room) not in broker.local.handlers


async def test_a_users_sockets_coming_and_going_while_subscribing_leave_one_handler_then_none(redis_url):
    # A socket signs in and leaves while its user's channel is being subscribed, as another of the
    # user's sockets signs in: the channel gets one handler (each event reaches the socket once),
    # and none once the last socket leaves.
    broker, publisher = RedisBroker(redis_url, BrokerCodec()), RedisBroker(redis_url, BrokerCodec())
    await broker.start()
    await publisher.start()
    try:
        hub = Hub(broker)
        user = uuid.uuid4()
        first, second = _conn(user), _conn(user)
        arriving = asyncio.create_task(hub.add_user_connection(first))
        await asyncio.sleep(0)  # its SUBSCRIBE is on its way
        await asyncio.gather(arriving, hub.remove_connection(first), hub.add_user_connection(second))
        assert len(broker.local.handlers[user_channel(user)]) == 1

        for _ in range(250):  # until Redis has the subscription
            if dict(await publisher._client.pubsub_numsub(user_channel(user))).get(
                    user_channel(user).encode()):
                break
            await asyncio.sleep(0.02)
        read = ChatRead(appointment_id=uuid.uuid4(), reader_id=user, seq=1)
        await publisher.publish(user_channel(user), read)
        sent: list[dict] = []
        for _ in range(100):
            sent += await _sent(second)
            if sent:
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.1)  # a second copy would be on its heels
        sent += await _sent(second)
        assert [f["type"] for f in sent] == ["chat.read"]

        await hub.remove_connection(second)
        assert user_channel(user) not in broker.local.handlers
    finally:
        await broker.stop()
        await publisher.stop()


async def test_a_subscription_that_failed_is_asked_for_again_once_the_socket_is_gone():
    class FailsOnce(MemoryBroker):
        failed = False

        async def subscribe(self, channel: str, handler: Any) -> Subscription:
            if not self.failed:
                self.failed = True
                raise ConnectionError("the broker is unreachable")
            return await super().subscribe(channel, handler)

    broker = FailsOnce()
    hub = Hub(broker)
    user = uuid.uuid4()
    first = _conn(user)
    with pytest.raises(ConnectionError):
        await hub.add_user_connection(first)
    await hub.remove_connection(first)  # the socket's clean-up
    second = _conn(user)
    await hub.add_user_connection(second)
    await broker.publish(user_channel(user), ChatRead(appointment_id=uuid.uuid4(), reader_id=user, seq=1))
    assert [f["type"] for f in await _sent(second)] == ["chat.read"]
