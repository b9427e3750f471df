"""The per-instance loop that ends rooms on time and keeps this instance's heartbeat.

Deadlines live in the database, so any instance may end a room; the conditional update in
`RoomRepository.finish` makes sure only one does.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import structlog

from televisit.core.periodic import Periodic
from televisit.core.runtime import CoreRuntime
from televisit.rooms import service

log = structlog.get_logger("televisit.rooms")


class RoomTimers:
    def __init__(self, runtime: CoreRuntime) -> None:
        self.runtime = runtime
        self._periodic: Periodic | None = None
        self._last_beat: datetime | None = None

    async def run_once(self) -> list[uuid.UUID]:
        runtime = self.runtime
        settings = runtime.settings
        now = runtime.clock.now()
        # Beat by the same clock the staleness check reads (a fake one in tests), or a jump of
        # that clock would make this very instance look dead and release its own participants.
        last = self._last_beat
        if last is None or not 0 <= (now - last).total_seconds() < settings.instance_heartbeat:
            async with runtime.session() as session:
                await service.heartbeat(session, instance_id=runtime.instance_id, now=now)
            self._last_beat = now
        async with runtime.session() as session:
            await service.release_orphans(session, now=now,
                                          stale_after=int(settings.instance_heartbeat * 4) + 1)
        async with runtime.session() as session:
            return await service.sweep(session, settings=settings, now=now)

    async def _tick(self) -> None:
        ended = await self.run_once()
        if ended:
            log.info("rooms_timed_out", count=len(ended))

    def start(self) -> None:
        self._periodic = Periodic("room-timers", self._tick, self.runtime.settings.room_sweep_interval)
        self._periodic.start()

    async def stop(self) -> None:
        if self._periodic is not None:
            await self._periodic.stop()
