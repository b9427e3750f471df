"""What the ground floor needs of the running instance, as a protocol.

`televisit.runtime.Runtime` is the one implementation: the app builds it at start-up and hands it
to what needs it. Core code types against this protocol so that it imports no domain.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.applications import Starlette

from televisit.core.clock import Clock
from televisit.core.config import Settings
from televisit.core.metrics import Metrics
from televisit.core.rowcache import RowCache
from televisit.core.security import Passwords
from televisit.realtime.broker import Broker
from televisit.realtime.events import Publisher


class CoreRuntime(Protocol):
    @property
    def settings(self) -> Settings: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def passwords(self) -> Passwords: ...

    @property
    def sessionmaker(self) -> async_sessionmaker[AsyncSession]: ...

    @property
    def publish(self) -> Publisher: ...

    @property
    def broker(self) -> Broker: ...

    @property
    def metrics(self) -> Metrics: ...

    @property
    def auth_cache(self) -> RowCache:
        """Sessions and their users read recently (auth/cache.py)."""
        ...

    @property
    def instance_id(self) -> str: ...

    def session(self) -> AbstractAsyncContextManager[AsyncSession]:
        """One transaction whose queued events are published after its commit."""
        ...


def core_runtime(app: Starlette) -> CoreRuntime:
    """The runtime `create_app` put on the app (the one attribute it keeps on `app.state`)."""
    runtime: CoreRuntime = app.state.runtime
    return runtime
