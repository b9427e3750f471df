"""GET /api/v1/appointments: own visits only, ordered by start, filtered, and paged by cursor."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest

from tests.appointments.helpers import URL, assert_error, ids, list_all


def cursor_of(*values: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(values)).encode()).decode().rstrip("=")


@pytest.fixture
async def schedule(factory):
    """Two doctors and two patients; visits booked out of order, one of them cancelled."""
    dr_a, dr_b = await factory.doctor(), await factory.doctor()
    pt_a, pt_b = await factory.patient(), await factory.patient()
    visits = {
        "a3": await factory.appointment(dr_a, pt_a, starts_in=timedelta(hours=5)),   # 14:00
        "a1": await factory.appointment(dr_a, pt_a, starts_in=timedelta(hours=1)),   # 10:00
        "b2": await factory.appointment(dr_a, pt_b, starts_in=timedelta(hours=3)),   # 12:00
        "x1": await factory.appointment(dr_b, pt_b, starts_in=timedelta(hours=1)),   # 10:00
        "a2": await factory.appointment(dr_a, pt_a, starts_in=timedelta(hours=2)),   # 11:00
    }
    response = await factory.client.post(f"{URL}/{visits['a2']['id']}/cancel", headers=pt_a.headers)
    assert response.status_code == 200, response.text
    visits["a2"] = response.json()
    return {"dr_a": dr_a, "dr_b": dr_b, "pt_a": pt_a, "pt_b": pt_b, "visits": visits}


def names(schedule, items) -> list[str]:
    by_id = {v["id"]: k for k, v in schedule["visits"].items()}
    return [by_id[i] for i in ids(items)]


async def test_each_side_sees_only_their_own_in_start_order(client, factory, schedule):
    s = schedule
    assert names(s, await list_all(client, s["dr_a"])) == ["a1", "a2", "b2", "a3"]
    assert names(s, await list_all(client, s["pt_a"])) == ["a1", "a2", "a3"]
    assert names(s, await list_all(client, s["pt_b"])) == ["x1", "b2"]
    assert names(s, await list_all(client, s["dr_b"])) == ["x1"]
    body = (await client.get(URL, headers=s["pt_b"].headers)).json()
    assert body["next_cursor"] is None
    assert body["items"][1] == s["visits"]["b2"]
    # Someone with no visits (a new patient, an admin) gets an empty list.
    for person in (await factory.patient(), await factory.admin()):
        response = await client.get(URL, headers=person.headers)
        assert response.status_code == 200
        assert response.json() == {"items": [], "next_cursor": None}


async def test_filters(client, schedule):
    s, dr = schedule, schedule["dr_a"]
    # status
    assert names(s, await list_all(client, dr, status="cancelled")) == ["a2"]
    assert names(s, await list_all(client, dr, status="scheduled")) == ["a1", "b2", "a3"]
    assert await list_all(client, dr, status="missed") == []
    assert await list_all(client, dr, status="completed") == []
    # from (inclusive) and to (exclusive)
    assert names(s, await list_all(client, dr, **{"from": "2030-03-04T11:00:00Z"})) == ["a2", "b2", "a3"]
    assert names(s, await list_all(client, dr, to="2030-03-04T12:00:00Z")) == ["a1", "a2"]
    both = {"from": "2030-03-04T11:00:00Z", "to": "2030-03-04T14:00:00Z"}
    assert names(s, await list_all(client, dr, **both)) == ["a2", "b2"]
    # The same instants written with other offsets (httpx encodes the "+" as %2B).
    shifted = {"from": "2030-03-04T12:00:00+01:00", "to": "2030-03-04T09:00:00-05:00"}  # 11Z-14Z
    assert names(s, await list_all(client, dr, **shifted)) == ["a2", "b2"]
    combined = {"from": "2030-03-04T10:30:00Z", "status": "scheduled"}
    assert names(s, await list_all(client, dr, **combined)) == ["b2", "a3"]
    assert await list_all(client, dr, **{"from": "2030-03-05T00:00:00Z"}) == []


async def test_bad_filters(client, schedule, subtests):
    dr = schedule["dr_a"]
    cases = {
        "from-equals-to": ({"from": "2030-03-04T11:00:00Z", "to": "2030-03-04T11:00:00Z"},
                           400, "invalid_range"),
        "from-after-to": ({"from": "2030-03-04T12:00:00+01:00", "to": "2030-03-04T10:00:00Z"},
                          400, "invalid_range"),
        "status-unknown": ({"status": "done"}, 422, "validation_error"),
        "status-case": ({"status": "Scheduled"}, 422, "validation_error"),
        "from-naive": ({"from": "2030-03-04T11:00:00"}, 422, "validation_error"),
        "to-garbage": ({"to": "soon"}, 422, "validation_error"),
        "from-unix-number": ({"from": "1900000000"}, 422, "validation_error"),
        "from-unencoded-plus": ({"from": "2030-03-04T11:00:00 01:00"}, 422, "validation_error"),
        "from-year-9999": ({"from": "9999-12-31T23:59:59-23:59"}, 422, "validation_error"),
        "to-year-1": ({"to": "0001-01-01T00:00:00+01:00"}, 422, "validation_error"),
        "limit-0": ({"limit": 0}, 422, "validation_error"),
        "limit-101": ({"limit": 101}, 422, "validation_error"),
        "limit-text": ({"limit": "ten"}, 422, "validation_error"),
    }
    for name, (params, status, code) in cases.items():
        with subtests.test(name):
            response = await client.get(URL, params=params, headers=dr.headers)
            assert_error(response, status, code)
    with subtests.test("unauthenticated"):
        assert_error(await client.get(URL), 401, "not_authenticated")
        assert_error(await client.get(URL, headers={"Authorization": "Bearer x"}), 401)


async def test_cursor_walks_every_item_once_in_order(client, schedule, subtests):
    expected = ids(await list_all(client, schedule["dr_a"]))
    for limit in (1, 2, 3, 4, 100):
        with subtests.test(limit=limit):
            await _walk(client, schedule["dr_a"], limit, expected)
    with subtests.test("another-users-cursor"):
        # A cursor only says where to resume: another user gets their own visits after that point.
        s = schedule
        first = (await client.get(URL, params={"limit": 1}, headers=s["dr_a"].headers)).json()
        response = await client.get(URL, params={"cursor": first["next_cursor"]},
                                    headers=s["pt_b"].headers)
        assert response.status_code == 200
        # x1 starts at 10:00 like a1, so whether it follows depends on the ids; b2 always does.
        assert names(s, response.json()["items"]) in (["x1", "b2"], ["b2"])


async def _walk(client, person, limit: int, expected: list[str]) -> None:
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        response = await client.get(URL, params=params, headers=person.headers)
        assert response.status_code == 200, response.text
        body = response.json()
        assert len(body["items"]) <= limit
        seen += ids(body["items"])
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
        assert body["items"], "a page with a next cursor is never empty"
    assert seen == expected
    assert pages == max(1, -(-len(expected) // limit))


async def test_cursor_pages_through_ties_on_start_time(client, factory):
    """Visits at the same instant (possible once some are cancelled) are paged by id, none lost."""
    doctor, patient = await factory.doctor(), await factory.patient()
    for _ in range(4):  # book and cancel the same 10:00 slot, four times over
        booked = await factory.appointment(doctor, patient, starts_in=timedelta(hours=1))
        response = await client.post(f"{URL}/{booked['id']}/cancel", headers=doctor.headers)
        assert response.status_code == 200
    await factory.appointment(doctor, patient, starts_in=timedelta(hours=1))
    await factory.appointment(doctor, patient, starts_in=timedelta(minutes=30))
    everything = await list_all(client, doctor)
    assert len(everything) == 6
    starts = [a["starts_at"] for a in everything]
    assert starts == sorted(starts)
    tied = [a["id"] for a in everything[1:]]
    assert tied == sorted(tied)  # ties broken by id, consistently
    for status, expected in (("cancelled", 4), (None, 6)):
        seen, cursor = [], None
        while True:
            params = {"limit": 2, **({"status": status} if status else {}),
                      **({"cursor": cursor} if cursor else {})}
            body = (await client.get(URL, params=params, headers=patient.headers)).json()
            seen += ids(body["items"])
            cursor = body["next_cursor"]
            if not cursor:
                break
        assert len(seen) == expected == len(set(seen))
        assert seen == [a["id"] for a in everything if status in (None, a["status"])]


async def test_tampered_cursor_is_400(client, schedule, subtests):
    dr = schedule["dr_a"]
    first = (await client.get(URL, params={"limit": 1}, headers=dr.headers)).json()
    good = first["next_cursor"]
    assert good
    cases = {
        "garbage": "not-a-cursor",
        "bang": "!!!!",
        "truncated": good[:-6],
        "flipped": good[:-3] + ("A" if good[-3] != "A" else "B") + good[-2:],
        "json-object": cursor_of_obj({"a": 1}),
        "wrong-size": cursor_of("2030-03-04T10:00:00+00:00"),
        "numbers": cursor_of(1, 2),
        "bad-date": cursor_of("yesterday", "7a3e1f4e-58a3-4e1b-9a39-7b1f4f3e4a1c"),
        "naive-date": cursor_of("2030-03-04T10:00:00", "7a3e1f4e-58a3-4e1b-9a39-7b1f4f3e4a1c"),
        "bad-uuid": cursor_of("2030-03-04T10:00:00+00:00", "nope"),
        "year-9999": cursor_of("9999-12-31T23:59:59-23:59", "7a3e1f4e-58a3-4e1b-9a39-7b1f4f3e4a1c"),
        "year-1": cursor_of("0001-01-01T00:00:00+01:00", "7a3e1f4e-58a3-4e1b-9a39-7b1f4f3e4a1c"),
    }
    for name, cursor in cases.items():
        with subtests.test(name):
            response = await client.get(URL, params={"cursor": cursor}, headers=dr.headers)
            assert_error(response, 400, "invalid_cursor")
    with subtests.test("too-long"):
        response = await client.get(URL, params={"cursor": "A" * 2049}, headers=dr.headers)
        assert response.status_code in (400, 422), response.text
        assert_error(response, response.status_code)


def cursor_of_obj(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")
