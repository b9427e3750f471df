"""Operational endpoints: liveness, readiness."""
from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from televisit.runtime import Runtime, runtime_of

router = APIRouter(tags=["ops"])


async def get_runtime(request: Request) -> Runtime:
    return runtime_of(request.app)


AppRuntime = Annotated[Runtime, Depends(get_runtime)]

# A probe must answer well inside the balancer's own timeout, whatever a dependency does.
CHECK_TIMEOUT = 2.0


@router.get("/livez", operation_id="ops-livez")
async def livez() -> dict[str, str]:
    """The process is up and serving (restart it if this fails)."""
    return {"status": "ok"}


async def _database(runtime: Runtime) -> str:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            async with runtime.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        return "ok"
    except Exception as exc:
        return f"error: {type(exc).__name__}"


async def _broker(runtime: Runtime) -> str:
    """Redis answers a PING (the in-process broker always does)."""
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            ok = await runtime.broker.ping()
        return "ok" if ok else "error: unreachable"
    except Exception as exc:
        return f"error: {type(exc).__name__}"


@router.get("/readyz", operation_id="ops-readyz", responses={503: {"description": "Not ready"}})
async def readyz(runtime: AppRuntime) -> JSONResponse:
    """Ready for traffic: the database and the broker answer and the instance is not draining."""
    # Both checks run at once: a probe takes at most CHECK_TIMEOUT however many are down.
    database, broker = await asyncio.gather(_database(runtime), _broker(runtime))
    checks = {"database": database, "broker": broker, "draining": "yes" if runtime.draining else "no"}
    broker_ok = broker == "ok" or not runtime.settings.readiness_requires_broker
    ready = database == "ok" and broker_ok and not runtime.draining
    return JSONResponse({"status": "ok" if ready else "unavailable", "checks": checks},
                        status_code=200 if ready else 503)
