"""From an outbox row to an email: read who and what now, render, or say why not to send it.

Names, addresses and time zones are read when the message is sent (a changed address is
honoured); the time a visit message speaks of is the one in its row (each message describes its
own moment). The Message-ID is the row's id, so a message sent again after a crash is the same
message to the receiving servers and clients that deduplicate by it.
"""
from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, parseaddr
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from televisit.appointments import service as appointments
from televisit.appointments.models import Appointment, AppointmentStatus
from televisit.auth import links, reset
from televisit.core.config import Settings
from televisit.core.errors import NotFound
from televisit.mail import ics
from televisit.mail.models import MailKind, OutboxMessage
from televisit.mail.render import render
from televisit.mail.schemas import (
    CancellationMail,
    ChangeMail,
    InvitationMail,
    LinkMail,
    MessageNoticeMail,
    PasswordMail,
    ReminderMail,
    VisitSnapshot,
    payload_of,
)
from televisit.users import service as users
from televisit.users.models import Role, User

# When was this person last connected (any instance)? None: not known to have been.
LastSeen = Callable[[uuid.UUID], Awaitable[datetime | None]]
CALENDAR_METHOD = {MailKind.invitation: "REQUEST", MailKind.change: "REQUEST",
                   MailKind.cancellation: "CANCEL"}
# What the patient opens the visit with: its join link (no password needed) in these messages.
JOIN_LINK_KINDS = (MailKind.invitation, MailKind.change, MailKind.reminder, MailKind.message_notice)


@dataclass(frozen=True)
class Skip:
    """Not to be sent; ``why`` is recorded on the row (no address, no content)."""

    why: str


@dataclass(frozen=True)
class Outgoing:
    message: EmailMessage
    recipient: str


def format_when(at: datetime, zone_name: str) -> str:
    """`Monday 4 March 2030, 10:00 (CET, Europe/Berlin)`: unambiguous on any phone, in any locale."""
    local = at.astimezone(ZoneInfo(zone_name))
    zone = local.tzname() or zone_name
    where = zone if zone == zone_name else f"{zone}, {zone_name}"
    return f"{local:%A} {local.day} {local:%B} {local.year}, {local:%H:%M} ({where})"


def format_short(at: datetime, zone_name: str) -> str:
    local = at.astimezone(ZoneInfo(zone_name))
    return f"{local:%a} {local.day} {local:%b}, {local:%H:%M} {local.tzname() or zone_name}"


def in_words(minutes: int) -> str:
    if minutes % 1440 == 0:
        days = minutes // 1440
        return "tomorrow" if days == 1 else f"in {days} days"
    if minutes % 60 == 0:
        return f"in {minutes // 60} hour{'s' if minutes > 60 else ''}"
    return f"in {minutes} minutes"


def _domain(settings: Settings) -> str:
    address = parseaddr(settings.effective_mail_from)[1]
    return address.rpartition("@")[2] or "localhost"


def _headers(message: EmailMessage, row: OutboxMessage, *, recipient: User, subject: str,
             settings: Settings) -> None:
    message["From"] = settings.effective_mail_from
    message["To"] = formataddr((recipient.full_name, recipient.email))
    message["Subject"] = subject
    message["Date"] = format_datetime(row.due_at)
    message["Message-ID"] = f"<{row.id}@{_domain(settings)}>"
    # RFC 3834: no vacation auto-replies to a machine's message.
    message["Auto-Submitted"] = "auto-generated"


def build(row: OutboxMessage, *, recipient: User, context: dict[str, Any], settings: Settings,
          calendar: bytes | None = None, method: str | None = None) -> Outgoing:
    rendered = render(str(row.kind), {**context, "clinic_name": settings.clinic_name,
                                       "recipient_name": recipient.full_name})
    message = EmailMessage()
    _headers(message, row, recipient=recipient, subject=rendered.subject, settings=settings)
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    if calendar is not None:
        message.add_attachment(calendar.decode(), subtype="calendar", filename="invite.ics",
                               params={"method": method or "REQUEST"})
    return Outgoing(message=message, recipient=recipient.email)


async def _link(session: AsyncSession, row: OutboxMessage, *, appointment_id: uuid.UUID,
                patient_id: uuid.UUID, recipient: User, settings: Settings, now: datetime) -> str:
    """The visit's join link for its patient (invitation, change, reminders, message notices);
    the visit's page, which needs a sign-in, for the doctor, a cancellation, or once it expired."""
    if row.kind in JOIN_LINK_KINDS and recipient.id == patient_id:
        url = await links.current_url(session, settings=settings, appointment_id=appointment_id,
                                      patient_id=patient_id, now=now)
        if url is not None:
            return url
    return appointments.visit_url(settings, appointment_id)


def _calendar(row: OutboxMessage, visit: Appointment, snapshot: VisitSnapshot, *, recipient: User,
              settings: Settings, link: str) -> bytes:
    starts = snapshot.starts_at
    doctor = visit.doctor
    return ics.render(ics.CalendarEntry(
        method="CANCEL" if row.kind == MailKind.cancellation else "REQUEST",
        uid=f"{visit.id}@{urlsplit(settings.effective_public_url).hostname or 'televisit'}",
        sequence=snapshot.sequence, starts_at=starts,
        ends_at=starts + timedelta(minutes=snapshot.duration_minutes),
        summary=f"Video visit with {doctor.full_name} ({settings.clinic_name})",
        url=link,
        organizer=ics.Party(email=parseaddr(settings.effective_mail_from)[1], name=settings.clinic_name),
        attendee=ics.Party(email=recipient.email, name=recipient.full_name), stamp=row.created_at,
    ))


def _visit_context(visit: Appointment, snapshot: VisitSnapshot, *, recipient: User,
                   link: str) -> dict[str, Any]:
    is_patient = recipient.id == visit.patient_id
    other = visit.doctor if is_patient else visit.patient
    zone = recipient.time_zone
    return {
        "other_name": other.full_name, "duration_minutes": snapshot.duration_minutes,
        "when": format_when(snapshot.starts_at, zone), "when_short": format_short(snapshot.starts_at, zone),
        # The reason is the patient's own health data: to the patient's own address, never a subject.
        # Only the invitation carries it; later messages point to the visit instead.
        "reason": visit.reason if is_patient and isinstance(snapshot, InvitationMail) else None,
        "link": link, "link_label": "Open your visit",
    }


def _still_relevant(visit: Appointment, snapshot: VisitSnapshot) -> str | None:
    """Why a reminder no longer applies (the visit was cancelled, moved or held), else None."""
    if not isinstance(snapshot, ReminderMail):
        return None
    if visit.status != AppointmentStatus.scheduled:
        return f"visit {visit.status}"
    if visit.starts_at != snapshot.starts_at or visit.sequence != snapshot.sequence:
        return "visit moved"
    return None


async def _visit_mail(session: AsyncSession, row: OutboxMessage, snapshot: VisitSnapshot, *,
                      recipient: User, settings: Settings, now: datetime) -> Outgoing | Skip:
    if row.appointment_id is None:
        return Skip("no visit")
    try:
        visit = await appointments.get(session, appointment_id=row.appointment_id)
    except NotFound:
        return Skip("visit gone")
    if (why := _still_relevant(visit, snapshot)) is not None:
        return Skip(why)
    link = await _link(session, row, appointment_id=visit.id, patient_id=visit.patient_id,
                       recipient=recipient, settings=settings, now=now)
    context = _visit_context(visit, snapshot, recipient=recipient, link=link)
    if isinstance(snapshot, ChangeMail):
        context["previous_when"] = format_when(snapshot.previous_starts_at, recipient.time_zone)
        context["previous_duration_minutes"] = snapshot.previous_duration_minutes
    if isinstance(snapshot, ReminderMail):
        context["in_words"] = in_words(snapshot.offset_minutes)
    # Calendar entries go to the patient, who got the first one; the doctor books in the app.
    calendar = None
    if row.kind in CALENDAR_METHOD and recipient.id == visit.patient_id:
        calendar = _calendar(row, visit, snapshot, recipient=recipient, settings=settings, link=link)
    if isinstance(snapshot, CancellationMail):
        context["calendar"] = calendar is not None
    return build(row, recipient=recipient, context=context, settings=settings, calendar=calendar,
                 method=CALENDAR_METHOD.get(row.kind))


async def _notice(session: AsyncSession, row: OutboxMessage, notice: MessageNoticeMail, *, recipient: User,
                  settings: Settings, last_seen: LastSeen, now: datetime) -> Outgoing | Skip:
    seen = await last_seen(recipient.id)
    if seen is not None and seen >= notice.last_message_at:
        return Skip("recipient was connected after the message")
    sender = await users.get_active(session, user_id=notice.sender_id)
    if sender is None or row.appointment_id is None:
        return Skip("sender gone")
    # A visit has one doctor and one patient: a doctor wrote to the patient, or the reverse.
    patient_id = recipient.id if sender.role == Role.doctor else sender.id
    link = await _link(session, row, appointment_id=row.appointment_id, patient_id=patient_id,
                       recipient=recipient, settings=settings, now=now)
    context = {"other_name": sender.full_name, "link": link, "link_label": "Read the message"}
    return build(row, recipient=recipient, context=context, settings=settings)


async def compose(session: AsyncSession, row: OutboxMessage, *, settings: Settings,
                  last_seen: LastSeen, now: datetime) -> Outgoing | Skip:
    """The email for ``row``, or why it is not to be sent."""
    recipient = await users.get_active(session, user_id=row.recipient_id)
    if recipient is None:
        return Skip("recipient inactive")
    payload = payload_of(row.kind, row.payload)
    if isinstance(payload, MessageNoticeMail):
        return await _notice(session, row, payload, recipient=recipient, settings=settings,
                             last_seen=last_seen, now=now)
    if isinstance(payload, VisitSnapshot):
        return await _visit_mail(session, row, payload, recipient=recipient, settings=settings, now=now)
    if isinstance(payload, PasswordMail):
        context = {"link": reset.url_for(settings, payload.reset_id), "valid_minutes": payload.valid_minutes,
                   "link_label": "Choose your password" if row.kind == MailKind.set_password
                   else "Choose a new password"}
        return build(row, recipient=recipient, context=context, settings=settings)
    if isinstance(payload, LinkMail):
        context = {"link": f"{settings.effective_public_url}{payload.link_path}",
                   "link_label": payload.link_label, "valid_minutes": payload.valid_minutes}
        return build(row, recipient=recipient, context=context, settings=settings)
    return Skip(f"no composer for {row.kind}")

