"""Mail rules: what a change puts in the outbox (in the caller's transaction), and what becomes of
a claimed row. Adding a kind of message is one payload model, one template pair and one
`enqueue` call in the service whose change causes it."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from televisit.appointments.models import Appointment
from televisit.core.config import Settings
from televisit.mail.models import MailKind, MailStatus, OutboxMessage
from televisit.mail.repository import OutboxRepository
from televisit.mail.schemas import (
    CancellationMail,
    ChangeMail,
    InvitationMail,
    LinkMail,
    MessageNoticeMail,
    Payload,
    ReminderMail,
    payload_type,
)
from televisit.users.models import Role

# A burst of chat messages makes one email, this long after its first message.
NOTICE_DELAY = timedelta(minutes=5)
# Finished rows (sent, failed, cancelled, skipped) are kept this long for inspection, then deleted.
RETENTION = timedelta(days=30)
MAX_RETRY_DELAY = 3600.0


async def enqueue(
    session: AsyncSession, *, kind: MailKind, recipient_id: uuid.UUID, payload: Payload, now: datetime,
    appointment_id: uuid.UUID | None = None, not_before: datetime | None = None,
) -> OutboxMessage:
    """Put one message in the outbox; it exists exactly when the caller's transaction commits."""
    due = not_before or now
    return await OutboxRepository(session).add(OutboxMessage(
        kind=kind, recipient_id=recipient_id, appointment_id=appointment_id,
        payload=payload.model_dump(mode="json"), status=MailStatus.pending, due_at=due, not_before=due,
        attempts=0, created_at=now,
    ))


async def enqueue_at_most_once(
    session: AsyncSession, *, kind: MailKind, recipient_id: uuid.UUID, payload: Payload,
    within: timedelta, now: datetime,
) -> bool:
    """Enqueue unless a message of this kind went to this person in the last ``within`` (a notice
    that must not become a way to flood someone's inbox); whether it was enqueued. The caller holds
    the recipient's row lock, so two requests cannot both find none."""
    if await OutboxRepository(session).written_since(kind=kind, recipient_id=recipient_id,
                                                     since=now - within):
        return False
    await enqueue(session, kind=kind, recipient_id=recipient_id, payload=payload, now=now)
    return True


def _snapshot(appointment: Appointment) -> dict[str, object]:
    return {"sequence": appointment.sequence, "starts_at": appointment.starts_at,
            "duration_minutes": appointment.duration_minutes}


async def _schedule_reminders(session: AsyncSession, appointment: Appointment, *, settings: Settings,
                              now: datetime) -> None:
    """One row per offset still ahead, each due at its own time: a restart cannot send one twice."""
    for minutes in settings.reminder_offsets:
        due = appointment.starts_at - timedelta(minutes=minutes)
        if due > now:
            await enqueue(session, kind=MailKind.reminder, recipient_id=appointment.patient_id,
                          appointment_id=appointment.id, not_before=due, now=now,
                          payload=ReminderMail.model_validate({**_snapshot(appointment),
                                                               "offset_minutes": minutes}))


async def visit_booked(session: AsyncSession, *, appointment: Appointment, settings: Settings,
                       now: datetime) -> None:
    """The patient's invitation (with the calendar entry) and reminders."""
    await enqueue(session, kind=MailKind.invitation, recipient_id=appointment.patient_id,
                  appointment_id=appointment.id, now=now,
                  payload=InvitationMail.model_validate(_snapshot(appointment)))
    await _schedule_reminders(session, appointment, settings=settings, now=now)


async def visit_moved(session: AsyncSession, *, appointment: Appointment, previous_starts_at: datetime,
                      previous_duration_minutes: int, settings: Settings, now: datetime) -> None:
    """The doctor moved the visit: the patient is told; reminders follow the new time."""
    await OutboxRepository(session).cancel_pending(appointment_id=appointment.id, kinds=[MailKind.reminder])
    await enqueue(session, kind=MailKind.change, recipient_id=appointment.patient_id,
                  appointment_id=appointment.id, now=now,
                  payload=ChangeMail.model_validate({
                      **_snapshot(appointment), "previous_starts_at": previous_starts_at,
                      "previous_duration_minutes": previous_duration_minutes}))
    await _schedule_reminders(session, appointment, settings=settings, now=now)


async def visit_cancelled(session: AsyncSession, *, appointment: Appointment, cancelled_by: uuid.UUID,
                          now: datetime) -> None:
    """The other party is told; reminders not yet sent are withdrawn."""
    await OutboxRepository(session).cancel_pending(appointment_id=appointment.id, kinds=[MailKind.reminder])
    by_doctor = cancelled_by == appointment.doctor_id
    await enqueue(session, kind=MailKind.cancellation, appointment_id=appointment.id, now=now,
                  recipient_id=appointment.patient_id if by_doctor else appointment.doctor_id,
                  payload=CancellationMail.model_validate({
                      **_snapshot(appointment),
                      "cancelled_by": Role.doctor if by_doctor else Role.patient}))


async def message_posted(session: AsyncSession, *, appointment: Appointment, sender_id: uuid.UUID,
                         now: datetime) -> None:
    """A "you have a new message" email, once per burst, unless the recipient reads it meanwhile.

    The caller holds the conversation's row lock, so two messages cannot both find no waiting
    row and both add one. Whether the recipient was connected is decided when it is due.
    """
    recipient = appointment.patient_id if sender_id == appointment.doctor_id else appointment.doctor_id
    payload = MessageNoticeMail(sender_id=sender_id, last_message_at=now)
    repo = OutboxRepository(session)
    if await repo.refresh_pending(kind=MailKind.message_notice, recipient_id=recipient,
                                  appointment_id=appointment.id, payload=payload.model_dump(mode="json")):
        return
    await enqueue(session, kind=MailKind.message_notice, recipient_id=recipient,
                  appointment_id=appointment.id, payload=payload, not_before=now + NOTICE_DELAY, now=now)


# -- the sender's side -------------------------------------------------------------------------

async def claim(session: AsyncSession, *, token: str, settings: Settings,
                now: datetime) -> list[OutboxMessage]:
    until = now + timedelta(seconds=settings.mail_lease)
    return await OutboxRepository(session).claim(token=token, now=now, until=until,
                                                 limit=settings.mail_batch_size)


def _finished(message: OutboxMessage, values: dict[str, object]) -> dict[str, object]:
    """A link message's payload may hold a one-time token: it goes when the row is done."""
    if payload_type(message.kind) is LinkMail:
        return {**values, "payload": {}}
    return values


async def mark_sent(session: AsyncSession, *, message: OutboxMessage, token: str, now: datetime) -> bool:
    return await OutboxRepository(session).finish(message.id, token=token, values=_finished(
        message, {"status": MailStatus.sent, "sent_at": now, "last_error": None}))


async def mark_skipped(session: AsyncSession, *, message: OutboxMessage, token: str, why: str) -> bool:
    return await OutboxRepository(session).finish(message.id, token=token, values=_finished(
        message, {"status": MailStatus.skipped, "last_error": why[:200]}))


def gives_up(message: OutboxMessage, *, settings: Settings, now: datetime) -> bool:
    """Too many attempts, or too late to be of use (a visit reminder two days late helps nobody)."""
    too_old = now - message.due_at >= timedelta(seconds=settings.mail_max_age)
    return message.attempts >= settings.mail_max_attempts or too_old


async def mark_failed_attempt(
    session: AsyncSession, *, message: OutboxMessage, token: str, error: str, permanent: bool,
    settings: Settings, now: datetime,
) -> MailStatus:
    """Retry later with exponential backoff, or give up; returns which."""
    if permanent or gives_up(message, settings=settings, now=now):
        await OutboxRepository(session).finish(message.id, token=token, values=_finished(
            message, {"status": MailStatus.failed, "last_error": error[:200]}))
        return MailStatus.failed
    delay = min(settings.mail_retry_base * 2 ** max(message.attempts - 1, 0), MAX_RETRY_DELAY)
    await OutboxRepository(session).finish(message.id, token=token, values={
        "status": MailStatus.pending, "not_before": now + timedelta(seconds=delay),
        "last_error": error[:200]})
    return MailStatus.pending


async def release(session: AsyncSession, *, message: OutboxMessage, token: str) -> None:
    """Give back a claimed row that was not tried (the lease is running out): no attempt counted."""
    await OutboxRepository(session).finish(message.id, token=token, values={
        "status": MailStatus.pending, "attempts": max(message.attempts - 1, 0)})


async def queue_depth(session: AsyncSession, *, now: datetime) -> dict[str, int]:
    return await OutboxRepository(session).depth(now=now)


async def prune(session: AsyncSession, *, now: datetime) -> None:
    await OutboxRepository(session).prune(before=now - RETENTION)
