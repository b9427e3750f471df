"""Browser tests: the built SPA served by the real app under uvicorn, driven in Debian's Chromium.

The server can be restarted on the same port with the same database (a new instance), as a
deployment would, to check that a visit carries on.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI

from televisit.app import create_app
from televisit.core.config import Settings
from televisit.core.db import session_scope
from televisit.ops.server import drain
from televisit.runtime import runtime_of
from televisit.users import service as users_service
from televisit.users.models import Role
from televisit.web.spa import DEFAULT_DIST
from tests.fixtures.app import make_settings
from tests.fixtures.browser import CHROMIUM, chromium_args
from tests.fixtures.services import service_missing

CHROMIUM_ARGS = chromium_args(cameras=3)  # three, so "Switch camera" shows
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
PASSWORD = "violet-harbour-lantern-42"

# Records every RTCPeerConnection the app makes, so tests read getStats like a user's devtools would.
RECORD_PEERS = """
(() => {
  const Native = window.RTCPeerConnection;
  window.__peers = [];
  window.RTCPeerConnection = class extends Native {
    constructor(...args) { super(...args); window.__peers.push(this); }
  };
})();
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Instance:
    """One televisit server process-equivalent: its own app (hub, broker, timers) on a fixed port."""

    settings: Settings
    port: int
    app: FastAPI | None = None
    server: uvicorn.Server | None = None
    task: asyncio.Task[None] | None = None
    starts: int = field(default=0)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self.app = create_app(self.settings, configure_logs=False)
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_config=None,
                                access_log=False, lifespan="on", ws="websockets-sansio")
        self.server = uvicorn.Server(config)
        self.server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        self.task = asyncio.create_task(self.server.serve())
        while not self.server.started:
            if self.task.done():
                self.task.result()
            await asyncio.sleep(0.02)
        self.starts += 1

    async def stop(self, *, drain_first: bool = True) -> None:
        """Stop as `televisit serve` does on SIGTERM: sockets hear server.draining, then exit."""
        assert self.server and self.task and self.app
        if drain_first:
            await drain(runtime_of(self.app), 0)
        self.server.should_exit = True
        await asyncio.wait_for(self.task, 15)

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    async def user(self, role: Role, email: str, name: str) -> None:
        assert self.app
        async with session_scope(runtime_of(self.app).sessionmaker) as session:
            await users_service.create_user(
                session, passwords=runtime_of(self.app).passwords, email=email, password=PASSWORD,
                full_name=name, role=role, now=runtime_of(self.app).clock.now(),
            )


@pytest.fixture
def built_spa() -> Path:
    if not (DEFAULT_DIST / "index.html").is_file():
        pytest.fail("The web app is not built: run `make web` (make test does it first).", pytrace=False)
    return DEFAULT_DIST


@pytest.fixture
async def instance(built_spa: Path, tmp_path: Path, sqlite_template: Path) -> AsyncIterator[Instance]:
    db = tmp_path / "e2e.db"
    shutil.copy(sqlite_template, db)
    # The real clock (visits are booked for "now") and the real room timers and heartbeats.
    settings = make_settings(f"sqlite+aiosqlite:///{db}", room_timers_enabled=True, log_level="WARNING")
    inst = Instance(settings=settings, port=_free_port())
    await inst.start()
    await inst.user(Role.doctor, "doctor@clinic.test", "Dr. Mira Castell")
    await inst.user(Role.patient, "patty@clinic.test", "Patty Lindqvist")
    try:
        yield inst
    finally:
        if inst.server and not inst.task.done():  # type: ignore[union-attr]
            await inst.stop(drain_first=False)


@pytest.fixture
def chromium_path() -> str:
    if not Path(CHROMIUM).exists():
        service_missing("Chromium", FileNotFoundError(f"{CHROMIUM} (apt-get install chromium)"))
    return CHROMIUM


@contextlib.asynccontextmanager
async def launch(chromium_path: str, args: list[str]) -> AsyncIterator[Any]:
    """Debian's Chromium with these flags, closed afterwards; one that cannot start is a missing service."""
    from playwright.async_api import Error, async_playwright

    async with async_playwright() as p:
        try:
            b = await p.chromium.launch(executable_path=chromium_path, args=args)
        except Error as exc:
            service_missing("Chromium", exc)
        try:
            yield b
        finally:
            await b.close()


@pytest.fixture
async def browser(chromium_path: str) -> AsyncIterator[Any]:
    async with launch(chromium_path, CHROMIUM_ARGS) as b:
        yield b


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
