"""What the audit API reads and answers: filters, one record, a page of them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from televisit.audit.models import Action, Outcome


@dataclass(frozen=True, slots=True)
class AuditFilters:
    """The same filters for the list and the CSV export; `occurred_to` is exclusive."""

    actor_id: uuid.UUID | None = None
    object_id: uuid.UUID | None = None
    action: Action | None = None
    outcome: Outcome | None = None
    occurred_from: datetime | None = None
    occurred_to: datetime | None = None

    def describe(self) -> dict[str, str]:
        """The filters that were set, as text (kept in the audit record of the read itself)."""
        names = {"occurred_from": "from", "occurred_to": "to"}
        values = {
            "actor_id": self.actor_id, "object_id": self.object_id, "action": self.action,
            "outcome": self.outcome, "occurred_from": self.occurred_from,
            "occurred_to": self.occurred_to,
        }
        return {
            names.get(k, k): v.isoformat() if isinstance(v, datetime) else str(v)
            for k, v in values.items() if v is not None
        }


class AuditEventPublic(BaseModel):
    model_config = {"from_attributes": True}

    id: uuid.UUID
    occurred_at: datetime
    actor_id: uuid.UUID | None
    actor_role: str | None
    actor_name: str | None = None
    actor_email: str | None = None
    action: str
    object_type: str
    object_id: uuid.UUID | None
    outcome: Outcome
    client_ip: str | None
    request_id: str | None
    user_agent: str | None
    data: dict[str, Any] | None


class AuditEventList(BaseModel):
    items: list[AuditEventPublic]
    next_cursor: str | None
