from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from televisit.core.db import lock_rows, rowcount
from televisit.rooms.models import Instance, Room, RoomParticipant, RoomStatus


class RoomRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, room_id: uuid.UUID, *, for_update: bool = False) -> Room | None:
        if for_update:
            await lock_rows(self.session, Room.status, [room_id])
        stmt = select(Room).where(Room.id == room_id).execution_options(populate_existing=True)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def live_for_appointment(self, appointment_id: uuid.UUID) -> Room | None:
        stmt = select(Room).where(
            Room.appointment_id == appointment_id, Room.status == RoomStatus.in_progress
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def count_live(self) -> int:
        stmt = select(func.count()).select_from(Room).where(Room.status == RoomStatus.in_progress)
        return int(await self.session.scalar(stmt) or 0)

    async def add(self, room: Room) -> Room:
        self.session.add(room)
        await self.session.flush()
        return room

    async def participant(self, room_id: uuid.UUID, user_id: uuid.UUID) -> RoomParticipant | None:
        stmt = select(RoomParticipant).where(
            RoomParticipant.room_id == room_id, RoomParticipant.user_id == user_id
        ).execution_options(populate_existing=True)  # read after the room lock, not a stale copy
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def present_count(self, room_id: uuid.UUID) -> int:
        stmt = select(RoomParticipant.id).where(
            RoomParticipant.room_id == room_id, RoomParticipant.left_at.is_(None)
        )
        return len((await self.session.execute(stmt)).all())

    async def due(self, *, now: datetime, unused: int, empty: int, max_duration: int) -> list[uuid.UUID]:
        """Live rooms whose unused, empty or maximum-duration deadline has passed."""
        stmt = select(Room.id).where(
            Room.status == RoomStatus.in_progress,
            or_(
                and_(Room.first_joined_at.is_(None), Room.created_at <= now - timedelta(seconds=unused)),
                and_(Room.empty_since.is_not(None), Room.empty_since <= now - timedelta(seconds=empty)),
                Room.created_at <= now - timedelta(seconds=max_duration),
            ),
        ).order_by(Room.id)  # one lock order on every instance: sweeps cannot deadlock
        return list((await self.session.execute(stmt)).scalars())

    async def finish(self, room_id: uuid.UUID, *, status: RoomStatus, reason: str, now: datetime) -> bool:
        """End a live room; False when someone else (another instance) ended it first."""
        result = await self.session.execute(
            update(Room)
            .where(Room.id == room_id, Room.status == RoomStatus.in_progress)
            .values(status=status, end_reason=reason, ended_at=now)
            .execution_options(synchronize_session=False)
        )
        if rowcount(result) != 1:
            return False
        await self.session.execute(
            update(RoomParticipant)
            .where(RoomParticipant.room_id == room_id, RoomParticipant.left_at.is_(None))
            .values(left_at=now, connection_id=None)
            .execution_options(synchronize_session=False)
        )
        return True

    async def heartbeat(self, instance_id: str, *, now: datetime) -> None:
        instance = await self.session.get(Instance, instance_id)
        if instance is None:
            self.session.add(Instance(id=instance_id, started_at=now, heartbeat_at=now))
        else:
            instance.heartbeat_at = now
        await self.session.flush()

    async def orphaned_participants(self, *, stale_before: datetime) -> list[RoomParticipant]:
        """Present participants whose instance stopped beating (it crashed or was killed)."""
        live = select(Instance.id).where(Instance.heartbeat_at >= stale_before)
        stmt = select(RoomParticipant).where(
            RoomParticipant.left_at.is_(None),
            or_(RoomParticipant.instance_id.is_(None), RoomParticipant.instance_id.not_in(live)),
        ).order_by(RoomParticipant.room_id)
        return list((await self.session.execute(stmt)).scalars())
