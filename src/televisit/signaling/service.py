"""What each client frame does. Every handler runs its own short transaction."""

from __future__ import annotations

import functools
import uuid
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from televisit.auth import service as auth_service
from televisit.chat import service as chat_service
from televisit.chat.schemas import MessagePublic
from televisit.core.errors import AppError
from televisit.core.runtime import CoreRuntime
from televisit.realtime.channels import room_channel
from televisit.rooms import service as rooms_service
from televisit.rooms.ice import ice_servers
from televisit.rooms.schemas import room_dict
from televisit.signaling import schemas as f
from televisit.signaling.connection import Connection
from televisit.signaling.hub import Hub
from televisit.users.models import Role, User

SYNC_BATCH = 500


@functools.lru_cache(maxsize=4096)
def _room_keys(room_id: uuid.UUID) -> tuple[str, str]:
    """A room's id string and channel, made once per room rather than once per relayed signal."""
    return str(room_id), room_channel(room_id)


class Handlers:
    def __init__(self, runtime: CoreRuntime, hub: Hub) -> None:
        self.runtime = runtime
        self.hub = hub
        self.settings = runtime.settings
        self.signals_relayed = runtime.metrics.signals

    def _now(self) -> datetime:
        return self.runtime.clock.now()

    def _session(self) -> AbstractAsyncContextManager[AsyncSession]:
        return self.runtime.session()

    async def authenticate(self, conn: Connection, token: str) -> User:
        async with self._session() as session:
            auth = await auth_service.authenticate(session, settings=self.settings, token=token,
                                                   now=self._now())
        conn.authenticated(auth.user.id, auth.session.id, str(auth.user.role))
        return auth.user

    async def _user(self, session: Any, conn: Connection) -> User:
        user = await session.get(User, conn.user_id)
        if user is None:
            raise AppError("Your account is gone.", code="not_authenticated")
        return user

    async def dispatch(self, conn: Connection, frame: Any) -> None:
        handler = getattr(self, "on_" + frame.type.replace(".", "_"))
        await handler(conn, frame)

    async def on_auth(self, conn: Connection, frame: f.AuthFrame) -> None:
        raise f.FrameError("already_authenticated", "This connection is already authenticated.",
                           frame.ref)

    async def on_ping(self, conn: Connection, frame: f.Ping) -> None:
        conn.send({"type": "pong", "ref": frame.ref})

    async def on_room_join(self, conn: Connection, frame: f.RoomJoin) -> None:
        now = self._now()
        await self.hub.watch_room(conn, frame.room_id)
        try:
            async with self._session() as session:
                user = await self._user(session, conn)
                joined = await rooms_service.join(session, user=user, room_id=frame.room_id,
                                                  connection_id=conn.id,
                                                  instance_id=self.runtime.instance_id, now=now)
                room = room_dict(joined.room)
            await self.hub.enter_room(conn, frame.room_id)
        except BaseException:
            await self.hub.unwatch_room(conn, frame.room_id)
            raise
        if frame.room_id in conn.ended_rooms:  # it ended between our commit and entering
            await self.hub.unwatch_room(conn, frame.room_id)
            await self.hub.leave_room(conn, frame.room_id)
            raise rooms_service.RoomEnded()
        conn.send({
            "type": "room.joined", "ref": frame.ref, "room": room,
            "participants": room["participants"],
            "ice_servers": ice_servers(self.settings, user_id=user.id, now=now),
            # The doctor is the impolite peer and makes the first offer; the patient yields.
            "polite": user.role == Role.patient,
        })
        self.hub.flush_pending(conn, frame.room_id)
        await self.hub.unwatch_room(conn, frame.room_id)

    async def on_room_leave(self, conn: Connection, frame: f.RoomLeave) -> None:
        if frame.room_id not in conn.rooms:
            raise f.FrameError("not_in_room", "You are not in this room.", frame.ref)
        await self.hub.leave_room(conn, frame.room_id)
        await self.record_leave(conn, frame.room_id)
        conn.send({"type": "room.left", "ref": frame.ref, "room_id": str(frame.room_id)})

    async def record_leave(self, conn: Connection, room_id: uuid.UUID) -> None:
        async with self._session() as session:
            await rooms_service.leave(session, user_id=conn.user_id, room_id=room_id,  # type: ignore[arg-type]
                                      connection_id=conn.id, now=self._now())

    def _require_room(self, conn: Connection, room_id: uuid.UUID, ref: Any) -> None:
        if room_id not in conn.rooms:
            raise f.FrameError("not_in_room", "Join the room before signaling in it.", ref)

    async def on_signal(self, conn: Connection, frame: f.Signal) -> None:
        self._require_room(conn, frame.room_id, frame.ref)
        self.signals_relayed.inc()
        room_key, channel = _room_keys(frame.room_id)
        await self.runtime.broker.publish(channel, {
            "type": "signal", "room_id": room_key, "from": conn.user_key, "data": frame.data,
        })

    async def on_media_state(self, conn: Connection, frame: f.MediaState) -> None:
        self._require_room(conn, frame.room_id, frame.ref)
        room_key, channel = _room_keys(frame.room_id)
        await self.runtime.broker.publish(channel, {
            "type": "media.state", "room_id": room_key, "from": conn.user_key,
            "audio": frame.audio, "video": frame.video,
        })

    async def on_call_decline(self, conn: Connection, frame: f.CallDecline) -> None:
        async with self._session() as session:
            user = await self._user(session, conn)
            await rooms_service.decline(session, user=user, room_id=frame.room_id, now=self._now())
        conn.send({"type": "call.declined.ok", "ref": frame.ref, "room_id": str(frame.room_id)})

    async def on_chat_send(self, conn: Connection, frame: f.ChatSend) -> None:
        async with self._session() as session:
            user = await self._user(session, conn)
            message, _ = await chat_service.send(
                session, user=user, appointment_id=frame.appointment_id,
                client_msg_id=frame.client_msg_id, body=frame.body,
                max_length=self.settings.chat_max_length, now=self._now(),
            )
        # Sent after the commit: an ack means the message is stored.
        conn.send({"type": "chat.ack", "ref": frame.ref, "client_msg_id": message.client_msg_id,
                   "seq": message.seq, "id": str(message.id),
                   "appointment_id": str(message.appointment_id)})

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
                public = MessagePublic.model_validate(message).model_dump(mode="json")
                await conn.send_paced({"type": "chat.message", "message": public})
            if rows:
                after = rows[-1].seq
            if more is None:
                break
        conn.send({"type": "chat.synced", "ref": frame.ref,
                   "appointment_id": str(frame.appointment_id), "last_seq": after})
