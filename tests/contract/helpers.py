"""Televisit under the conformance kit: a real uvicorn on a real database, a real clock and room
timers with short timeouts, and an admin made through the service layer."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.types import ASGIApp

from conformance.checks import ALL
from conformance.runner import Options, Result, run, selected
from televisit.app import create_app
from televisit.core.db import session_scope
from televisit.runtime import runtime_of
from televisit.users import service as users_service
from televisit.users.models import Role
from tests.fixtures.app import make_settings
from tests.fixtures.live import serve

ADMIN_EMAIL = "kit-admin@example.org"
ADMIN_PASSWORD = "amber-quay-thistle-9071"
# What the server under test is started with, and so what the kit is told.
ROOM_TIMEOUT = 3
WS_AUTH_TIMEOUT = 2.0


@dataclass(frozen=True)
class KitServer:
    url: str

    def options(self, **overrides: Any) -> Options:
        values: dict[str, Any] = {
            "base_url": self.url, "admin_email": ADMIN_EMAIL, "admin_password": ADMIN_PASSWORD,
            "room_unused_timeout": ROOM_TIMEOUT, "room_empty_timeout": ROOM_TIMEOUT,
            "ws_auth_timeout": WS_AUTH_TIMEOUT, "jobs": 4,
        }
        values.update(overrides)
        return Options(**values)

    def cli_args(self) -> list[str]:
        return [self.url, "--admin-email", ADMIN_EMAIL, "--ws-auth-timeout", str(WS_AUTH_TIMEOUT)]


@contextlib.asynccontextmanager
async def televisit(database_url: str, wrap: Callable[[ASGIApp], ASGIApp] | None = None
                    ) -> AsyncIterator[KitServer]:
    """Televisit as an operator runs it (system clock, room timers on), with short room timeouts."""
    settings = make_settings(database_url, room_timers_enabled=True, room_unused_timeout=ROOM_TIMEOUT,
                             room_empty_timeout=ROOM_TIMEOUT, room_sweep_interval=0.5,
                             ws_auth_timeout=WS_AUTH_TIMEOUT, log_level="WARNING")
    app = create_app(settings, configure_logs=False)
    # serve() is annotated for FastAPI; a wrapped app is the same ASGI callable underneath.
    async with serve(wrap(app) if wrap else app) as live:  # type: ignore[arg-type]
        runtime = runtime_of(app)
        async with session_scope(runtime.sessionmaker) as session:
            await users_service.create_user(session, passwords=runtime.passwords, email=ADMIN_EMAIL,
                                            password=ADMIN_PASSWORD, full_name="Kit Admin",
                                            role=Role.admin, now=datetime.now(UTC))
        yield KitServer(live.http_url)


async def run_kit(options: Options, patterns: tuple[str, ...] = ()) -> list[Result]:
    lines: list[str] = []
    results = await run(options, selected(ALL, patterns), out=lines.append)
    print("\n".join(lines))  # shown by pytest when the test fails
    return results


def failed(results: list[Result]) -> dict[str, str]:
    return {r.name: r.reason for r in results if r.status == "FAIL"}
