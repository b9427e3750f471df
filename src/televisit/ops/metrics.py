"""The Prometheus endpoint: the app's registry (core/metrics.py), with live rooms read at scrape time."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from televisit.mail import service as mail_service
from televisit.ops.endpoints import AppRuntime
from televisit.rooms import service as rooms_service
from televisit.runtime import Runtime

router = APIRouter(tags=["ops"])


async def _count_live_rooms(runtime: Runtime) -> float | None:
    try:
        async with runtime.sessionmaker() as session:
            return float(await rooms_service.live_count(session))
    except Exception:  # a database outage must not take the metrics down with it
        return None


async def _mail_queue(runtime: Runtime) -> dict[str, int] | None:
    try:
        async with runtime.sessionmaker() as session:
            return await mail_service.queue_depth(session, now=runtime.clock.now())
    except Exception:  # as above
        return None


@router.get("/metrics", operation_id="ops-metrics", include_in_schema=True,
            response_class=Response, responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
async def metrics(runtime: AppRuntime) -> Response:
    """Prometheus text format. Expose it to the scraper only (the shipped nginx config denies it)."""
    live = await _count_live_rooms(runtime)
    if live is not None:
        runtime.metrics.rooms_live.set(live)
    queue = await _mail_queue(runtime)
    for state, count in (queue or {}).items():
        runtime.metrics.mail_queue.labels(state).set(count)
    return Response(generate_latest(runtime.metrics.registry), media_type=CONTENT_TYPE_LATEST)
