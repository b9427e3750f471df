"""Audit records go in and come out; nothing here (or anywhere) changes or deletes one."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from televisit.audit.models import AuditEvent
from televisit.audit.schemas import AuditFilters
from televisit.core.db import keep_on_rollback
from televisit.core.pagination import after_key
from televisit.users.models import User


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """A record with who its actor is today (name and email; None once the account is gone)."""

    event: AuditEvent
    actor_name: str | None
    actor_email: str | None


class AuditRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, event: AuditEvent) -> None:
        """In the caller's transaction: the record exists exactly when the change does."""
        self.session.add(event)

    def add_kept(self, event: AuditEvent) -> None:
        """Written even if the caller's transaction rolls back (a refusal usually does)."""
        keep_on_rollback(self.session, event)

    async def page(self, filters: AuditFilters, *, after: tuple[datetime, uuid.UUID] | None,
                   limit: int) -> list[AuditEntry]:
        """Newest first, strictly after the keyset ``after`` (the last row of the previous page)."""
        stmt = _filtered(filters)
        if after is not None:
            stmt = stmt.where(after_key(AuditEvent.occurred_at, AuditEvent.id, after, descending=True))
        stmt = stmt.order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc()).limit(limit)
        rows = (await self.session.execute(stmt)).all()
        return [AuditEntry(event, name, email) for event, name, email in rows]


def _filtered(filters: AuditFilters) -> Select[AuditEvent, str, str]:
    """Each record with its actor's current name and email (None, outer join, once gone)."""
    stmt = select(AuditEvent, User.full_name, User.email).outerjoin(User, User.id == AuditEvent.actor_id)
    if filters.actor_id is not None:
        stmt = stmt.where(AuditEvent.actor_id == filters.actor_id)
    if filters.object_id is not None:
        stmt = stmt.where(AuditEvent.object_id == filters.object_id)
    if filters.action is not None:
        stmt = stmt.where(AuditEvent.action == filters.action.value)
    if filters.outcome is not None:
        stmt = stmt.where(AuditEvent.outcome == filters.outcome.value)
    if filters.occurred_from is not None:
        stmt = stmt.where(AuditEvent.occurred_at >= filters.occurred_from)
    if filters.occurred_to is not None:
        stmt = stmt.where(AuditEvent.occurred_at < filters.occurred_to)
    return stmt
