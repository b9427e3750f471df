"""Periodic clean-up: expired sessions and old failed sign-ins do not pile up forever."""

from __future__ import annotations

from fastapi import FastAPI

from televisit.auth import service as auth_service
from televisit.core.db import session_scope
from televisit.core.periodic import Periodic


def housekeeping(app: FastAPI, interval: float) -> Periodic:
    async def run_once() -> None:
        state = app.state
        async with session_scope(state.sessionmaker) as session:
            await auth_service.prune(session, settings=state.settings, now=state.clock.now())

    return Periodic("housekeeping", run_once, interval)
