"""Recording what people do, and reading it back (admins only, through the API).

Other domains call `record(...)` where the thing happens, in the same transaction: a change that
rolls back leaves no record claiming it happened. A refusal or a failure is recorded with
`outcome` denied or failed and is written even though its request rolls back.
"""

from __future__ import annotations

import csv
import enum
import io
import json
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from televisit.audit import context
from televisit.audit.models import Action, AuditEvent, Outcome
from televisit.audit.repository import AuditEntry, AuditRepository
from televisit.audit.schemas import AuditEventPublic, AuditFilters
from televisit.core.errors import BadRequest
from televisit.core.pagination import page, time_key

EXPORT_BATCH = 500
CSV_COLUMNS = (
    "id", "occurred_at", "actor_id", "actor_role", "actor_name", "actor_email", "action", "object_type",
    "object_id", "outcome", "client_ip", "request_id", "user_agent", "data",
)
# A spreadsheet runs a cell that starts with one of these as a formula (OWASP "CSV injection").
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

SessionOpener = Callable[[], AbstractAsyncContextManager[AsyncSession]]


class Actor(Protocol):
    """Who acts: a `User`, or an `ActorRef` where only the id and role are at hand."""

    @property
    def id(self) -> uuid.UUID: ...

    @property
    def role(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class ActorRef:
    id: uuid.UUID
    role: str | None = None


async def record(
    session: AsyncSession,
    *,
    action: Action,
    actor: Actor | None,
    object_type: str,
    object_id: uuid.UUID | None,
    now: datetime,
    outcome: Outcome = Outcome.success,
    data: Mapping[str, object] | None = None,
) -> None:
    """Add one record. ``data`` holds filters, counts, reasons and ids, never a body or a token."""
    origin = context.current()
    event = AuditEvent(
        id=uuid.uuid4(), occurred_at=now, actor_id=actor.id if actor else None,
        actor_role=str(actor.role) if actor and actor.role else None, action=action.value,
        object_type=object_type, object_id=object_id, outcome=outcome.value,
        client_ip=origin.client_ip, request_id=origin.request_id, user_agent=origin.user_agent,
        data={k: _plain(v) for k, v in data.items()} if data else None,
    )
    repo = AuditRepository(session)
    if outcome == Outcome.success:
        repo.add(event)
    else:
        repo.add_kept(event)


def _plain(value: object) -> object:
    """JSON-ready: ids, times and enums as text."""
    if isinstance(value, uuid.UUID | enum.Enum):
        return str(value.value if isinstance(value, enum.Enum) else value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


async def list_events(
    session: AsyncSession, *, reader: Actor, filters: AuditFilters, cursor: str | None, limit: int,
    now: datetime,
) -> tuple[list[AuditEventPublic], str | None]:
    """A page of records, newest first; the read is itself recorded (one record per page)."""
    _check_range(filters)
    after = time_key(cursor) if cursor else None
    entries = await AuditRepository(session).page(filters, after=after, limit=limit + 1)
    entries, next_cursor = page(entries, limit, lambda e: (e.event.occurred_at, e.event.id))
    await record(session, action=Action.admin_audit_list, actor=reader, object_type="audit",
                 object_id=None, now=now,
                 data={"filters": filters.describe(), "page": bool(cursor), "count": len(entries)})
    return [_public(e) for e in entries], next_cursor


async def export_csv(
    session: AsyncSession, *, reader: Actor, filters: AuditFilters, open_session: SessionOpener,
    now: datetime,
) -> AsyncIterator[str]:
    """Record the export, and return the CSV text as it is read, a batch per short transaction
    (the export can be long; no transaction stays open while the client downloads)."""
    _check_range(filters)
    await record(session, action=Action.admin_audit_export, actor=reader, object_type="audit",
                 object_id=None, now=now, data={"filters": filters.describe()})
    return _csv_chunks(filters, open_session)


async def _csv_chunks(filters: AuditFilters, open_session: SessionOpener) -> AsyncIterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    after: tuple[datetime, uuid.UUID] | None = None
    while True:
        async with open_session() as session:
            entries = await AuditRepository(session).page(filters, after=after, limit=EXPORT_BATCH)
        writer.writerows(_csv_row(e) for e in entries)
        yield _take(buffer)
        if len(entries) < EXPORT_BATCH:
            return
        last = entries[-1].event
        after = (last.occurred_at, last.id)


def _take(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text


def _csv_row(entry: AuditEntry) -> list[str]:
    e = entry.event
    values = (
        e.id, e.occurred_at.isoformat().replace("+00:00", "Z"), e.actor_id, e.actor_role,
        entry.actor_name, entry.actor_email,
        e.action, e.object_type, e.object_id, e.outcome, e.client_ip, e.request_id, e.user_agent,
        json.dumps(e.data, sort_keys=True, separators=(",", ":")) if e.data else None,
    )
    return [safe_cell(v) for v in values]


def safe_cell(value: object) -> str:
    """A CSV cell a spreadsheet shows as text: a leading formula character gets a quote first."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def _public(entry: AuditEntry) -> AuditEventPublic:
    public = AuditEventPublic.model_validate(entry.event)
    public.actor_name, public.actor_email = entry.actor_name, entry.actor_email
    return public


def _check_range(filters: AuditFilters) -> None:
    start, end = filters.occurred_from, filters.occurred_to
    if start is not None and end is not None and start >= end:
        raise BadRequest("`from` must be before `to`.", code="invalid_range")

