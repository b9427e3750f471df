"""A join in progress: room events are held for the joiner and given only if the join succeeds."""

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta

from televisit.realtime.channels import room_channel
from televisit.realtime.memory import MemoryBroker
from televisit.signaling.connection import Connection, SessionTimes
from televisit.signaling.frames import RelayedSignal
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
