"""Admins read the trail through the API (filtered, paginated, as CSV); nobody else can."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import timedelta

from televisit.audit.service import CSV_COLUMNS, safe_cell
from tests.audit.helpers import AUDIT, AUDIT_CSV, CLIENT_IP, audit_rows, one_row, read_audit
from tests.auth.helpers import LOGIN
from tests.fixtures.assertions import assert_error
from tests.fixtures.factories import Factory


async def _activity(factory: Factory, client, clock) -> dict:
    """A doctor books two visits, a patient reads one, a stranger peeks: minutes apart."""
    doctor, patient, stranger = await factory.doctor(), await factory.patient(), await factory.patient()
    clock.advance(seconds=60)
    first = await factory.appointment(doctor, patient, starts_in=timedelta(hours=2))
    clock.advance(seconds=60)
    second = await factory.appointment(doctor, patient, starts_in=timedelta(hours=4))
    clock.advance(seconds=60)
    await client.get(f"/api/v1/appointments/{first['id']}", headers=patient.headers)
    clock.advance(seconds=1)
    await client.get(f"/api/v1/appointments/{first['id']}", headers=stranger.headers)
    clock.advance(seconds=60)
    return {"doctor": doctor, "patient": patient, "stranger": stranger, "first": first, "second": second}


async def test_only_admins_read_the_trail_and_refusals_are_recorded(factory, client, app):
    for person in (await factory.patient(), await factory.doctor()):
        for url in (AUDIT, AUDIT_CSV):
            response = await client.get(url, headers=person.headers)
            assert_error(response, 403, "forbidden_role")
        denied = await audit_rows(app, actor_id=person.id, outcome="denied")
        assert {(r.action, r.data["path"]) for r in denied} == {("admin.access", AUDIT),
                                                                ("admin.access", AUDIT_CSV)}
    assert_error(await client.get(AUDIT), 401)


async def test_filters_by_actor_object_action_outcome_and_time(factory, client, clock):
    a = await _activity(factory, client, clock)
    admin = await factory.admin()

    mine = await read_audit(client, admin, actor_id=a["doctor"].id)
    assert [e["action"] for e in mine["items"]] == ["appointment.book", "appointment.book", "auth.sign_in"]
    assert all(e["actor_name"] == a["doctor"].full_name and e["actor_email"] == a["doctor"].email
               for e in mine["items"])

    visit = await read_audit(client, admin, object_id=a["first"]["id"])
    assert [(e["action"], e["outcome"], e["actor_id"]) for e in visit["items"]] == [
        ("appointment.read", "denied", str(a["stranger"].id)),
        ("appointment.read", "success", str(a["patient"].id)),
        ("appointment.book", "success", str(a["doctor"].id)),
    ]
    assert visit["items"][0]["client_ip"] == CLIENT_IP

    denied = await read_audit(client, admin, outcome="denied")
    assert [e["actor_id"] for e in denied["items"]] == [str(a["stranger"].id)]
    books = await read_audit(client, admin, action="appointment.book")
    assert {e["object_id"] for e in books["items"]} == {a["first"]["id"], a["second"]["id"]}

    start = clock.now() - timedelta(seconds=240)  # the first booking's minute, inclusive...
    end = clock.now() - timedelta(seconds=180)  # ...up to the second's, exclusive
    window = await read_audit(client, admin, **{"from": start.isoformat(), "to": end.isoformat()})
    assert [e["object_id"] for e in window["items"]] == [a["first"]["id"]]


async def test_pages_are_newest_first_without_gaps_or_repeats(factory, client, clock):
    await _activity(factory, client, clock)
    admin = await factory.admin()
    # Up to now: not the admin's own sign-in and reads, recorded while the pages are read.
    until = {"to": clock.now().isoformat()}
    everything = await read_audit(client, admin, limit=100, **until)
    assert everything["next_cursor"] is None and len(everything["items"]) == 7
    seen, cursor = [], None
    while True:
        page = await read_audit(client, admin, limit=3, **until, **({"cursor": cursor} if cursor else {}))
        assert len(page["items"]) <= 3
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [e["id"] for e in seen] == [e["id"] for e in everything["items"]]
    times = [e["occurred_at"] for e in seen]
    assert times == sorted(times, reverse=True)


async def test_reading_the_trail_is_recorded_once_per_page(factory, client, app):
    admin = await factory.admin()
    await read_audit(client, admin, action="auth.sign_in", limit=5)
    row = await one_row(app, action="admin.audit.list")
    assert (row.actor_id, row.actor_role) == (admin.id, "admin")
    assert row.data == {"filters": {"action": "auth.sign_in"}, "page": False, "count": 1}


async def test_bad_cursors_and_ranges_are_400(factory, client):
    admin = await factory.admin()
    bad_cursor = await client.get(AUDIT, params={"cursor": "not-a-cursor"}, headers=admin.headers)
    assert_error(bad_cursor, 400, "invalid_cursor")
    backwards = {"from": "2030-03-04T10:00:00+00:00", "to": "2030-03-04T09:00:00+00:00"}
    for url in (AUDIT, AUDIT_CSV):
        assert_error(await client.get(url, params=backwards, headers=admin.headers), 400, "invalid_range")


async def test_bad_filter_values_are_422(factory, client):
    admin = await factory.admin()
    for params in ({"action": "made.up"}, {"actor_id": "42"}, {"from": "yesterday"}, {"limit": 0}):
        assert_error(await client.get(AUDIT, params=params, headers=admin.headers), 422)


async def test_the_csv_export_has_the_same_records_and_is_safe_in_a_spreadsheet(factory, client, app, clock):
    a = await _activity(factory, client, clock)
    # Whatever a client sends as its user agent ends up in a cell.
    await client.post(LOGIN, json={"email": a["doctor"].email, "password": "wrong-password-000"},
                      headers={"User-Agent": "=HYPERLINK(\"http://evil.example\")", "X-Request-ID": "-23"})
    admin = await factory.admin()
    response = await client.get(AUDIT_CSV, params={"object_id": a["doctor"].id}, headers=admin.headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"].startswith('attachment; filename="televisit-audit-')
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert list(rows[0]) == list(CSV_COLUMNS)
    failed = [r for r in rows if r["outcome"] == "failed"]
    assert len(failed) == 1
    assert failed[0]["user_agent"] == "'=HYPERLINK(\"http://evil.example\")"
    assert failed[0]["request_id"] == "'-23"
    assert failed[0]["client_ip"] == CLIENT_IP and failed[0]["action"] == "auth.sign_in"
    for row in rows:
        assert not any(cell.startswith(("=", "+", "-", "@")) for cell in row.values())

    listed = await read_audit(client, admin, object_id=a["doctor"].id)
    assert [(r["id"], r["occurred_at"]) for r in rows] == [
        (e["id"], e["occurred_at"]) for e in listed["items"]]
    assert (await one_row(app, action="admin.audit.export")).data == {
        "filters": {"object_id": str(a["doctor"].id)}}


async def test_the_csv_export_streams_every_record_past_one_batch(factory, client, app, monkeypatch):
    monkeypatch.setattr("televisit.audit.service.EXPORT_BATCH", 4)
    patient = await factory.patient()
    for _ in range(9):
        assert (await client.get("/api/v1/appointments", headers=patient.headers)).status_code == 200
    admin = await factory.admin()
    response = await client.get(AUDIT_CSV, params={"action": "appointment.list"}, headers=admin.headers)
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == 9 and len({r["request_id"] for r in rows}) == 9


def test_safe_cell_quotes_formula_starts_only():
    cells = ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "plain", None, uuid.UUID(int=0))
    assert [safe_cell(v) for v in cells] == [
        "'=1+1", "'+1", "'-1", "'@SUM(A1)", "'\tx", "plain", "", "00000000-0000-0000-0000-000000000000"]
