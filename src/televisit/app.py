"""create_app(settings): the ASGI application with its lifespan, middleware and routers."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

from televisit.appointments.endpoints import router as appointments_router
from televisit.auth.endpoints import router as auth_router
from televisit.auth.passwords import Passwords
from televisit.chat.endpoints import router as chat_router
from televisit.core.clock import Clock, SystemClock
from televisit.core.config import Settings
from televisit.core.db import create_engine, create_sessionmaker
from televisit.core.errors import install_error_handlers
from televisit.core.limits import BodySizeLimitMiddleware
from televisit.core.logging import RequestLoggingMiddleware, configure_logging, instrument_engine
from televisit.ops.endpoints import router as ops_router
from televisit.ops.housekeeping import housekeeping
from televisit.ops.metrics import Metrics
from televisit.ops.metrics import router as metrics_router
from televisit.ops.server import move_sockets
from televisit.realtime.broker import create_broker
from televisit.realtime.publisher import make_publisher
from televisit.rooms.endpoints import router as rooms_router
from televisit.rooms.timers import RoomTimers
from televisit.signaling.endpoints import DirectWebSocket
from televisit.signaling.hub import Hub
from televisit.signaling.service import Handlers
from televisit.users.endpoints import router as users_router
from televisit.web import mount_spa

API_PREFIX = "/api/v1"


def api_router() -> APIRouter:
    router = APIRouter(prefix=API_PREFIX)
    router.include_router(auth_router)
    router.include_router(users_router)
    router.include_router(appointments_router)
    router.include_router(rooms_router)
    router.include_router(chat_router)
    return router


def create_app(settings: Settings, *, clock: Clock | None = None, configure_logs: bool = True) -> FastAPI:
    if configure_logs:
        configure_logging(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings)
        instrument_engine(engine, settings)
        app.state.engine = engine
        app.state.sessionmaker = create_sessionmaker(engine)
        app.state.draining = False
        broker = create_broker(settings.redis_url)
        await broker.start()
        app.state.broker = broker
        app.state.publish = app.state.metrics.counting(make_publisher(broker))
        app.state.instance_id = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        app.state.hub = Hub(broker)
        # Events were lost while the broker was down: sockets reconnect and resync (chat by seq).
        broker.on_recovered(lambda: move_sockets(app))
        app.state.metrics.websockets_open.set_function(lambda: len(app.state.hub.connections))
        app.state.ws_handlers = Handlers(app, app.state.hub)
        app.state.room_timers = RoomTimers(app)
        app.state.housekeeping = housekeeping(app, interval=600)
        if settings.room_timers_enabled:
            app.state.room_timers.start()
            app.state.housekeeping.start()
        try:
            yield
        finally:
            await app.state.housekeeping.stop()
            await app.state.room_timers.stop()
            await broker.stop()
            await engine.dispose()

    app = FastAPI(
        title="Televisit API",
        version="1.0.0",
        description="Appointments, 1:1 video visits and chat between a doctor and a patient.",
        lifespan=lifespan,
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.clock = clock or SystemClock()
    app.state.passwords = Passwords(settings)
    app.state.metrics = Metrics()
    install_error_handlers(app)
    app.include_router(api_router())
    app.include_router(ops_router)
    app.include_router(metrics_router)
    mount_spa(app)  # last: the SPA's catch-all never shadows an API route
    # Outermost last: logging sees everything, including 413s.
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestLoggingMiddleware, settings=settings,
                       observe=app.state.metrics.observe_request)
    app.add_middleware(DirectWebSocket, path=f"{API_PREFIX}/ws")
    return app
