"""The per-instance loop that takes patients out of waiting rooms once their connection has been
gone longer than TELEVISIT_PRESENCE_GRACE.

Presence lives in the database (`patient_presence`, one row per patient and instance with her
sockets; `check_ins.away_since`), so any instance may run it; each change is a conditional
update that one instance wins.
"""

from __future__ import annotations

import structlog

from televisit.appointments import service
from televisit.core.periodic import Periodic
from televisit.core.runtime import CoreRuntime

log = structlog.get_logger("televisit.appointments")


class PresenceSweeper:
    def __init__(self, runtime: CoreRuntime) -> None:
        self.runtime = runtime
        self._periodic: Periodic | None = None

    async def run_once(self) -> int:
        """One pass; returns how many patients left a waiting room."""
        async with self.runtime.session() as session:
            return await service.sweep_presence(session, settings=self.runtime.settings,
                                                now=self.runtime.clock.now())

    async def _tick(self) -> None:
        gone = await self.run_once()
        if gone:
            log.info("waiting_room_left", count=gone)

    def start(self) -> None:
        interval = max(0.5, min(5.0, self.runtime.settings.presence_grace / 3))
        self._periodic = Periodic("presence", self._tick, interval)
        self._periodic.start()

    async def stop(self) -> None:
        if self._periodic is not None:
            await self._periodic.stop()
