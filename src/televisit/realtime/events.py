"""Events are queued on the database session and published only after it commits."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from televisit.realtime.broker import Event

PENDING_KEY = "televisit_pending_events"

Publisher = Callable[[list[tuple[str, Event]]], Awaitable[None]]


def queue_event(session: AsyncSession | Session, channel: str, event: Event) -> None:
    session.info.setdefault(PENDING_KEY, []).append((channel, event))


def take_pending(session: AsyncSession) -> list[tuple[str, Event]]:
    pending: list[tuple[str, Event]] = session.info.pop(PENDING_KEY, [])
    return pending


def drop_pending(session: AsyncSession) -> None:
    session.info.pop(PENDING_KEY, None)
