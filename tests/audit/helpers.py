"""What the audit and admin tests share: the trail read straight from the database, and the API."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from televisit.audit.models import AuditEvent
from televisit.core.db import session_scope
from televisit.runtime import runtime_of
from tests.fixtures.app import CLIENT_IP
from tests.fixtures.factories import Person

AUDIT = "/api/v1/admin/audit"
AUDIT_CSV = "/api/v1/admin/audit.csv"
USERS = "/api/v1/admin/users"

__all__ = ["AUDIT", "AUDIT_CSV", "CLIENT_IP", "USERS", "audit_rows", "one_row", "read_audit"]


async def audit_rows(app: FastAPI, **where: Any) -> list[AuditEvent]:
    """Records matching the equality filters (an id may be given as text), oldest first."""
    stmt = select(AuditEvent)
    for name, value in where.items():
        if name.endswith("_id") and isinstance(value, str) and name != "request_id":
            value = uuid.UUID(value)
        stmt = stmt.where(getattr(AuditEvent, name) == value)
    async with session_scope(runtime_of(app).sessionmaker) as session:
        rows = (await session.execute(stmt.order_by(AuditEvent.occurred_at, AuditEvent.id))).scalars()
        return list(rows)


async def one_row(app: FastAPI, **where: Any) -> AuditEvent:
    rows = await audit_rows(app, **where)
    assert len(rows) == 1, [(r.action, r.outcome, r.data) for r in rows]
    return rows[0]


async def read_audit(client: httpx.AsyncClient, admin: Person, **params: Any) -> dict[str, Any]:
    response = await client.get(AUDIT, params={k: str(v) for k, v in params.items()}, headers=admin.headers)
    assert response.status_code == 200, response.text
    return response.json()
