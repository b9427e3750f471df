"""The audit trail for admins: a filtered, paginated list and the same as a CSV download."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from televisit.admin.deps import AuditedAdmin
from televisit.audit import service
from televisit.audit.models import Action, Outcome
from televisit.audit.schemas import AuditEventList, AuditFilters
from televisit.core.deps import NowDep, RuntimeDep, SessionDep
from televisit.core.pagination import INVALID_CURSOR, Cursor, Limit
from televisit.core.schemas import INVALID_RANGE, IsoDateTime, errors

router = APIRouter(prefix="/admin", tags=["admin"])


def audit_filters(
    actor_id: Annotated[uuid.UUID | None, Query(description="Who acted (a user id).")] = None,
    object_id: Annotated[uuid.UUID | None, Query(description="What it was done to: a visit, a user.")] = None,
    action: Action | None = None,
    outcome: Outcome | None = None,
    occurred_from: Annotated[IsoDateTime | None, Query(alias="from", description="Inclusive.")] = None,
    occurred_to: Annotated[IsoDateTime | None, Query(alias="to", description="Exclusive.")] = None,
) -> AuditFilters:
    return AuditFilters(actor_id=actor_id, object_id=object_id, action=action, outcome=outcome,
                        occurred_from=occurred_from, occurred_to=occurred_to)


FiltersDep = Annotated[AuditFilters, Depends(audit_filters)]

CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The records as CSV, newest first (cells that a spreadsheet would run as a "
                       "formula start with a quote).",
        "content": {"text/csv": {"schema": {"type": "string"}}},
    },
    **errors(400, 401, 403, 422, refusals={400: INVALID_RANGE}),
}


@router.get("/audit", operation_id="admin-audit-list",
            responses=errors(400, 401, 403, 422, refusals={400: INVALID_CURSOR | INVALID_RANGE}))
async def list_audit(
    admin: AuditedAdmin, session: SessionDep, now: NowDep, filters: FiltersDep,
    cursor: Cursor = None, limit: Limit = 50,
) -> AuditEventList:
    """Who did what, when and from where, newest first."""
    items, next_cursor = await service.list_events(
        session, reader=admin, filters=filters, cursor=cursor, limit=limit, now=now
    )
    return AuditEventList(items=items, next_cursor=next_cursor)


@router.get("/audit.csv", operation_id="admin-audit-export", response_class=StreamingResponse,
            responses=CSV_RESPONSE)
async def export_audit(
    admin: AuditedAdmin, session: SessionDep, runtime: RuntimeDep, now: NowDep, filters: FiltersDep
) -> StreamingResponse:
    """Every record matching the filters, as CSV, streamed."""
    chunks = await service.export_csv(session, reader=admin, filters=filters,
                                      open_session=runtime.session, now=now)
    name = f"televisit-audit-{now.strftime('%Y%m%dT%H%M%SZ')}.csv"
    return StreamingResponse(chunks, media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="{name}"',
                                      "Cache-Control": "no-store"})

