"""Assertions the appointment tests share: the contract's error body and Appointment shape."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

from tests.fixtures.assertions import assert_error  # noqa: F401 - re-exported for the tests
from tests.fixtures.factories import Person

URL = "/api/v1/appointments"
APPOINTMENT_KEYS = {
    "id", "doctor", "patient", "starts_at", "duration_minutes", "reason", "status",
    "created_at", "cancelled_at", "room_id",
}



def assert_utc(value: str) -> datetime:
    """An ISO 8601 time with an explicit UTC offset (``Z`` or ``+00:00``)."""
    assert value.endswith(("Z", "+00:00")), value
    parsed = datetime.fromisoformat(value)
    assert parsed.utcoffset() is not None and parsed.utcoffset().total_seconds() == 0
    return parsed


def assert_appointment(data: dict[str, Any], *, doctor: Person, patient: Person) -> None:
    """The contract's Appointment (extra keys are allowed: the contract may be extended)."""
    assert APPOINTMENT_KEYS <= set(data), data
    assert data["doctor"] == {"id": str(doctor.id), "full_name": doctor.full_name}
    assert data["patient"] == {"id": str(patient.id), "full_name": patient.full_name}
    assert_utc(data["starts_at"])
    assert_utc(data["created_at"])
    if data["cancelled_at"] is not None:
        assert_utc(data["cancelled_at"])
    assert data["status"] in {"scheduled", "in_progress", "completed", "cancelled", "missed"}


async def list_all(client: httpx.AsyncClient, person: Person, **params: Any) -> list[dict[str, Any]]:
    """One page of the person's own appointments (the tests stay under the page size)."""
    response = await client.get(URL, params=params, headers=person.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"items", "next_cursor"}
    return body["items"]


def ids(items: list[dict[str, Any]]) -> list[str]:
    return [item["id"] for item in items]
