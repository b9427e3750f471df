"""ensure_startable: when a call may begin, checked on plain Appointment objects (no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from televisit.appointments.models import Appointment, AppointmentStatus
from televisit.appointments.service import ensure_startable
from televisit.core.config import Settings
from televisit.core.errors import Conflict

STARTS = datetime(2030, 3, 4, 10, 0, tzinfo=UTC)
SETTINGS = Settings(call_early_minutes=15)


def appointment(status: AppointmentStatus = AppointmentStatus.scheduled, minutes: int = 30) -> Appointment:
    return Appointment(starts_at=STARTS, duration_minutes=minutes,
                       ends_at=STARTS + timedelta(minutes=minutes), status=status)


@pytest.mark.parametrize(
    ("status", "now"),
    [
        (AppointmentStatus.scheduled, STARTS - timedelta(minutes=15)),  # earliest allowed
        (AppointmentStatus.scheduled, STARTS),
        (AppointmentStatus.scheduled, STARTS + timedelta(minutes=29, seconds=59)),
        (AppointmentStatus.in_progress, STARTS + timedelta(minutes=10)),  # rejoining a live visit
    ],
    ids=["15-min-early", "on-time", "last-second", "in-progress"],
)
def test_startable(status, now):
    ensure_startable(appointment(status), settings=SETTINGS, now=now)


@pytest.mark.parametrize(
    ("status", "now", "code"),
    [
        (AppointmentStatus.scheduled, STARTS - timedelta(minutes=15, seconds=1), "appointment_too_early"),
        (AppointmentStatus.scheduled, STARTS - timedelta(days=1), "appointment_too_early"),
        (AppointmentStatus.scheduled, STARTS + timedelta(minutes=30), "appointment_not_startable"),
        (AppointmentStatus.in_progress, STARTS + timedelta(hours=2), "appointment_not_startable"),
        (AppointmentStatus.cancelled, STARTS, "appointment_not_startable"),
        (AppointmentStatus.cancelled, STARTS - timedelta(days=1), "appointment_not_startable"),
        (AppointmentStatus.missed, STARTS + timedelta(hours=1), "appointment_not_startable"),
        (AppointmentStatus.completed, STARTS + timedelta(minutes=30), "appointment_not_startable"),
    ],
    ids=["one-second-too-early", "a-day-early", "over", "in-progress-but-over", "cancelled",
         "cancelled-early", "missed", "completed-and-over"],
)
def test_not_startable(status, now, code):
    with pytest.raises(Conflict) as raised:
        ensure_startable(appointment(status), settings=SETTINGS, now=now)
    assert raised.value.code == code
    assert raised.value.status_code == 409


def test_a_completed_visit_can_be_called_again_inside_its_slot():
    ensure_startable(appointment(AppointmentStatus.completed), settings=SETTINGS,
                     now=STARTS + timedelta(minutes=5))


def test_early_window_follows_settings():
    now = STARTS - timedelta(minutes=20)
    with pytest.raises(Conflict):
        ensure_startable(appointment(), settings=SETTINGS, now=now)
    ensure_startable(appointment(), settings=Settings(call_early_minutes=30), now=now)
