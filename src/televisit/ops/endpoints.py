"""Operational endpoints: liveness, readiness."""
from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

router = APIRouter(tags=["ops"])

# A probe must answer well inside the balancer's own timeout, whatever a dependency does.
CHECK_TIMEOUT = 2.0


@router.get("/livez", operation_id="ops-livez")
async def livez() -> dict[str, str]:
    """The process is up and serving (restart it if this fails)."""
    return {"status": "ok"}


async def _database(request: Request) -> str:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            async with request.app.state.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        return "ok"
    except Exception as exc:
        return f"error: {type(exc).__name__}"


async def _broker(request: Request) -> str:
    """Redis answers a PING (the in-process broker always does)."""
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            ok = await request.app.state.broker.ping()
        return "ok" if ok else "error: unreachable"
    except Exception as exc:
        return f"error: {type(exc).__name__}"


@router.get("/readyz", operation_id="ops-readyz", responses={503: {"description": "Not ready"}})
async def readyz(request: Request) -> JSONResponse:
    """Ready for traffic: the database and the broker answer and the instance is not draining."""
    # Both checks run at once: a probe takes at most CHECK_TIMEOUT however many are down.
    state = request.app.state
    database, broker = await asyncio.gather(_database(request), _broker(request))
    checks = {"database": database, "broker": broker, "draining": "yes" if state.draining else "no"}
    broker_ok = broker == "ok" or not state.settings.readiness_requires_broker
    ready = database == "ok" and broker_ok and not state.draining
    return JSONResponse({"status": "ok" if ready else "unavailable", "checks": checks},
                        status_code=200 if ready else 503)
