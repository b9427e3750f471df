"""create_app(settings): the ASGI application with its lifespan, middleware and routers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

from televisit.admin.endpoints import router as admin_router
from televisit.appointments.endpoints import patients_router
from televisit.appointments.endpoints import router as appointments_router
from televisit.audit.context import AuditContextMiddleware
from televisit.audit.endpoints import router as audit_router
from televisit.auth.endpoints import me_router
from televisit.auth.endpoints import router as auth_router
from televisit.chat.endpoints import router as chat_router
from televisit.core.clock import Clock
from televisit.core.config import Settings
from televisit.core.dbretry import RetryWhileDatabaseRestarts
from televisit.core.errors import install_error_handlers
from televisit.core.headers import ApiHeadersMiddleware
from televisit.core.limits import BodySizeLimitMiddleware
from televisit.core.logging import RequestLoggingMiddleware, configure_logging
from televisit.core.schemas import document_settings
from televisit.mail.endpoints import router as dev_mailbox_router
from televisit.ops.endpoints import router as ops_router
from televisit.ops.metrics import router as metrics_router
from televisit.push.endpoints import router as push_router
from televisit.rooms.endpoints import router as rooms_router
from televisit.runtime import Runtime
from televisit.signaling.endpoints import DirectWebSocket
from televisit.users.endpoints import router as users_router
from televisit.web import mount_spa
from televisit.web.docs import mount_api_docs

API_PREFIX = "/api/v1"


def api_router() -> APIRouter:
    router = APIRouter(prefix=API_PREFIX)
    for domain in (auth_router, me_router, users_router, patients_router, admin_router, audit_router,
                   appointments_router, rooms_router, chat_router, push_router):
        router.include_router(domain)
    return router


def create_app(settings: Settings, *, clock: Clock | None = None, configure_logs: bool = True) -> FastAPI:
    if configure_logs:
        configure_logging(settings)
    runtime = Runtime(settings, clock)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(
        title="Televisit API",
        version="1.0.0",
        description="Appointments, 1:1 video visits and chat between a doctor and a patient.",
        lifespan=lifespan,
        # Swagger UI from our own files (web/docs.py), not FastAPI's CDN page; off in production.
        openapi_url=f"{API_PREFIX}/openapi.json" if settings.effective_api_docs else None,
        docs_url=None,
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
    )
    # The one attribute on app.state: everything shared travels in the typed runtime.
    app.state.runtime = runtime
    install_error_handlers(app)
    # The bounds that settings decide (a message's length, a visit's) as this server has them;
    # replacing `app.openapi` is FastAPI's documented way to change the document.
    app.openapi = document_settings(app.openapi, settings)  # type: ignore[method-assign]
    app.include_router(api_router())
    app.include_router(ops_router)
    app.include_router(metrics_router)
    mount_api_docs(app, f"{API_PREFIX}/docs")
    app.include_router(dev_mailbox_router)  # 404 outside development
    mount_spa(app)  # last: the SPA's catch-all never shadows an API route
    # Outermost last: logging sees everything, including 413s.
    # Innermost: a request that meets a restarting database runs again (logged and audited once).
    app.add_middleware(RetryWhileDatabaseRestarts, window=settings.db_retry_window)
    app.add_middleware(AuditContextMiddleware)  # where each request comes from, for its audit records
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestLoggingMiddleware, settings=settings, observe=runtime.metrics.observe_request)
    # Around logging, so its 500 gets them too; inside DirectWebSocket, which sockets never pass.
    app.add_middleware(ApiHeadersMiddleware, hsts_seconds=settings.hsts_seconds)
    app.add_middleware(DirectWebSocket, runtime=runtime, path=f"{API_PREFIX}/ws")
    return app
