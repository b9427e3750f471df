"""What the mail tests share: running the sender by hand and reading the outbox."""

from __future__ import annotations

import email.policy
import re
from email.message import EmailMessage
from typing import Any

import httpx
import icalendar
from fastapi import FastAPI
from sqlalchemy import select

from televisit.mail.models import OutboxMessage
from televisit.runtime import runtime_of
from tests.fixtures.factories import Person
from tests.mail.smtp import Inbox


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


JOIN_LINK = re.compile(r"(https?://[^\s\"'<>]+/join#([A-Za-z0-9_-]{43}))")
RESET_LINK = re.compile(r"(https?://[^\s\"'<>]+/reset#([A-Za-z0-9_-]{43}))")


def join_link(text: str) -> tuple[str, str]:
    """The one join link in a message body: (the whole link, its token)."""
    found = set(JOIN_LINK.findall(text))
    assert len(found) == 1, found
    return found.pop()


def reset_link(text: str) -> tuple[str, str]:
    found = set(RESET_LINK.findall(text))
    assert len(found) == 1, found
    return found.pop()


async def open_join_link(client: httpx.AsyncClient, token: str) -> httpx.Response:
    """What the join page does with the link's token: post it in the body."""
    return await client.post("/api/v1/auth/join", json={"token": token})


def messages_to(inbox: Inbox, address: str) -> list[EmailMessage]:
    """What reached this address, in the order the server received it."""
    return [r.message for r in inbox.received if r.rcpt_tos == [address]]


async def emailed_join_token(app: FastAPI, inbox: Inbox, address: str) -> str:
    """Send what is due, then take the join link from the newest message to ``address`` that has
    one, as the patient would: the token after `#`."""
    await drain(app)
    for message in reversed(messages_to(inbox, address)):
        found = JOIN_LINK.findall(text_of(message))
        if found:
            return str(found[-1][1])
    raise AssertionError(f"no join link was emailed to {address}")


async def emailed_reset_token(app: FastAPI, inbox: Inbox, address: str) -> str:
    await drain(app)
    for message in reversed(messages_to(inbox, address)):
        found = RESET_LINK.findall(text_of(message))
        if found:
            return str(found[-1][1])
    raise AssertionError(f"no password link was emailed to {address}")
