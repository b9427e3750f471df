"""What the mail tests share: running the sender by hand and reading the outbox."""

from __future__ import annotations

import email.policy
from email.message import EmailMessage
from typing import Any

import httpx
import icalendar
from fastapi import FastAPI
from sqlalchemy import select

from televisit.mail.models import OutboxMessage
from televisit.runtime import runtime_of
from tests.fixtures.factories import Person


async def drain(app: FastAPI, rounds: int = 10) -> int:
    """Run the app's sender until nothing is due; returns how many rows it claimed."""
    total = 0
    for _ in range(rounds):
        claimed = await runtime_of(app).mail.run_once()
        total += claimed
        if not claimed:
            break
    return total


async def outbox(app: FastAPI) -> list[OutboxMessage]:
    async with runtime_of(app).sessionmaker() as session:
        rows = await session.scalars(select(OutboxMessage).order_by(OutboxMessage.created_at,
                                                                    OutboxMessage.not_before))
        return list(rows)


async def set_time_zone(client: httpx.AsyncClient, person: Person, zone: str) -> None:
    response = await client.patch("/api/v1/me", json={"time_zone": zone}, headers=person.headers)
    assert response.status_code == 200, response.text


def text_of(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def html_of(message: EmailMessage) -> str:
    part = message.get_body(("html",))
    assert part is not None
    return str(part.get_content())


def calendar_of(message: EmailMessage) -> tuple[icalendar.Calendar, Any, EmailMessage]:
    """The .ics attachment, parsed: (calendar, its one VEVENT, the MIME part)."""
    parts = [p for p in message.iter_attachments() if p.get_content_type() == "text/calendar"]
    assert len(parts) == 1, [p.get_content_type() for p in message.iter_attachments()]
    part = parts[0]
    assert isinstance(part, EmailMessage)
    calendar = icalendar.Calendar.from_ical(part.get_content())
    events = list(calendar.walk("VEVENT"))
    assert len(events) == 1
    return calendar, events[0], part


def has_calendar(message: EmailMessage) -> bool:
    return any(p.get_content_type() == "text/calendar" for p in message.iter_attachments())


def reparse(raw: bytes) -> EmailMessage:
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed
