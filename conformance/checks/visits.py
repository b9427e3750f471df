"""Visits: booking, listing with filters and cursors, reading, cancelling, overlaps."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from conformance.client import expect_error, expect_status, require
from conformance.runner import Check, Context, in_the_future

APPOINTMENTS = "/api/v1/appointments"


def _same_time(a: str, b: str) -> bool:
    return datetime.fromisoformat(a) == datetime.fromisoformat(b)


async def book(ctx: Context) -> None:
    """A doctor books a visit: 201 with the whole appointment; patients may not book."""
    doctor, patient = await ctx.people("doctor", "patient")
    starts_at = in_the_future(timedelta(hours=2))
    visit = expect_status(await ctx.api.post(APPOINTMENTS, token=doctor.token, json={
        "patient_id": patient.id, "starts_at": starts_at, "duration_minutes": 30,
        "reason": "Kit follow-up"}), 201)
    require(visit["doctor"] == {"id": doctor.id, "full_name": doctor.full_name}
            and visit["patient"] == {"id": patient.id, "full_name": patient.full_name},
            f"doctor/patient are {visit['doctor']} / {visit['patient']}")
    require(_same_time(visit["starts_at"], starts_at), f"starts_at {visit['starts_at']}, booked {starts_at}")
    require((visit["duration_minutes"], visit["reason"], visit["status"])
            == (30, "Kit follow-up", "scheduled"), f"booked visit is {visit}")
    require(visit["cancelled_at"] is None and visit["room_id"] is None, f"a new visit has {visit}")
    later = in_the_future(timedelta(hours=4))
    expect_error(await ctx.api.post(APPOINTMENTS, token=patient.token, json={
        "patient_id": patient.id, "starts_at": later, "duration_minutes": 30}), 403)
    expect_error(await ctx.api.post(APPOINTMENTS, token=doctor.token, json={
        "patient_id": str(uuid.uuid4()), "starts_at": in_the_future(timedelta(hours=4)),
        "duration_minutes": 30}), 404)
    expect_error(await ctx.api.post(APPOINTMENTS, token=doctor.token, json={
        "patient_id": patient.id, "starts_at": in_the_future(timedelta(hours=-1)), "duration_minutes": 30}),
        (400, 422))


async def read(ctx: Context) -> None:
    """Both people read their visit; to anyone else it does not exist (404, never 403)."""
    doctor, patient, stranger, other_doctor = await ctx.people("doctor", "patient", "patient", "doctor")
    visit = await ctx.book(doctor, patient, starts_in=timedelta(hours=3))
    for person in (doctor, patient):
        seen = await ctx.appointment(person, visit["id"])
        require(seen == visit, f"{person.role} reads {seen}, booked {visit}")
    for person in (stranger, other_doctor):
        expect_error(await ctx.api.get(f"{APPOINTMENTS}/{visit['id']}", token=person.token), 404)
        expect_error(await ctx.api.post(f"{APPOINTMENTS}/{visit['id']}/cancel", token=person.token, json={}),
                     404)
    expect_error(await ctx.api.get(f"{APPOINTMENTS}/{uuid.uuid4()}", token=patient.token), 404)
    require((await ctx.appointment(doctor, visit["id"]))["status"] == "scheduled",
            "a stranger's cancel changed the visit")


async def _page(ctx: Context, token: str, **params: Any) -> dict[str, Any]:
    page: dict[str, Any] = expect_status(await ctx.api.get(APPOINTMENTS, token=token, params=params), 200)
    return page


async def listing(ctx: Context) -> None:
    """Own visits only, by start time; `status`, `from` (inclusive), `to` (exclusive); cursors."""
    doctor, patient, stranger = await ctx.people("doctor", "patient", "patient")
    base = datetime.fromisoformat(in_the_future(timedelta(days=2)))
    visits = [await ctx.book(doctor, patient, starts_at=(base + timedelta(hours=h)).isoformat())
              for h in (0, 1, 2)]
    ids = [v["id"] for v in visits]
    expect_status(await ctx.api.post(f"{APPOINTMENTS}/{ids[2]}/cancel", token=patient.token, json={}), 200)
    for person in (doctor, patient):
        everything = await _page(ctx, person.token)
        require([v["id"] for v in everything["items"]] == ids and everything["next_cursor"] is None,
                f"{person.role}'s list is {[v['id'] for v in everything['items']]}, expected {ids} in order")
    first = await _page(ctx, doctor.token, limit=2)
    require([v["id"] for v in first["items"]] == ids[:2] and first["next_cursor"],
            f"limit=2 gave {[v['id'] for v in first['items']]} and next_cursor {first.get('next_cursor')!r}")
    second = await _page(ctx, doctor.token, limit=2, cursor=first["next_cursor"])
    require([v["id"] for v in second["items"]] == ids[2:] and second["next_cursor"] is None,
            f"the page after the cursor is {[v['id'] for v in second['items']]}, "
            f"next_cursor {second.get('next_cursor')!r}")
    scheduled = await _page(ctx, doctor.token, status="scheduled")
    require([v["id"] for v in scheduled["items"]] == ids[:2], "status=scheduled did not filter")
    cancelled = await _page(ctx, patient.token, status="cancelled")
    require([v["id"] for v in cancelled["items"]] == ids[2:], "status=cancelled did not filter")
    window = await _page(ctx, doctor.token, **{"from": visits[1]["starts_at"], "to": visits[2]["starts_at"]})
    require([v["id"] for v in window["items"]] == ids[1:2],
            f"from (inclusive) .. to (exclusive) gave {[v['id'] for v in window['items']]}, "
            f"expected {ids[1:2]}")
    require((await _page(ctx, stranger.token))["items"] == [], "another patient lists visits not theirs")
    expect_error(await ctx.api.get(APPOINTMENTS, token=doctor.token, params={"cursor": "not-a-cursor"}), 400)


async def cancel(ctx: Context) -> None:
    """Either person cancels; the other is told live (`appointment.updated`); twice is 409."""
    doctor, patient = await ctx.people("doctor", "patient")
    visit = await ctx.book(doctor, patient, starts_in=timedelta(hours=5))
    patient_socket = await ctx.socket(patient, "patient socket")
    done = expect_status(await ctx.api.post(f"{APPOINTMENTS}/{visit['id']}/cancel", token=doctor.token,
                                            json={"reason": "Kit: doctor unavailable"}), 200)
    require(done["status"] == "cancelled" and done["cancelled_at"], f"the cancelled visit is {done}")
    update = await patient_socket.expect(
        "appointment.updated", appointment=lambda a: a["id"] == visit["id"] and a["status"] == "cancelled")
    require(update["appointment"]["cancelled_at"], "appointment.updated has no cancelled_at")
    require((await ctx.appointment(patient, visit["id"]))["status"] == "cancelled",
            "the read is not cancelled")
    expect_error(await ctx.api.post(f"{APPOINTMENTS}/{visit['id']}/cancel", token=patient.token, json={}),
                 409)


async def overlap(ctx: Context) -> None:
    """A doctor or a patient cannot be booked twice at the same time: 409."""
    doctor, patient, other_patient, other_doctor = await ctx.people("doctor", "patient", "patient", "doctor")
    first = await ctx.book(doctor, patient, starts_in=timedelta(hours=6), minutes=30)
    inside = datetime.fromisoformat(first["starts_at"]) + timedelta(minutes=15)
    expect_error(await ctx.api.post(APPOINTMENTS, token=doctor.token, json={
        "patient_id": other_patient.id, "starts_at": inside.isoformat(), "duration_minutes": 30}), 409)
    expect_error(await ctx.api.post(APPOINTMENTS, token=other_doctor.token, json={
        "patient_id": patient.id, "starts_at": inside.isoformat(), "duration_minutes": 30}), 409)


CHECKS = (
    Check("visits.book", book, "201 with the appointment; 403 for patients; 404 unknown patient"),
    Check("visits.read", read, "own visit 200; another person's visit 404"),
    Check("visits.list", listing, "own visits in order, status/from/to filters, cursors"),
    Check("visits.cancel", cancel, "200 cancelled, the other side told live, twice 409"),
    Check("visits.overlap", overlap, "overlapping bookings 409"),
)
