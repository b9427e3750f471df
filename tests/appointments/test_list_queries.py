"""The list's new fields (check-in, unread count, last message, call, doctor busy) cost the same
few queries for a page of 3 or of 30: they are computed for the page, never per row."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from fastapi import FastAPI
from sqlalchemy import event

from televisit.runtime import runtime_of
from tests.appointments.helpers import URL


@contextmanager
def statements(app: FastAPI) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    engine = runtime_of(app).engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def queries_for_list(app, client, who) -> int:
    with statements(app) as seen:
        response = await client.get(URL, params={"limit": 100}, headers=who.headers)
        assert response.status_code == 200, response.text
    return len(seen)


async def test_the_list_costs_the_same_queries_whatever_its_size(app, client, factory):
    doctor = await factory.doctor()
    counts, booked = [], 0
    for size in (3, 30):
        while booked < size:
            patient = await factory.patient()
            visit = await factory.appointment(doctor, patient, starts_in=timedelta(minutes=10 + 40 * booked))
            # The rows have the extras to compute: a check-in and a call on the first, messages on all.
            if booked == 0:
                checked = await client.post(f"{URL}/{visit['id']}/check-in", headers=patient.headers,
                                            json={"checks": {"camera": "ok", "microphone": "ok",
                                                             "network": None}})
                assert checked.status_code == 200, checked.text
                call = await client.post(f"{URL}/{visit['id']}/call", headers=doctor.headers)
                assert call.status_code == 201, call.text
            sent = await client.post(f"{URL}/{visit['id']}/messages", headers=patient.headers,
                                     json={"client_msg_id": "m", "body": "hello"})
            assert sent.status_code == 201, sent.text
            booked += 1
        counts.append(await queries_for_list(app, client, doctor))
    items = (await client.get(URL, params={"limit": 100}, headers=doctor.headers)).json()["items"]
    assert len(items) == 30 and all(a["unread_count"] == 1 for a in items)
    assert items[0]["check_in"]["present"] is True and items[0]["call"] is not None
    assert counts[0] == counts[1], counts
