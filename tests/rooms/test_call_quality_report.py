"""A call's quality summary (POST /appointments/{id}/quality): who may send it, bad input that
changes nothing, and the `quality` event it leaves in the visit's log, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from televisit.appointments.models import AppointmentEvent
from televisit.audit.models import Action, AuditEvent, Outcome
from televisit.runtime import runtime_of
from tests.fixtures.factories import Person
from tests.signaling.helpers import assert_error, make_visit, start_call

URL = "/api/v1/appointments"
REPORT: dict[str, Any] = {"duration_seconds": 754, "path": "relay", "rtt_ms": 83, "loss_percent": 1.5,
                          "bitrate_kbps": 1240, "freezes": 2, "reconnects": 1,
                          "audio_only_seconds": 95}


async def report(client: httpx.AsyncClient, visit_id: str, who: Person | None,
                 body: Any = None) -> httpx.Response:
    return await client.post(f"{URL}/{visit_id}/quality", json=REPORT if body is None else body,
                             headers=who.headers if who else {})


async def quality_rows(app) -> list[AppointmentEvent]:
    async with runtime_of(app).sessionmaker() as session:
        return list((await session.scalars(select(AppointmentEvent).where(
            AppointmentEvent.kind == "quality"))).all())


async def audited(app) -> list[AuditEvent]:
    async with runtime_of(app).sessionmaker() as session:
        return list((await session.scalars(select(AuditEvent).where(
            AuditEvent.action == Action.call_quality_report).order_by(AuditEvent.occurred_at))).all())


async def test_each_side_reports_and_it_shows_in_the_visits_log(app, client, factory):
    v = await make_visit(factory)
    room = await start_call(client, v, v.doctor)
    for who, body in ((v.patient, REPORT), (v.doctor, {**REPORT, "path": "direct", "rtt_ms": None,
                                                      "loss_percent": 0, "bitrate_kbps": None})):
        r = await report(client, v.id, who, body)
        assert r.status_code == 201, r.text
        event = r.json()
        assert event["kind"] == "quality" and event["actor"]["id"] == str(who.id)
        assert event["data"] == {"room_id": room["id"], **body}

    r = await client.get(f"{URL}/{v.id}/events", headers=v.patient.headers)
    assert r.status_code == 200, r.text
    quality = [e for e in r.json()["items"] if e["kind"] == "quality"]
    assert [(e["actor"]["id"], e["data"]["path"]) for e in quality] == [
        (str(v.patient.id), "relay"), (str(v.doctor.id), "direct")]
    assert quality[0]["data"]["loss_percent"] == 1.5 and quality[0]["data"]["freezes"] == 2
    trail = await audited(app)
    assert [(a.actor_id, a.outcome) for a in trail] == [(v.patient.id, Outcome.success),
                                                        (v.doctor.id, Outcome.success)]


async def test_strangers_get_404_and_a_visit_without_a_call_409(app, client, factory):
    v = await make_visit(factory)
    assert_error(await report(client, v.id, v.patient), 409, "no_call")  # nobody called yet
    await start_call(client, v, v.doctor)
    other_patient, other_doctor = await factory.patient(), await factory.doctor()
    admin = await factory.admin()
    for stranger in (other_patient, other_doctor, admin):
        assert_error(await report(client, v.id, stranger), 404, "appointment_not_found")
    assert_error(await report(client, str(uuid.uuid4()), v.patient), 404, "appointment_not_found")
    assert_error(await report(client, v.id, None), 401)
    assert await quality_rows(app) == []
    denied = await audited(app)
    assert {(a.actor_id, a.outcome) for a in denied} == {
        (s.id, Outcome.denied) for s in (other_patient, other_doctor, admin)}


@pytest.mark.parametrize("change", [
    {"duration_seconds": -1},
    {"duration_seconds": 86_401},
    {"duration_seconds": "60"},
    {"duration_seconds": 1.5},
    {"path": "satellite"},
    {"rtt_ms": 600_001},
    {"loss_percent": 100.5},
    {"loss_percent": "2"},
    {"loss_percent": -0.1},
    {"bitrate_kbps": True},
    {"freezes": -3},
    {"reconnects": 10_001},
    {"extra": "field"},
])
async def test_bad_input_is_422_and_stores_nothing(app, client, factory, change):
    v = await make_visit(factory)
    await start_call(client, v, v.doctor)
    assert_error(await report(client, v.id, v.patient, {**REPORT, **change}), 422, "validation_error")
    missing = {k: val for k, val in REPORT.items() if k != "freezes"}
    assert_error(await report(client, v.id, v.patient, missing), 422, "validation_error")
    assert await quality_rows(app) == []
    async with runtime_of(app).sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == Action.call_quality_report)) == 0


async def test_a_report_from_a_client_without_audio_only_time_counts_none(app, client, factory):
    v = await make_visit(factory)
    await start_call(client, v, v.doctor)
    older = {k: val for k, val in REPORT.items() if k != "audio_only_seconds"}
    r = await report(client, v.id, v.patient, older)
    assert r.status_code == 201, r.text
    assert r.json()["data"]["audio_only_seconds"] == 0
    r = await report(client, v.id, v.doctor, {**REPORT, "audio_only_seconds": 86_401})
    assert r.status_code == 422 and r.json()["error"]["details"][0]["loc"][-1] == "audio_only_seconds", r.text
