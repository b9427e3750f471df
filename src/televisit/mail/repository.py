"""Outbox queries. Every state change after a claim is conditional on the claim's token, so an
instance whose lease ran out (and whose row another instance took) cannot overwrite the result."""
from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Update, and_, bindparam, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from televisit.core.db import rowcount, table_of
from televisit.mail.models import MailKind, MailStatus, OutboxMessage

FINISHED = (MailStatus.sent, MailStatus.failed, MailStatus.cancelled, MailStatus.skipped)


@cache
def _refresh_statement() -> Update:
    """`refresh_pending`'s UPDATE, built once with its values bound (on the table, see
    `core.db.table_of`): every chat message runs it."""
    t = table_of(OutboxMessage)
    # A bound name may not be a column's: SQLAlchemy keeps those for the SET clause.
    return (update(t).where(t.c.kind == bindparam("of_kind", type_=t.c.kind.type),
                            t.c.recipient_id == bindparam("to_recipient", type_=t.c.recipient_id.type),
                            t.c.appointment_id == bindparam("about_visit", type_=t.c.appointment_id.type),
                            t.c.status == MailStatus.pending)
            .values(payload=bindparam("news", type_=t.c.payload.type)))


class OutboxRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, message: OutboxMessage) -> OutboxMessage:
        self.session.add(message)
        await self.session.flush()
        return message

    async def claim(self, *, token: str, now: datetime, until: datetime, limit: int) -> list[OutboxMessage]:
        """Take up to ``limit`` due rows for this instance until ``until``, exactly once.

        Due: pending rows whose time has come, and rows another instance claimed but whose lease
        ran out (it died, or lost its database, mid-send). PostgreSQL: the rows are locked with
        `FOR UPDATE SKIP LOCKED`, so concurrent claimers take disjoint sets without waiting.
        SQLite: one statement under its single write lock is atomic; the condition repeated in
        the UPDATE is what makes a second claimer find nothing.
        """
        m = OutboxMessage
        due = or_(and_(m.status == MailStatus.pending, m.not_before <= now),
                  and_(m.status == MailStatus.sending, m.claimed_until <= now))
        pick = select(m.id).where(due).order_by(m.not_before, m.id).limit(limit)
        if self.session.get_bind().dialect.name == "postgresql":
            pick = pick.with_for_update(skip_locked=True)
        stmt = (
            update(m).where(m.id.in_(pick.scalar_subquery()), due)
            .values(status=MailStatus.sending, claim_token=token, claimed_until=until,
                    attempts=m.attempts + 1)
            .returning(m)
            .execution_options(synchronize_session=False)
        )
        rows = list((await self.session.execute(stmt)).scalars())
        return sorted(rows, key=lambda r: (r.not_before, r.id))

    async def finish(self, message_id: uuid.UUID, *, token: str, values: dict[str, Any]) -> bool:
        """Record the outcome of a claimed row; False if the claim was lost meanwhile."""
        m = OutboxMessage
        stmt = (
            update(m).where(m.id == message_id, m.claim_token == token, m.status == MailStatus.sending)
            .values(claim_token=None, claimed_until=None, **values)
            .execution_options(synchronize_session=False)
        )
        result = await self.session.execute(stmt)
        return bool(rowcount(result))

    async def cancel_pending(self, *, appointment_id: uuid.UUID, kinds: Sequence[MailKind]) -> None:
        m = OutboxMessage
        stmt = (
            update(m).where(m.appointment_id == appointment_id, m.kind.in_(kinds),
                            m.status == MailStatus.pending)
            .values(status=MailStatus.cancelled)
            .execution_options(synchronize_session=False)
        )
        await self.session.execute(stmt)

    async def refresh_pending(self, *, kind: MailKind, recipient_id: uuid.UUID, appointment_id: uuid.UUID,
                              payload: dict[str, Any]) -> bool:
        """Fold news into a waiting row of the same conversation; False if none waits."""
        result = await self.session.execute(_refresh_statement(), {
            "of_kind": kind, "to_recipient": recipient_id, "about_visit": appointment_id, "news": payload})
        return bool(rowcount(result))

    async def written_since(self, *, kind: MailKind, recipient_id: uuid.UUID, since: datetime) -> bool:
        """Whether a message of this kind to this person was written after ``since``."""
        m = OutboxMessage
        stmt = select(m.id).where(m.kind == kind, m.recipient_id == recipient_id,
                                  m.created_at > since).limit(1)
        return (await self.session.execute(stmt)).first() is not None

    async def depth(self, *, now: datetime) -> dict[str, int]:
        m = OutboxMessage
        is_due = m.not_before <= now
        stmt = (
            select(m.status, is_due, func.count())
            .where(m.status.in_((MailStatus.pending, MailStatus.sending)))
            .group_by(m.status, is_due)
        )
        counts = {"due": 0, "scheduled": 0, "sending": 0}
        for status, due, count in (await self.session.execute(stmt)).all():
            key = "sending" if status == MailStatus.sending else ("due" if due else "scheduled")
            counts[key] += int(count)
        return counts

    async def prune(self, *, before: datetime) -> None:
        m = OutboxMessage
        await self.session.execute(
            delete(m).where(m.status.in_(FINISHED), m.created_at < before)
            .execution_options(synchronize_session=False)
        )
