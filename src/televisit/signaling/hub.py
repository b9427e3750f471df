"""This instance's sockets, by user and by room, fed from the broker's `user:` and `room:` channels."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import uuid
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import structlog

from televisit.realtime.broker import Broker, Subscription
from televisit.realtime.channels import room_channel, user_channel
from televisit.signaling import frames as f
from televisit.signaling.connection import Connection

log = structlog.get_logger("televisit.ws")


def end_session(conn: Connection, reason: f.SessionEndReason) -> None:
    """Tell the socket why its session ended, then close it (4401)."""
    conn.send(f.SessionEnded(reason=reason))
    conn.close(4401, "session ended")


def concerns_scope(conn: Connection, event: f.BrokerEvent) -> bool:
    """Whether a socket of a session scoped to one visit (opened from its join link) may hear this
    event of its user's channel: only what is about that visit (its ringing, updates, messages,
    and its rooms' ends). An event that names no visit is withheld. Rooms the visit rings or
    reports become known to the socket, so their later events (answered elsewhere, ended) pass."""
    match event:
        case f.SessionRevoked() | f.SessionsEnded():
            return True
        case f.CallIncoming(appointment_id=visit, room_id=room):
            if visit == conn.scope:
                conn.scope_rooms.add(room)
            return visit == conn.scope
        case f.AppointmentUpdated(appointment=appointment) | f.AppointmentCreated(appointment=appointment):
            if appointment.id == conn.scope and appointment.room_id is not None:
                conn.scope_rooms.add(appointment.room_id)
            return appointment.id == conn.scope
        case f.ChatMessage(message=message):
            return message.appointment_id == conn.scope
        case f.ChatRead(appointment_id=visit):
            return visit == conn.scope
        case f.RoomEnded(room_id=room) | f.ExceptConnection(frame=f.CallAnswered(room_id=room)):
            return room in conn.scope_rooms or room in conn.rooms
    named = getattr(event, "appointment_id", None)  # frames added later that name their visit
    return isinstance(named, uuid.UUID) and named == conn.scope


class Hub:
    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.connections: dict[str, Connection] = {}
        self.by_user: dict[uuid.UUID, set[Connection]] = defaultdict(set)
        self.by_room: dict[uuid.UUID, set[Connection]] = defaultdict(set)
        # Open sockets per client address, authenticated or not (the per-address cap).
        self.by_address: dict[str, int] = {}
        # A channel's subscription from the moment it is asked for: a second socket needing the
        # channel while the first one's SUBSCRIBE is on its way waits for it, and a socket leaving
        # meanwhile closes it once made (neither a second handler nor a forgotten subscription).
        self._subs: dict[str, asyncio.Future[Subscription]] = {}
        self._closing: dict[str, asyncio.Future[None]] = {}
        self._tasks: set[asyncio.Task[object]] = set()
        # Joins in progress: the room channel is subscribed before the join commits and its
        # events are held for the joining socket, delivered only if the join succeeds. So
        # nothing another instance publishes right after our commit slips past, and a refused
        # joiner never sees anything.
        self._pending: dict[uuid.UUID, dict[str, tuple[Connection, list[f.BrokerEvent]]]] = defaultdict(dict)

    # -- registry ---------------------------------------------------------------------------
    def admit_address(self, conn: Connection, limit: int) -> bool:
        """Count a new socket against its address; False (not counted) when the address is full."""
        if self.by_address.get(conn.address, 0) >= limit:
            return False
        self.by_address[conn.address] = self.by_address.get(conn.address, 0) + 1
        return True

    def release_address(self, conn: Connection) -> None:
        left = self.by_address.get(conn.address, 0) - 1
        if left > 0:
            self.by_address[conn.address] = left
        else:
            self.by_address.pop(conn.address, None)

    def user_count(self, user_id: uuid.UUID) -> int:
        users = self.by_user.get(user_id)
        return len(users) if users is not None else 0

    async def add_user_connection(self, conn: Connection) -> None:
        if conn.user_id is None:
            raise RuntimeError("only authenticated connections are registered")
        self.connections[conn.id] = conn
        first = not self.by_user[conn.user_id]
        self.by_user[conn.user_id].add(conn)
        if first:
            await self._subscribe(user_channel(conn.user_id),
                                  functools.partial(self._on_user_event, conn.user_id))

    async def remove_connection(self, conn: Connection) -> list[uuid.UUID]:
        """Forget a socket; returns the rooms it was in (the caller records the leave)."""
        self.connections.pop(conn.id, None)
        rooms = list(conn.rooms)
        for room_id in rooms:
            await self.leave_room(conn, room_id)
        if conn.user_id is not None:
            users = self.by_user.get(conn.user_id)
            if users is not None:
                users.discard(conn)
                if not users:
                    del self.by_user[conn.user_id]
                    await self._unsubscribe(user_channel(conn.user_id))
        return rooms

    async def enter_room(self, conn: Connection, room_id: uuid.UUID) -> None:
        conn.rooms.add(room_id)
        first = not self.by_room[room_id]
        self.by_room[room_id].add(conn)
        if first:
            await self._subscribe(room_channel(room_id), functools.partial(self._on_room_event, room_id))

    async def leave_room(self, conn: Connection, room_id: uuid.UUID) -> None:
        if self._forget_member(conn, room_id):
            await self._release_room(room_id)

    async def watch_room(self, conn: Connection, room_id: uuid.UUID) -> None:
        """Before a join: subscribe, and hold the room's events for this socket."""
        self._pending[room_id][conn.id] = (conn, [])
        await self._subscribe(room_channel(room_id), functools.partial(self._on_room_event, room_id))

    def flush_pending(self, conn: Connection, room_id: uuid.UUID) -> None:
        """After a successful join (and `room.joined`): deliver what arrived meanwhile."""
        _conn, held = self._pending.get(room_id, {}).pop(conn.id, (conn, []))
        for event in held:
            self._deliver_room_event(conn, room_id, event)

    async def unwatch_room(self, conn: Connection, room_id: uuid.UUID) -> None:
        waiting = self._pending.get(room_id)
        if waiting is not None:
            waiting.pop(conn.id, None)
            if not waiting:
                del self._pending[room_id]
        await self._release_room(room_id)

    async def _subscribe(self, channel: str, handler: Any) -> None:
        sub = self._subs.get(channel)
        if sub is None:
            sub = self._subs[channel] = asyncio.ensure_future(
                self._subscribe_after_close(channel, handler, self._closing.get(channel)))
        # Shared with the other sockets waiting on it: one cancelled must not cancel it for all.
        await asyncio.shield(sub)

    async def _subscribe_after_close(self, channel: str, handler: Any,
                                     closing: asyncio.Future[None] | None) -> Subscription:
        if closing is not None:  # the channel's last subscription first (never two handlers)
            await closing
        return await self.broker.subscribe(channel, handler)

    async def _unsubscribe(self, channel: str) -> None:
        sub = self._subs.pop(channel, None)
        if sub is None:
            return
        closing = self._closing[channel] = asyncio.ensure_future(self._close_when_made(sub))

        def forget(done: asyncio.Future[None]) -> None:
            if self._closing.get(channel) is done:
                del self._closing[channel]

        closing.add_done_callback(forget)
        await asyncio.shield(closing)

    @staticmethod
    async def _close_when_made(sub: asyncio.Future[Subscription]) -> None:
        with contextlib.suppress(Exception):  # never made (the broker stopping): nothing to close
            await (await sub).close()

    async def move_all(self, spread: float = 0.0) -> int:
        """Tell every socket here to reconnect (elsewhere) and resume: `server.draining`, close 1012.

        Spread over ``spread`` seconds in batches (draining: every client reconnecting in the same
        instant is a burst for the instances that stay); at once after a broker outage, whose
        events these sockets missed and get back by rejoining and `chat.sync`.
        """
        connections = list(self.connections.values())
        batches = max(1, min(len(connections), int(spread / 0.05)))  # a batch every 50 ms at most
        for i in range(batches):
            for conn in connections[i::batches]:
                conn.send(f.ServerDraining())
                conn.close(1012, "server restarting")
            if i + 1 < batches:
                await asyncio.sleep(spread / batches)
        return len(connections)

    def on_broker_recovered(self) -> None:
        task = asyncio.get_running_loop().create_task(self.move_all())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- delivery ---------------------------------------------------------------------------
    # Handlers are bound to their channel's id, so no event pays for parsing it back.
    def _on_user_event(self, user_id: uuid.UUID, _channel: str, event: f.BrokerEvent) -> None:
        conns = tuple(self.by_user.get(user_id, ()))
        if any(c.scope is not None for c in conns):  # a join-link socket hears its visit only
            conns = tuple(c for c in conns if c.scope is None or concerns_scope(c, event))
        match event:
            case f.SessionRevoked(session_id=session_id, reason=reason):
                for conn in conns:
                    if conn.session_id == session_id:
                        end_session(conn, reason)
            case f.SessionsEnded(reason=reason, except_session_id=keep):
                for conn in conns:
                    if keep is None or conn.session_id != keep:
                        end_session(conn, reason)
            case f.ExceptConnection(connection_id=skip, frame=frame):
                self._broadcast((c for c in conns if c.id != skip), frame)
            case f.RoomEnded():
                for conn in conns:
                    self._room_ended(conn, event)
            case f.IdentityReplaced() | f.AuthChanged():
                pass  # only ever published on room channels, and on `auth` for the runtime
            case _:
                self._broadcast(conns, event)

    def _on_room_event(self, room_id: uuid.UUID, _channel: str, event: f.BrokerEvent) -> None:
        if isinstance(event, f.RelayedSignal | f.RelayedMediaState | f.RelayedQuality):
            self._relay(room_id, event)
        else:
            for conn in tuple(self.by_room.get(room_id, ())):
                self._deliver_room_event(conn, room_id, event)
        for _conn, buffered in self._pending.get(room_id, {}).values():
            buffered.append(event)

    def _relay(self, room_id: uuid.UUID,
               event: f.RelayedSignal | f.RelayedMediaState | f.RelayedQuality) -> None:
        """The hot path (every SDP, ICE candidate, media change and quality report): to the other
        participant only."""
        sender = event.sender
        text = None
        for conn in tuple(self.by_room.get(room_id, ())):
            if conn.user_key != sender:
                text = text or f.encode(event)
                conn.send_text(text)

    @staticmethod
    def _broadcast(conns: Iterable[Connection], frame: f.ServerFrame) -> None:
        text = None
        for conn in conns:
            text = text or f.encode(frame)
            conn.send_text(text)

    def _deliver_room_event(self, conn: Connection, room_id: uuid.UUID, event: f.BrokerEvent) -> None:
        match event:
            case f.IdentityReplaced(connection_id=replaced):
                if conn.id == replaced:
                    self._drop_from_room(conn, room_id)
                    conn.send(f.RoomReplaced(room_id=room_id))
            case f.RelayedSignal() | f.RelayedMediaState() | f.RelayedQuality():
                if conn.user_key != event.sender:  # relayed to the other participant only
                    conn.send(event)
            case f.ExceptConnection(connection_id=skip, frame=frame):
                if conn.id != skip:
                    conn.send(frame)
            case f.RoomEnded():
                self._room_ended(conn, event)
            case f.SessionRevoked() | f.SessionsEnded() | f.AuthChanged():
                pass  # only ever published on user channels, and on `auth` for the runtime
            case _:
                conn.send(event)

    def _room_ended(self, conn: Connection, event: f.RoomEnded) -> None:
        """`room.ended` comes on the room channel and on the user channel: tell each socket once."""
        room_id = event.room_id
        self._drop_from_room(conn, room_id)
        if room_id in conn.ended_rooms:
            return
        if len(conn.ended_rooms) >= 64:  # a long-lived socket: forget the oldest calls
            conn.ended_rooms.clear()
        conn.ended_rooms.add(room_id)
        conn.send(event)

    def _forget_member(self, conn: Connection, room_id: uuid.UUID) -> bool:
        """Take the socket out of the room; True when the room has no local member left."""
        conn.rooms.discard(room_id)
        members = self.by_room.get(room_id)
        if members is None:
            return False
        members.discard(conn)
        if members:
            return False
        del self.by_room[room_id]
        return True

    def _drop_from_room(self, conn: Connection, room_id: uuid.UUID) -> None:
        if self._forget_member(conn, room_id):
            task = asyncio.get_running_loop().create_task(self._release_room(room_id))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _release_room(self, room_id: uuid.UUID) -> None:
        """Unsubscribe later (handlers cannot await), unless someone entered the room meanwhile."""
        if not self.by_room.get(room_id) and not self._pending.get(room_id):
            await self._unsubscribe(room_channel(room_id))

