"""Calendar entries (RFC 5545, iTIP RFC 5546) attached to visit emails.

One UID per visit, so a calendar updates the same entry: REQUEST at booking (SEQUENCE 0) and
after each move, CANCEL with a higher SEQUENCE when it is called off. Times are in UTC; the
reader's calendar shows them in its own zone. The visit's reason is not in it: calendars are
often shared with colleagues and family, the email is not.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from icalendar import Alarm, Calendar, Event, vCalAddress

PRODID = "-//Televisit//Televisit visits//EN"
ALARM_BEFORE = timedelta(minutes=15)


@dataclass(frozen=True)
class Party:
    email: str
    name: str


@dataclass(frozen=True)
class CalendarEntry:
    method: Literal["REQUEST", "CANCEL"]
    uid: str
    sequence: int
    starts_at: datetime
    ends_at: datetime
    summary: str
    url: str
    organizer: Party
    attendee: Party
    stamp: datetime


def _address(party: Party, **params: str) -> vCalAddress:
    address = vCalAddress(f"mailto:{party.email}")
    address.params["CN"] = party.name
    for key, value in params.items():
        address.params[key] = value
    return address


def _alarm(summary: str) -> Alarm:
    alarm = Alarm()
    alarm.add("action", "DISPLAY")
    alarm.add("trigger", -ALARM_BEFORE)
    alarm.add("description", summary)
    return alarm


def render(entry: CalendarEntry) -> bytes:
    """The .ics file: one VEVENT, with a display alarm 15 minutes before unless cancelled."""
    cancelled = entry.method == "CANCEL"
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("method", entry.method)
    event = Event()
    event.add("uid", entry.uid)
    event.add("sequence", entry.sequence)
    event.add("dtstamp", entry.stamp)
    event.add("dtstart", entry.starts_at)
    event.add("dtend", entry.ends_at)
    event.add("summary", entry.summary)
    event.add("location", entry.url)
    event.add("url", entry.url)
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    event.add("organizer", _address(entry.organizer))
    event.add("attendee", _address(entry.attendee, ROLE="REQ-PARTICIPANT", PARTSTAT="ACCEPTED", RSVP="FALSE"))
    if not cancelled:
        event.add_component(_alarm(entry.summary))
    calendar.add_component(event)
    return bytes(calendar.to_ical())
