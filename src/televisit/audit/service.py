from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from televisit.audit.models import AuditEvent


async def record(
    session: AsyncSession,
    *,
    action: str,
    subject_type: str,
    subject_id: uuid.UUID | None,
    actor_id: uuid.UUID | None,
    now: datetime,
    data: dict[str, Any] | None = None,
) -> None:
    """Add an audit event to the current transaction (so it exists exactly when the change does)."""
    session.add(
        AuditEvent(occurred_at=now, actor_id=actor_id, action=action, subject_type=subject_type,
                   subject_id=subject_id, data=data)
    )
