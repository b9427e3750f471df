"""Named dependencies that routes declare: the runtime, its settings and clock, the session.

Each is an `async def`, even where nothing is awaited: FastAPI runs a plain `def` dependency in
its thread pool, a hand-off to a worker thread and back on every request (bench/rest.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from televisit.core.config import Settings
from televisit.core.db import session_scope
from televisit.core.runtime import CoreRuntime, core_runtime
from televisit.core.security import Passwords


async def get_runtime(request: Request) -> CoreRuntime:
    return core_runtime(request.app)


RuntimeDep = Annotated[CoreRuntime, Depends(get_runtime)]


async def get_settings(runtime: RuntimeDep) -> Settings:
    return runtime.settings


async def get_passwords(runtime: RuntimeDep) -> Passwords:
    return runtime.passwords


async def get_now(runtime: RuntimeDep) -> datetime:
    return runtime.clock.now()


async def get_session(runtime: RuntimeDep) -> AsyncIterator[AsyncSession]:
    async with session_scope(runtime.sessionmaker, runtime.publish) as session:
        yield session


async def client_ip(request: Request) -> str:
    # Behind nginx uvicorn runs with --proxy-headers, so request.client is the real address.
    return request.client.host if request.client else "unknown"


SettingsDep = Annotated[Settings, Depends(get_settings)]
PasswordsDep = Annotated[Passwords, Depends(get_passwords)]
NowDep = Annotated[datetime, Depends(get_now)]
# scope="function": commit right after the route returns, so a failed commit is still an error reply.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
ClientIPDep = Annotated[str, Depends(client_ip)]
