"""What each client frame does. Every handler runs its own short transaction."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from televisit.appointments import service as appointments_service
from televisit.auth import service as auth_service
from televisit.chat import service as chat_service
from televisit.chat.schemas import MessagePublic
from televisit.core.errors import AppError
from televisit.core.runtime import CoreRuntime
from televisit.realtime.channels import room_channel
from televisit.rooms import service as rooms_service
from televisit.rooms.ice import room_ice_servers
from televisit.rooms.models import RoomStatus
from televisit.rooms.schemas import IceServer, RoomPublic
from televisit.signaling import frames as f
from televisit.signaling.connection import Connection, SessionTimes
from televisit.signaling.hub import Hub, end_session
from televisit.users.models import Role, User

SYNC_BATCH = 500
log = structlog.get_logger("televisit.ws")

Handler = Callable[[Connection, Any], Awaitable[None]]

# Outside a call, only what a person does keeps the session alive (an open page left alone must
# still time out); inside one, every frame does (see `Handlers.dispatch`).
PERSON_FRAMES = (f.ChatSend, f.RoomJoin, f.CallDecline)


@functools.lru_cache(maxsize=4096)
def _room_channel(room_id: uuid.UUID) -> str:
    """A room's channel, made once per room rather than once per relayed signal."""
    return room_channel(room_id)


class Handlers:
    def __init__(self, runtime: CoreRuntime, hub: Hub) -> None:
        self.runtime = runtime
        self.hub = hub
        self.settings = runtime.settings
        self.signals_relayed = runtime.metrics.signals
        self.idle = timedelta(seconds=self.settings.session_idle_timeout)
        # Dispatch is a table from frame class to handler: every client frame has exactly one.
        self.table: dict[type[Any], Handler] = {
            f.AuthFrame: self.on_auth,
            f.Ping: self.on_ping,
            f.RoomJoin: self.on_room_join,
            f.RoomLeave: self.on_room_leave,
            f.Signal: self.on_signal,
            f.MediaState: self.on_media_state,
            f.QualityReport: self.on_quality_report,
            f.CallDecline: self.on_call_decline,
            f.ChatSend: self.on_chat_send,
            f.ChatSync: self.on_chat_sync,
            f.IceRefresh: self.on_ice_refresh,
        }
        # One presence update at a time per patient on this instance, each applying what the hub
        # holds at that moment: a reload's close and reopen cannot leave a wrong row behind.
        self._presence_locks: dict[uuid.UUID, asyncio.Lock] = {}
        self._waiting_recheck = timedelta(seconds=min(60.0, self.idle.total_seconds() / 4))
        # Every database session a socket opens takes one of these first (TELEVISIT_WS_DB_CONCURRENCY).
        self._db_slots = asyncio.Semaphore(self.settings.ws_db_concurrency)
        missing = set(f.CLIENT_FRAMES) - set(self.table)
        if missing:
            raise TypeError(f"client frames without a handler: {sorted(c.__name__ for c in missing)}")

    def _now(self) -> datetime:
        return self.runtime.clock.now()

    @contextlib.asynccontextmanager
    async def _session(self) -> AsyncIterator[AsyncSession]:
        """A database session for one step of a frame, once a slot is free. Never nested: a frame
        holding one while it waits for a second could wait for good."""
        async with self._db_slots, self.runtime.session() as session:
            yield session

    async def authenticate(self, conn: Connection, token: str) -> User:
        # Opening a socket is not use of the session (pages reconnect by themselves).
        async with self._session() as session:
            # A join link's session may open a socket: `_hold_to_visit` limits its frames and the
            # hub what it hears.
            auth = await auth_service.authenticate(session, settings=self.settings, token=token,
                                                   now=self._now(), touch=False, allow_scoped=True)
        seen = auth.session.last_seen_at
        conn.authenticated(auth.user.id, auth.session.id, SessionTimes(
            expires_at=auth.session.expires_at, seen_at=seen, active_at=seen),
            scope=auth.session.appointment_id)
        conn.patient = auth.user.role == Role.patient
        return auth.user

    async def sync_presence(self, user_id: uuid.UUID) -> None:
        """Record whether the patient has a socket on this instance (her first opened or her last
        closed here): her waiting-room presence, which every instance reads. Never raises."""
        lock = self._presence_locks.setdefault(user_id, asyncio.Lock())
        try:
            async with lock:
                connected = self.hub.user_count(user_id) > 0
                async with self._session() as session:
                    if connected:
                        await appointments_service.patient_connected(
                            session, settings=self.settings, user_id=user_id,
                            instance_id=self.runtime.instance_id, now=self._now())
                    else:
                        await appointments_service.patient_disconnected(
                            session, settings=self.settings, user_id=user_id,
                            instance_id=self.runtime.instance_id, now=self._now())
        except Exception:
            log.exception("ws_presence_failed")
        finally:
            if not lock.locked() and self.hub.user_count(user_id) == 0:
                self._presence_locks.pop(user_id, None)

    async def _user(self, session: AsyncSession, conn: Connection) -> User:
        user = await auth_service.active_user(session, user_id=conn.uid, cache=self.runtime.auth_cache)
        if user is None:
            raise AppError("Your account is gone.", code="not_authenticated")
        return user

    async def dispatch(self, conn: Connection, frame: f.ClientFrame) -> None:
        # In a call every frame is use (a visit never signs anyone out); outside one, pings are
        # not, except a patient's while she waits in a waiting room (her page is attended).
        if conn.times is not None and (conn.rooms or isinstance(frame, PERSON_FRAMES)
                                       or (conn.patient and isinstance(frame, f.Ping)
                                           and await self._waiting(conn))):
            conn.times.touch(self._now(), self.idle)
        if conn.scope is not None:
            await self._hold_to_visit(conn, frame)
        await self.table[type(frame)](conn, frame)

    async def _waiting(self, conn: Connection) -> bool:
        """Whether the patient waits in a waiting room, asked again at most every quarter of the
        idle timeout (and minute): her pings then count as use of the session."""
        now = self._now()
        if conn.user_id is None:
            return False
        if conn.waiting_checked_at is None or now - conn.waiting_checked_at >= self._waiting_recheck:
            async with self._session() as session:
                conn.waiting = await appointments_service.in_a_waiting_room(
                    session, patient_id=conn.user_id, now=now)
            conn.waiting_checked_at = now
        return conn.waiting

    async def _hold_to_visit(self, conn: Connection, frame: f.ClientFrame) -> None:
        """A socket of a join-link session acts on its own visit only: another visit, or another
        visit's room, does not exist for it (recorded as a refusal). `signal`, `media.state`,
        `quality.report` and `room.leave` need the room joined, which passed here; `ping` names nothing."""
        match frame:
            case f.ChatSend() | f.ChatSync():
                if frame.appointment_id != conn.scope:
                    await self._refuse_outside_scope(conn, frame.type)
                    raise f.FrameError("appointment_not_found", "No such appointment.", frame.ref)
            case f.RoomJoin() | f.CallDecline() | f.IceRefresh():
                if frame.room_id in conn.scope_rooms:
                    return
                async with self._session() as session:
                    visit = await rooms_service.visit_of_room(session, frame.room_id)
                if visit != conn.scope:
                    await self._refuse_outside_scope(conn, frame.type)
                    raise rooms_service.RoomNotFound()
                conn.scope_rooms.add(frame.room_id)
            case _:
                pass

    async def _refuse_outside_scope(self, conn: Connection, what: str) -> None:
        async with self._session() as session:
            await auth_service.record_outside_scope(session, user_id=conn.uid, session_id=conn.sid,
                                                    scope=conn.scope, what=f"ws {what}", now=self._now())

    async def on_auth(self, conn: Connection, frame: f.AuthFrame) -> None:
        raise f.FrameError("already_authenticated", "This connection is already authenticated.",
                           frame.ref)

    async def on_ping(self, conn: Connection, frame: f.Ping) -> None:
        conn.send(f.Pong(ref=frame.ref))

    async def on_room_join(self, conn: Connection, frame: f.RoomJoin) -> None:
        now = self._now()
        await self.hub.watch_room(conn, frame.room_id)
        try:
            async with self._session() as session:
                user = await self._user(session, conn)
                joined = await rooms_service.join(session, user=user, room_id=frame.room_id,
                                                  connection_id=conn.id,
                                                  instance_id=self.runtime.instance_id, now=now)
                room = RoomPublic.model_validate(joined)
            await self.hub.enter_room(conn, frame.room_id)
        except BaseException:
            await self.hub.unwatch_room(conn, frame.room_id)
            raise
        if frame.room_id in conn.ended_rooms:  # it ended between our commit and entering
            await self.hub.unwatch_room(conn, frame.room_id)
            await self.hub.leave_room(conn, frame.room_id)
            raise rooms_service.RoomEnded()
        conn.send(f.RoomJoined(
            ref=frame.ref, room=room, participants=room.participants,
            ice_servers=[IceServer(**s) for s in room_ice_servers(
                self.settings, user_id=user.id, room_created_at=room.created_at, now=now).servers],
            ice_transport_policy=self.settings.ice_transport_policy,
            # The doctor is the impolite peer and makes the first offer; the patient yields.
            polite=user.role == Role.patient,
        ))
        self.hub.flush_pending(conn, frame.room_id)
        await self.hub.unwatch_room(conn, frame.room_id)

    async def on_room_leave(self, conn: Connection, frame: f.RoomLeave) -> None:
        if frame.room_id not in conn.rooms:
            raise f.FrameError("not_in_room", "You are not in this room.", frame.ref)
        await self.hub.leave_room(conn, frame.room_id)
        await self.record_leave(conn, frame.room_id)
        conn.send(f.RoomLeft(ref=frame.ref, room_id=frame.room_id))

    async def record_leave(self, conn: Connection, room_id: uuid.UUID) -> None:
        async with self._session() as session:
            await rooms_service.leave(session, user_id=conn.uid, room_id=room_id,
                                      connection_id=conn.id, now=self._now())

    def _require_room(self, conn: Connection, room_id: uuid.UUID, ref: f.Ref) -> None:
        if room_id not in conn.rooms:
            raise f.FrameError("not_in_room", "Join the room before signaling in it.", ref)

    async def on_signal(self, conn: Connection, frame: f.Signal) -> None:
        self._require_room(conn, frame.room_id, frame.ref)
        self.signals_relayed.inc()
        await self.runtime.broker.publish(_room_channel(frame.room_id), f.RelayedSignal(
            room_id=frame.room_id, sender=conn.user_key, data=frame.data))

    async def on_media_state(self, conn: Connection, frame: f.MediaState) -> None:
        self._require_room(conn, frame.room_id, frame.ref)
        await self.runtime.broker.publish(_room_channel(frame.room_id), f.RelayedMediaState(
            room_id=frame.room_id, sender=conn.user_key, audio=frame.audio, video=frame.video,
            screen=frame.screen, audio_only=frame.audio_only,
            audio_only_reason=frame.audio_only_reason if frame.audio_only else None))

    async def on_quality_report(self, conn: Connection, frame: f.QualityReport) -> None:
        self._require_room(conn, frame.room_id, frame.ref)
        await self.runtime.broker.publish(_room_channel(frame.room_id), f.RelayedQuality(
            room_id=frame.room_id, sender=conn.user_key, level=frame.level))

    async def on_call_decline(self, conn: Connection, frame: f.CallDecline) -> None:
        async with self._session() as session:
            user = await self._user(session, conn)
            await rooms_service.decline(session, settings=self.settings, user=user, room_id=frame.room_id,
                                        now=self._now())
        conn.send(f.CallDeclineAccepted(ref=frame.ref, room_id=frame.room_id))

    async def on_chat_send(self, conn: Connection, frame: f.ChatSend) -> None:
        async with self._session() as session:
            user = await self._user(session, conn)
            message, _ = await chat_service.send(
                session, settings=self.settings, user=user, appointment_id=frame.appointment_id,
                client_msg_id=frame.client_msg_id, body=frame.body, now=self._now(),
            )
        # Sent after the commit: an ack means the message is stored.
        conn.send(f.ChatAck(ref=frame.ref, client_msg_id=message.client_msg_id, seq=message.seq,
                            id=message.id, appointment_id=message.appointment_id))

    async def on_chat_sync(self, conn: Connection, frame: f.ChatSync) -> None:
        after = frame.after_seq
        while True:
            async with self._session() as session:
                user = await self._user(session, conn)
                rows, more = await chat_service.history(
                    session, user=user, appointment_id=frame.appointment_id, after_seq=after,
                    limit=SYNC_BATCH, now=self._now(),
                )
            for message in rows:
                # Paced: a long backlog must not overflow the socket's queue (that closes it).
                await conn.send_paced(f.ChatMessage(message=MessagePublic.model_validate(message)))
            if rows:
                after = rows[-1].seq
            if more is None:
                break
        conn.send(f.ChatSynced(ref=frame.ref, appointment_id=frame.appointment_id, last_seq=after))

    async def on_ice_refresh(self, conn: Connection, frame: f.IceRefresh) -> None:
        """New TURN credentials, for a participant of a live room whose session still lives (the
        session is re-read: credentials are never issued on the strength of a stale socket)."""
        now = self._now()
        async with self._session() as session:
            states = await auth_service.session_states(session, settings=self.settings,
                                                       session_ids=[conn.sid], now=now)
            ended = states[conn.sid].ended
            if ended is not None:
                end_session(conn, ended)
                return
            user = await self._user(session, conn)
            room = await rooms_service.get_room(session, user=user, room_id=frame.room_id, now=now)
            if room.status != RoomStatus.in_progress:
                raise rooms_service.RoomEnded()
            created_at = room.created_at
        grant = room_ice_servers(self.settings, user_id=user.id, room_created_at=created_at, now=now)
        conn.send(f.IceServers(ref=frame.ref, room_id=frame.room_id, expires_at=grant.expires_at,
                               ice_servers=[IceServer(**s) for s in grant.servers],
                               ice_transport_policy=self.settings.ice_transport_policy))
