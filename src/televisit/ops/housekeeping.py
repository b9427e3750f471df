"""Periodic clean-up: expired sessions and old failed sign-ins do not pile up forever."""

from __future__ import annotations

import asyncio
import contextlib

import structlog
from fastapi import FastAPI

from televisit.auth import service as auth_service
from televisit.core.db import session_scope

log = structlog.get_logger("televisit.ops")


class Housekeeping:
    def __init__(self, app: FastAPI, interval: float) -> None:
        self.app = app
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    async def run_once(self) -> None:
        state = self.app.state
        async with session_scope(state.sessionmaker) as session:
            await auth_service.prune(session, settings=state.settings, now=state.clock.now())

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("housekeeping_failed")
            await asyncio.sleep(self.interval)

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="housekeeping")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
